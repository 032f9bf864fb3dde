public import MendCore

// The typed steps of a `promote_field` plan once its column exists (MendPipeline's
// PromoteField decides what moves; the SQL is here): read a target table's overflow
// objects page by page, and move one key's values into the new column. One implementation
// per dialect: SQLitePromote.swift and PostgresPromote.swift.

/// Where a row of a target table is: its rowid on SQLite, its ctid on PostgreSQL (a target
/// table has no key of its own). Opaque to callers: a page is read after the last row of
/// the page before.
public struct RowAddress: Sendable, Equatable {
    let value: SQLValue
}

/// A row a promotion reads: where it is, and its overflow object as JSON text.
public struct OverflowRow: Sendable {
    public let address: RowAddress
    public let overflow: String?
}

/// One value a promotion moves: the value for the column, the row's overflow object without
/// the key as JSON text (nil when nothing is left), and the row.
public struct PromoteMove: Sendable {
    public var value: SQLValue
    public var rest: String?
    public var row: RowAddress

    public init(value: SQLValue, rest: String?, row: RowAddress) {
        self.value = value
        self.rest = rest
        self.row = row
    }

    /// The bind set of the one-row UPDATE: (value, rest, row).
    var binds: [SQLValue] { [value, rest.map(SQLValue.text) ?? .null, row.value] }
}
