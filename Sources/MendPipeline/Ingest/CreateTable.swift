import Foundation
import MendCore
import MendStore

extension Engine {
    /// Creates a missing table from the first records, through the same plan, policy,
    /// guard and audit path as any repair, and stores the columns its key paths were given.
    /// `tableKeys`: a table of a record tree under `foreign_keys: true` on PostgreSQL (D29).
    func createTable(
        _ table: String, from window: SchemaInference.Window, keys: [(key: String, column: String)], tableKeys: TableKeys? = nil,
        by actor: String
    ) async throws -> TableSchema? {
        let inferred = window.columns
        if inferred.isEmpty { return nil }
        let budget = policy.maxColumns(table: table)
        let columns = ColumnBudget.fit(columns: inferred, budget: budget)
        let op = PlanOperation(kind: .createTable, columns: columns, keys: tableKeys)
        let plan = Plan(
            incidentID: 0, table: table, operations: [op],
            rationale: "table \(table) does not exist: create it from the types of its first \(window.records) records"
                + (columns.count < inferred.count
                    ? "; they have \(inferred.count) fields, over the table's budget of \(budget) columns (policy max_table_columns): the last \(inferred.count - columns.count + 1) load into \(Overflow.column)"
                    : ""),
            confidence: 1, plannedBy: "rules")
        let contract = policy.contract(for: .createTable, table: table, column: nil)
        guard contract == .evolve else {
            throw PipelineError.refused(
                "table \(table) does not exist and the policy's tables contract is \(contract.rawValue); create it first or set contracts.tables: evolve"
            )
        }
        guard let sql = compiler.compile(op, table: table) else { return nil }
        let verdict = judge.judge(sql, context: await judgeContext(table: table, schema: nil, creating: true))
        let decision = policy.decide(plan, risks: [verdict.risk])
        guard decision.autonomy == .auto, verdict.allowed else {
            throw PipelineError.refused(
                "table \(table) does not exist and creating it needs a decision: \((decision.reasons + verdict.reasons).joined(separator: "; "))"
            )
        }
        let w = warehouse
        return try await state.transaction(lockKey: table) { tx in
            if try await w.catalog(table: table, in: tx.session) == nil {
                try await tx.session.executeRepair(sql, operation: op, table: table)
                try await tx.addKeys(table, keys)
                try await tx.ensureTable(table)
                _ = try await tx.recordSchemaVersion(table, planID: nil, ddl: sql)
                try await tx.audit(
                    .tableCreated(table: table, sql: sql, risk: verdict.risk, rule: verdict.rule, columns: columns.count), actor: actor)
            }
            try await tx.ensureTable(table)
            return try await tx.schema(table)
        }
    }
}
