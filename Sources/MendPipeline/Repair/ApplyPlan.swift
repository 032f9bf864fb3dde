import Foundation
import MendCore
import MendStore

/// The apply step: an approved plan's DDL under the table's repair lock.
extension Engine {
    /// Applies an approved plan: under the table's repair lock, re-reads the catalog,
    /// skips what another worker already did, judges each statement again, runs it,
    /// records the schema version, then replays the parked records.
    public func apply(planID: Int64, by who: String) async throws {
        guard let stored = try await state.transaction({ tx in try await tx.plan(id: planID) }) else {
            throw PipelineError.notFound("no plan \(planID)")
        }
        guard stored.plan.status == .approved else {
            if stored.plan.status == .pendingApproval {
                throw PipelineError.state(
                    "plan \(planID) waits for approval: run `mend approve \(stored.plan.incidentID)` (or reject it)")
            }
            throw PipelineError.state("plan \(planID) is \(stored.plan.status.rawValue); only approved plans are applied")
        }
        let plan = stored.plan
        let table = plan.table
        let kit = repairKit
        let baseContext = await judgeContext(table: table, schema: nil)
        do {
            try await state.transaction(lockKey: table) { tx in
                let ran = try await Engine.runOperations(plan, context: baseContext, kit: kit, in: tx).ran
                try await Engine.step(incidentID: plan.incidentID, .ran(ran), by: who, in: tx)
                try await tx.recordMinute(table: table, .init(repairs: 1))
            }
        } catch let error as StoreError where error.isConflict {
            throw error  // another worker moved the plan on; its outcome stands
        } catch let error as StoreError where error.isOutage {
            throw error  // the database was away, not the plan wrong: the plan runs again later
        } catch {
            let message = "\(error)"
            try await state.transaction { tx in
                try await Engine.step(incidentID: plan.incidentID, .runFailed(error: message), by: who, in: tx)
            }
            throw error
        }
        _ = try await replay(incidentID: plan.incidentID, by: who)
    }

    /// Runs a plan's operations in the caller's transaction, under the table's repair lock:
    /// re-reads the catalog, skips what another worker already did, judges each statement
    /// again against the live column types, runs it, and records the schema version.
    /// Returns what ran, for the lifecycle's `.ran` event, and the table's schema after it.
    /// `current` is the schema as the caller's transaction already read it (the unit carries
    /// it from one incident to the next); nil reads it here.
    static func runOperations(
        _ plan: Plan, context baseContext: JudgeContext, kit: RepairKit, schema current: TableSchema? = nil, in tx: StateTransaction
    ) async throws -> (ran: AppliedPlan, schema: TableSchema) {
        let table = plan.table
        let compiler = kit.compiler
        // The column exists by now: move the field's values out of the overflow column.
        func promote(_ op: PlanOperation, _ schema: TableSchema) async throws -> String {
            guard schema.column(named: Overflow.column) != nil else { return "\(table) has no \(Overflow.column): nothing to move" }
            let m = try await PromoteField.move(op, table: table, in: tx)
            return "moved \(m.moved) values of \(op.source ?? "?") out of \(Overflow.column) into \(op.column ?? "?")"
                + (m.kept > 0 ? "; \(m.kept) stay there, not \(op.type?.rawValue ?? "?") without loss" : "")
        }
        let read: TableSchema? = if let current { current } else { try await tx.schema(table) }
        guard var schema = read else {
            throw PipelineError.notFound("table \(table) no longer exists")
        }
        var executed: [GuardVerdict] = []
        var promoted: [String] = []
        for op in plan.operations {
            switch op.kind {
            case .addColumn, .addVariantColumn, .widenColumn, .createTable, .promoteField:
                if Engine.alreadySatisfied(op, schema: schema) {
                    if op.kind == .promoteField { promoted.append(try await promote(op, schema)) }
                    continue
                }
                guard let sql = compiler.compile(op, table: table) else { continue }
                var context = baseContext
                context.columnTypes[table] = Dictionary(
                    schema.columns.map { ($0.name, $0.declaredType.lowercased()) }, uniquingKeysWith: { a, _ in a })
                let verdict = kit.judge.judge(sql, context: context)
                guard verdict.allowed else {
                    throw PipelineError.refused(
                        "the guard refused \(sql.count > 300 ? sql.prefix(300) + "…" : sql): \(verdict.reasons.joined(separator: "; "))"
                    )
                }
                try await tx.session.executeRepair(sql, operation: op, table: table)
                executed.append(verdict)
                // DDL changes the columns only: the mappings, conversions and key map are Mend's
                // own rows, carried (reading them again cost four statements per plan).
                if let columns = try await tx.columns(table) { schema = schema.replacingColumns(columns) }
                if op.kind == .promoteField {
                    // A promoted column named otherwise than the key path's own: later records follow it.
                    if let key = op.source, let column = op.column, let own = schema.keys[key], own != column {
                        try await tx.addMapping(table, source: own, column: column)
                        schema.mappings[own] = column
                    }
                    promoted.append(try await promote(op, schema))
                }
            case .mapField:
                if let src = op.source, let col = op.column {
                    try await tx.addMapping(table, source: src, column: col)
                    schema.mappings[src] = col  // carried: the caller replays against it
                }
            case .convertValue:
                if let col = op.column, let c = op.conversion {
                    try await tx.addConversion(table, column: col, c)
                    schema.conversions[col] = c
                }
            case .quarantine:
                break
            }
        }
        let ddl = executed.map(\.sql).joined(separator: ";\n")
        let version = executed.isEmpty ? Int64(schema.version) : try await tx.recordSchemaVersion(table, planID: plan.id, ddl: ddl)
        let ran = AppliedPlan(
            incident: plan.incidentID, sql: ddl, schemaVersion: version, risk: executed.map(\.risk).max() ?? .low,
            rules: executed.map(\.rule), reasons: executed.flatMap(\.reasons) + promoted,
            skippedAlreadyApplied: plan.operations.count - executed.count)
        schema.version = Int(version)
        return (ran, schema)
    }

    static func alreadySatisfied(_ op: PlanOperation, schema: TableSchema) -> Bool {
        guard let c = op.column else { return op.kind == .createTable }
        switch op.kind {
        case .addColumn, .addVariantColumn, .promoteField: return schema.column(named: c) != nil
        case .widenColumn: return schema.column(named: c)?.type == op.type
        default: return false
        }
    }
}
