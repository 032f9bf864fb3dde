import Foundation
public import MendCore
import MendStore

/// The proposal: plan (or take a given plan), compile, judge, decide. A dry run.
extension Engine {
    /// A plan with its compiled SQL, verdicts and the policy's decision: what `mend plan` shows.
    public struct Proposal: Sendable, Codable {
        public var plan: Plan
        public var statements: [GuardVerdict]
        public var risk: Risk
        public var decision: PolicyDecision
        public var problem: String?
    }

    /// Dry run: plans (or takes the given plan), compiles, judges and decides. It writes
    /// nothing about the plan; only what a metered planner spent (and a fallback's reason).
    public func propose(incidentID: Int64, plan given: Plan? = nil) async throws -> Proposal {
        let (proposal, usage) = try await proposeMetered(incidentID: incidentID, plan: given)
        if let usage {
            try await state.transaction { tx in
                try await tx.recordUsage(
                    planID: nil, model: usage.model, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, cost: usage.cost)
            }
        }
        return proposal
    }

    /// `propose`, plus what the planner spent, so `repair` can record it with the plan's id.
    /// The incident's context is read in one transaction and carried from there.
    func proposeMetered(incidentID: Int64, plan given: Plan? = nil) async throws -> (Proposal, PlannerUsage?) {
        try await bootstrap()
        let kit = repairKit
        let context = try await state.transaction { tx -> RepairContext? in
            guard let (machine, incident, plan) = try await tx.lifecycle(incidentID: incidentID) else { return nil }
            let others = try await tx.incidents(table: incident.table, status: .open)
            return try await Engine.contexts(
                [.init(machine: machine, incident: incident, plan: plan)], others: others, kit: kit, in: tx
            ).first
        }
        guard let context else { throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them") }
        return try await propose(context, plan: given)
    }

    /// Plans (or takes the given plan), fits the column budget, judges and decides, from a
    /// context already read. The planner is the only step that may wait.
    func propose(_ context: RepairContext, plan given: Plan?) async throws -> (Proposal, PlannerUsage?) {
        var plan: Plan
        var usage: PlannerUsage?
        if let given {
            plan = given
            plan.incidentID = context.detail.id
            plan.table = context.detail.table
        } else {
            (plan, usage) = try await makePlan(context)
        }
        return (Self.proposal(plan, context: context, kit: repairKit), usage)
    }

    /// The pure half of a proposal: budget, guard, policy, evidence.
    static func proposal(_ given: Plan, context: RepairContext, kit: RepairKit) -> Proposal {
        let plan = ColumnBudget.fit(given, schema: context.schema, budget: kit.policy.maxColumns(table: context.detail.table))
        var proposal = judged(plan, judging: context.judging, kit: kit)
        proposal.decision = requireEvidence(proposal.decision, plan: plan, incident: context.detail)
        return proposal
    }

    /// The incident with every distinct drift of its parked sample, not only the first
    /// record's: what planners see, and the evidence a plan's columns are checked against.
    /// A new field's values in the other open incidents of the table count too: records
    /// are grouped by their whole drift, so 4 and 4.5 in one batch open two incidents, and
    /// the field must still get one column that holds both (double), not a bigint column
    /// that parks 4.5 again.
    static func withAllDrifts(_ incident: Incident, sample: [ParkedRecord], others: [Incident]) -> Incident {
        var detail = incident
        var seen = Set(detail.drifts.map(\.signature))
        for r in sample { for d in r.drifts where seen.insert(d.signature).inserted { detail.drifts.append(d) } }
        let newFields = Set(detail.drifts.filter { $0.kind == .unknownField }.map(\.column))
        for other in others where other.id != incident.id && other.status == .open {
            for d in other.drifts where d.kind == .unknownField && newFields.contains(d.column) && seen.insert(d.signature).inserted {
                detail.drifts.append(d)
            }
        }
        return detail
    }

    /// A plan may change on its own only the columns its incident's records drifted on. A
    /// column no parked record carries (a planner's invention, or text planted in data that
    /// a model obeyed) waits for a person, whatever the autonomy says.
    static func requireEvidence(_ decision: PolicyDecision, plan: Plan, incident: Incident) -> PolicyDecision {
        guard decision.autonomy == .auto else { return decision }
        let drifted = Set(incident.drifts.map(\.column))
        let unsupported = plan.operations.compactMap { op -> String? in
            let column: String?
            switch op.kind {
            case .addColumn, .widenColumn, .promoteField: column = op.column
            case .addVariantColumn: column = op.of ?? op.column
            default: column = nil
            }
            // The overflow column is the column budget's own addition (ColumnBudget.swift).
            guard let column, column != Overflow.column, !drifted.contains(column) else { return nil }
            return column
        }
        guard !unsupported.isEmpty else { return decision }
        var d = decision
        d.autonomy = .approve
        d.reasons.append(
            "the plan changes \(unsupported.map { "'\($0)'" }.joined(separator: ", ")), which no parked record of incident #\(incident.id) drifted on: a person confirms"
        )
        return d
    }

    /// Asks the planner, with the context's rename evidence; when it fails or returns an
    /// invalid plan, the rules planner stands in with the same evidence and the audit says why.
    func makePlan(_ context: RepairContext) async throws -> (Plan, PlannerUsage?) {
        let detail = context.detail
        let schema = context.schema
        let planner = self.planner
        var usage: PlannerUsage?
        let reason: String
        do {
            let p: Plan
            let renames = planner.readsRenameEvidence ? context.renames : [:]
            if let metered = planner as? any MeteredPlanner {
                let outcome = await metered.meteredPlan(incident: detail, schema: schema, renames: renames)
                usage = outcome.usage
                p = try outcome.result.get()
            } else {
                p = try await planner.plan(incident: detail, schema: schema, renames: renames)
            }
            guard let problem = p.problem() else { return (p, usage) }
            reason = "the \(planner.name) planner returned an invalid plan: \(problem)"
        } catch {
            reason = "the \(planner.name) planner failed: \(error)"
        }
        // The rules planner stands in; the audit says why (issue 6).
        try await state.transaction { tx in
            try await tx.audit(.plannerFallback(incident: detail.id, planner: planner.name, reason: reason), actor: planner.name)
        }
        return (rules.planSync(incident: detail, schema: schema, renames: context.renames), usage)
    }

    func judgeContext(table: String, schema: TableSchema?, creating: Bool = false) async -> JudgeContext {
        var managed = Set([table])
        if let tables = try? await state.transaction({ tx in try await tx.managedTables() }) {
            managed.formUnion(tables)
        }
        return Self.judgeContext(table: table, schema: schema, managed: managed, kit: repairKit)
    }

    /// What the guard judges a table's statements against: the live column types and the managed tables.
    static func judgeContext(table: String, schema: TableSchema?, managed: Set<String>, kit: RepairKit) -> JudgeContext {
        var types: [String: [String: String]] = [:]
        if let schema {
            types[table] = Dictionary(schema.columns.map { ($0.name, $0.declaredType.lowercased()) }, uniquingKeysWith: { a, _ in a })
        }
        return JudgeContext(
            dialect: kit.dialect, schema: kit.targetSchema ?? "main", managedTables: managed.union([table]), columnTypes: types)
    }

    static func judged(_ plan: Plan, judging context: JudgeContext, kit: RepairKit) -> Proposal {
        let problem = plan.problem()
        var verdicts: [GuardVerdict] = []
        var risks: [Risk?] = []
        for op in plan.operations {
            if problem == nil, let sql = kit.compiler.compile(op, table: plan.table) {
                let v = kit.judge.judge(sql, context: context)
                verdicts.append(v)
                risks.append(v.risk)
            } else {
                risks.append(semanticRisk(op))
            }
        }
        var decision = kit.policy.decide(plan, risks: risks)
        if let problem {
            decision = PolicyDecision(autonomy: .deny, reasons: ["the plan is invalid: \(problem)"])
        }
        let risk = risks.compactMap { $0 }.max() ?? .low
        return Proposal(plan: plan, statements: verdicts, risk: risk, decision: decision, problem: problem)
    }

    /// Risk of operations that compile to no SQL: they change what future loads do.
    static func semanticRisk(_ op: PlanOperation) -> Risk {
        switch op.kind {
        case .mapField, .convertValue: .medium
        case .quarantine: .low
        default: .high
        }
    }
}
