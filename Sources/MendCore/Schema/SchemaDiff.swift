/// What a plan changes in a table, column by column: the schema diff the dashboard shows
/// for each schema version and, before anyone approves, for a pending plan. Pure: a
/// schema and typed operations in, rows out (no SQL is read back or parsed).
public struct SchemaDiff: Sendable, Equatable {
    public enum Mark: String, Sendable, Equatable {
        case unchanged, added, widened, mapped, converted
    }

    /// One column as it stands after the plan.
    public struct Row: Sendable, Equatable {
        public var column: String
        /// The type after the change (nil: a type Mend does not manage).
        public var type: LogicalType?
        /// The type before a widening.
        public var before: LogicalType?
        public var mark: Mark
        /// What the mark says in words: "new field channel", "bigint → numeric", "from cust_id".
        public var note: String
    }

    public var table: String
    public var rows: [Row]
    /// Operations that change no column (quarantine), said in words.
    public var other: [String]

    /// Rows whose mark is not `unchanged`.
    public var changed: [Row] { rows.filter { $0.mark != .unchanged } }

    /// The diff `operations` make against `schema` (nil for a table not created yet).
    public init(table: String, schema: TableSchema?, operations: [PlanOperation]) {
        self.table = table
        var rows = (schema?.columns ?? []).map { Row(column: $0.name, type: $0.type, before: nil, mark: .unchanged, note: "") }
        var other: [String] = []
        func index(_ name: String) -> Int? { rows.firstIndex { $0.column == name } }
        for op in operations {
            switch op.kind {
            case .createTable:
                for c in op.columns ?? [] where index(c.name) == nil {
                    rows.append(Row(column: c.name, type: c.type, before: nil, mark: .added, note: "created with the table"))
                }
            case .addColumn, .addVariantColumn, .promoteField:
                guard let name = op.column else { continue }
                let note =
                    switch op.kind {
                    case .addVariantColumn: "variant of \(op.of ?? "?") for values that do not fit it"
                    case .promoteField: "promoted from \(Overflow.column)[\(op.source ?? "?")]"
                    default: "new nullable column"
                    }
                if let i = index(name) {
                    // Already there (another worker applied it first): the plan skips it.
                    if rows[i].mark == .unchanged { rows[i].note = "already present; skipped" }
                } else {
                    rows.append(Row(column: name, type: op.type, before: nil, mark: .added, note: note))
                }
            case .widenColumn:
                guard let name = op.column, let i = index(name) else { continue }
                let from = op.from ?? rows[i].type
                rows[i].before = from
                rows[i].type = op.type
                rows[i].mark = rows[i].mark == .added ? .added : .widened
                rows[i].note = "\(from?.rawValue ?? "?") → \(op.type?.rawValue ?? "?")"
            case .mapField:
                guard let name = op.column else { continue }
                let note = "incoming field \(op.source ?? "?") lands here"
                if let i = index(name) {
                    if rows[i].mark == .unchanged { rows[i].mark = .mapped }
                    rows[i].note = rows[i].note.isEmpty ? note : rows[i].note + "; " + note
                } else {
                    rows.append(Row(column: name, type: nil, before: nil, mark: .mapped, note: note))
                }
            case .convertValue:
                guard let name = op.column, let i = index(name) else { continue }
                if rows[i].mark == .unchanged { rows[i].mark = .converted }
                let note = "values converted with \(op.conversion?.name ?? "?")"
                rows[i].note = rows[i].note.isEmpty ? note : rows[i].note + "; " + note
            case .quarantine:
                other.append(op.summary)
            }
        }
        self.rows = rows
        self.other = other
    }
}
