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

/// One named rule that fired on a statement.
public struct GuardFinding: Sendable, Codable, Equatable {
    public var rule: String
    public var risk: Risk
    public var reason: String
    public var saferAlternative: String?

    public init(rule: String, risk: Risk, reason: String, saferAlternative: String? = nil) {
        self.rule = rule
        self.risk = risk
        self.reason = reason
        self.saferAlternative = saferAlternative
    }
}

/// The guard's decision on one statement (or on a string that was not exactly one statement).
public struct GuardVerdict: Sendable, Codable, Equatable {
    /// The statement text judged.
    public var sql: String
    /// True iff `risk != .forbidden`.
    public var allowed: Bool
    /// Worst finding.
    public var risk: Risk
    /// Rule name of the worst finding (the first one, if several tie).
    public var rule: String
    public var reasons: [String]
    public var saferAlternative: String?
    public var findings: [GuardFinding]
    /// Parse node type, e.g. "AlterTableStmt", or "parse_error" / "multi_statement" / "empty".
    public var statementKind: String

    init(sql: String, statementKind: String, findings: [GuardFinding]) {
        let fs =
            findings.isEmpty
            ? [GuardFinding(rule: "not-allow-listed", risk: .forbidden, reason: "No rule accepted this statement.")]
            : findings
        let worst = fs.map(\.risk).max() ?? .forbidden
        let lead = fs.first { $0.risk == worst } ?? fs[0]
        self.sql = sql
        self.risk = worst
        self.allowed = worst != .forbidden
        self.rule = lead.rule
        self.reasons = fs.map(\.reason)
        self.saferAlternative = lead.saferAlternative
        self.findings = fs
        self.statementKind = statementKind
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
