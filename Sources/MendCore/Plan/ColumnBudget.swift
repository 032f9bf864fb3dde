/// The column budget: a table never grows past the policy's `max_table_columns`. Plans are
/// trimmed to the room left, and the fields that get no column of their own load into the
/// overflow column instead (Overflow.swift), so the database's own limit (PostgreSQL 1,600,
/// SQLite 2,000) is never what stops a load.
public enum ColumnBudget {
    /// A new table's inferred columns, cut to the budget: the first `budget - 1` columns in
    /// inference order, then the overflow column for the rest.
    public static func fit(columns: [Column], budget: Int) -> [Column] {
        guard columns.count > budget, budget >= 2 else { return columns }
        return Array(columns.lazy.filter { $0.name != Overflow.column }.prefix(budget - 1)) + [Overflow.definition]
    }

    /// `plan` cut to the room `schema` has left. Columns past the room are dropped from the
    /// plan and the overflow column is added if the table has none; the rationale says what
    /// was cut. A plan that fits is returned unchanged.
    public static func fit(_ plan: Plan, schema: TableSchema?, budget: Int) -> Plan {
        guard let schema else { return plan }
        func adds(_ op: PlanOperation) -> Bool {
            switch op.kind {
            case .addColumn, .addVariantColumn, .promoteField: return op.column.map { schema.column(named: $0) == nil } ?? false
            default: return false
            }
        }
        let hasOverflow = schema.column(named: Overflow.column) != nil
        let requested = plan.operations.filter(adds)
        guard schema.columns.count + requested.count > budget else { return plan }
        // Room for new columns, keeping one for the overflow column when it does not exist yet.
        var room = max(0, budget - schema.columns.count - (hasOverflow ? 0 : 1))
        var kept: [PlanOperation] = []
        var cut: [String] = []
        var cutPromotion = false
        for op in plan.operations {
            guard adds(op), op.column != Overflow.column else {
                kept.append(op)
                continue
            }
            if room > 0 {
                room -= 1
                kept.append(op)
            } else {
                cut.append(op.column ?? "?")
                if op.kind == .promoteField { cutPromotion = true }
            }
        }
        var out = plan
        // Also when the column exists: the plan then changes nothing and replays the records,
        // whose cut fields now load into it (an empty plan would be refused and leave them parked).
        if !kept.contains(where: { $0.column == Overflow.column }), !cut.isEmpty, !cutPromotion {
            kept.append(.addColumn(Overflow.column, .json))
        }
        out.operations = kept
        let shown = cut.prefix(5).joined(separator: ", ") + (cut.count > 5 ? " and \(cut.count - 5) more" : "")
        var note =
            "the table's column budget is \(budget) (policy max_table_columns) and it has \(schema.columns.count): \(cut.count) new fields (\(shown)) load into \(Overflow.column) instead of columns of their own"
        if cutPromotion { note += "; to promote them, raise max_table_columns for this table first" }
        out.rationale = plan.rationale.isEmpty ? note : plan.rationale + "; " + note
        return out
    }
}
