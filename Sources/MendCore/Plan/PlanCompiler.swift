/// The SQL family a statement is written for.
public enum SQLDialect: String, Sendable, Codable {
    case postgres, sqlite

    public func typeName(_ t: LogicalType) -> String { self == .postgres ? t.postgresName : t.sqliteName }
}

/// Turns typed operations into SQL. The only place repair SQL is written; every
/// identifier goes through `Identifier.quote`, and no operation carries SQL text.
public struct PlanCompiler: Sendable {
    public var dialect: SQLDialect
    /// Schema of the target tables on PostgreSQL; nil on SQLite.
    public var schema: String?

    public init(dialect: SQLDialect, schema: String?) {
        self.dialect = dialect
        self.schema = schema
    }

    public func tableRef(_ table: String) -> String { Identifier.qualified(schema, table) }

    /// The statement for an operation, or nil for operations that only change Mend's
    /// own state (map_field, convert_value, quarantine).
    public func compile(_ op: PlanOperation, table: String) -> String? {
        switch op.kind {
        case .createTable:
            var elements = (op.columns ?? []).map { "\(Identifier.quote($0.name)) \(dialect.typeName($0.type ?? .text))" }
            // Keys are PostgreSQL's only (D29): SQLite's CREATE TABLE stays a plain column list.
            if dialect == .postgres, let keys = op.keys { elements += keys.constraints(table: table, schema: schema) }
            return "CREATE TABLE \(tableRef(table)) (\(elements.joined(separator: ", ")))"
        case .addColumn, .addVariantColumn, .promoteField:
            guard let c = op.column, let t = op.type else { return nil }
            return "ALTER TABLE \(tableRef(table)) ADD COLUMN \(Identifier.quote(c)) \(dialect.typeName(t))"
        case .widenColumn:
            guard let c = op.column, let t = op.type else { return nil }
            return "ALTER TABLE \(tableRef(table)) ALTER COLUMN \(Identifier.quote(c)) TYPE \(dialect.typeName(t))"
        case .mapField, .convertValue, .quarantine:
            return nil
        }
    }
}
