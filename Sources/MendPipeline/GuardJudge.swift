import MendCore
import MendGuard
import MendStore

/// The statement judge over PostgreSQL's parser (MendGuard), used on both databases:
/// the SQLite DDL Mend compiles is also valid PostgreSQL syntax, and SQLite adds its
/// own authorizer as a second, independent check.
public struct ParserJudge: StatementJudge {
    public init() {}

    public func judge(_ sql: String, context: JudgeContext) -> StatementVerdict {
        let schema = context.schema.lowercased()
        var types: [String: [String: String]] = [:]
        for (table, cols) in context.columnTypes { types["\(schema).\(table)"] = cols }
        let guardContext = GuardContext(
            managedTables: Set(context.managedTables.map { "\(schema).\($0)" }), allowedSchemas: [schema],
            defaultSchema: schema, columnTypes: types)
        let v = SQLGuard(context: guardContext).judge(sql)
        return StatementVerdict(
            sql: sql, allowed: v.allowed, risk: v.risk, rule: v.rule, reasons: v.reasons, saferAlternative: v.saferAlternative)
    }
}

extension Engine {
    /// The guard's context from the live catalog: what `mend check-sql --db` checks against.
    public func guardContext() async throws -> GuardContext {
        try await bootstrap()
        let state = self.state
        let w = warehouse
        let schema = (w.targetSchema ?? "main").lowercased()
        return try await w.transaction { s in
            let tables = try await state.managedTables(s)
            var types: [String: [String: String]] = [:]
            for t in tables {
                if let cols = try await w.catalog(table: t, in: s) {
                    types["\(schema).\(t)"] = Dictionary(
                        cols.map { ($0.name, $0.declaredType.lowercased()) }, uniquingKeysWith: { a, _ in a })
                }
            }
            return GuardContext(
                managedTables: Set(tables.map { "\(schema).\($0)" }), allowedSchemas: [schema], defaultSchema: schema, columnTypes: types)
        }
    }

    public func usage() async throws -> StateStore.UsageTotals {
        try await bootstrap()
        let state = self.state
        return try await warehouse.transaction { s in try await state.usage(s) }
    }
}
