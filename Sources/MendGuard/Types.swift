import MendCore

/// What the guard knows about the target database.
public struct GuardContext: Sendable {
    /// Lowercase "schema.table" or bare "table" (= in `defaultSchema`) names Mend manages.
    /// Quoted identifiers keep their case: "public.Mixed Case".
    public var managedTables: Set<String>
    /// Schema names ALTER TABLE may touch; empty means only `defaultSchema`.
    public var allowedSchemas: Set<String>
    /// Where unqualified names resolve, e.g. "public" (PostgreSQL) or "main" (SQLite).
    public var defaultSchema: String
    /// table -> column -> current SQL type (lowercase), for widening checks; may be empty.
    public var columnTypes: [String: [String: String]]
    /// e.g. 150000; constant defaults on ADD COLUMN are metadata-only from 110000.
    public var serverVersionNum: Int

    public init(
        managedTables: Set<String> = [], allowedSchemas: Set<String> = [], defaultSchema: String = "public",
        columnTypes: [String: [String: String]] = [:], serverVersionNum: Int = 150000
    ) {
        self.managedTables = managedTables
        self.allowedSchemas = allowedSchemas
        self.defaultSchema = defaultSchema
        self.columnTypes = columnTypes
        self.serverVersionNum = serverVersionNum
    }
}

public enum GuardError: Error, Sendable, CustomStringConvertible, Equatable {
    /// PostgreSQL's parser rejected the text; `cursor` is its 1-based character position (0 = unknown).
    case parse(message: String, cursor: Int)
    /// The text contains a NUL byte, which would hide the rest of it from the C parser.
    case nulByte
    /// The parse tree JSON could not be read (should not happen with a working libpg_query).
    case decode(String)

    public var description: String {
        switch self {
        case .parse(let message, let cursor): cursor > 0 ? "\(message) at position \(cursor)" : message
        case .nulByte: "SQL text contains a NUL byte"
        case .decode(let m): m
        }
    }
}
