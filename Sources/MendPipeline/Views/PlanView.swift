import Foundation
public import MendCore
public import MendStore

/// The one view of a stored plan with its evidence, its guard verdicts and the policy's
/// decision: `mend show --json`, MCP (`get_incident`'s plans, `apply_plan` and `approve_plan`
/// answers, the incident resource; `OutputSchema.storedPlan` is tested against it) and the
/// notifications. Encoded with snake_case keys; absent facts are written as null, as the
/// MCP output schema requires them.
public struct PlanView: Encodable, Sendable, Equatable {
    public var plan: Body
    public var verdicts: [Verdict]
    public var decision: Decision?
    public var decidedBy: String?
    public var note: String?

    public init(_ stored: StoredPlan) {
        plan = Body(stored.plan)
        verdicts = stored.verdicts.map(Verdict.init)
        decision = stored.decision.map(Decision.init)
        decidedBy = stored.decidedBy
        note = stored.note
    }

    enum CodingKeys: String, CodingKey {
        case plan, verdicts, decision, note
        case decidedBy = "decided_by"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(plan, forKey: .plan)
        try c.encode(verdicts, forKey: .verdicts)
        try c.encode(decision, forKey: .decision)
        try c.encode(decidedBy, forKey: .decidedBy)
        try c.encode(note, forKey: .note)
    }

    /// The plan itself, in the wire form an agent writes (conversions by name), with its
    /// id (absent for a dry run's plan, which is not stored), status, planner and evidence.
    public struct Body: Encodable, Sendable, Equatable {
        public var id: Int64
        public var incidentId: Int64
        public var table: String
        public var operations: [Operation]
        public var rationale: String
        public var confidence: Double
        public var plannedBy: String
        public var status: PlanStatus
        /// Why a `map_field` is a rename, as data; absent for other plans.
        public var evidence: [Evidence]?

        public init(_ p: Plan) {
            (id, incidentId, table, rationale, confidence, plannedBy, status) =
                (p.id, p.incidentID, p.table, p.rationale, p.confidence, p.plannedBy, p.status)
            operations = p.operations.map(Operation.init)
            evidence = p.evidence.flatMap { $0.isEmpty ? nil : $0.map(Evidence.init) }
        }

        enum CodingKeys: String, CodingKey {
            case id, table, operations, rationale, confidence, status, evidence
            case incidentId = "incident_id", plannedBy = "planned_by"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if id > 0 { try c.encode(id, forKey: .id) }
            try c.encode(incidentId, forKey: .incidentId)
            try c.encode(table, forKey: .table)
            try c.encode(operations, forKey: .operations)
            try c.encode(rationale, forKey: .rationale)
            try c.encode(confidence, forKey: .confidence)
            try c.encode(plannedBy, forKey: .plannedBy)
            try c.encode(status, forKey: .status)
            try c.encodeIfPresent(evidence, forKey: .evidence)
        }
    }

    /// A rename's evidence, with its one line for people.
    public struct Evidence: Encodable, Sendable, Equatable {
        public var facts: RenameEvidence
        public var summary: String
        public init(_ e: RenameEvidence) { (facts, summary) = (e, e.summary) }

        enum Key: String, CodingKey { case summary }

        public func encode(to encoder: any Encoder) throws {
            try facts.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(summary, forKey: .summary)
        }
    }

    /// One operation: its kind, what it does in words, and the fields its kind uses.
    public struct Operation: Encodable, Sendable, Equatable {
        public var kind: OperationKind
        public var summary: String
        public var column: String?
        public var type: LogicalType?
        public var from: LogicalType?
        public var source: String?
        public var of: String?
        /// A conversion's name; `scale` takes its factor from `factor`.
        public var conversion: String?
        public var factor: Double?
        public var columns: [Column]?

        public struct Column: Encodable, Sendable, Equatable {
            public var name: String
            public var type: LogicalType
        }

        public init(_ op: PlanOperation) {
            (kind, summary, column, type, from, source, of) = (op.kind, op.summary, op.column, op.type, op.from, op.source, op.of)
            switch op.conversion {
            case .scale(let f)?:
                conversion = "scale"
                factor = f
            case let c?: conversion = c.name
            case nil: break
            }
            columns = op.columns?.map { Column(name: $0.name, type: $0.type ?? .text) }
        }
    }

    /// The guard's verdict on one statement Mend compiled.
    public struct Verdict: Encodable, Sendable, Equatable {
        public var sql: String
        public var allowed: Bool
        public var risk: Risk
        public var rule: String
        public var reasons: [String]
        public var saferAlternative: String?

        public init(_ v: GuardVerdict) {
            (sql, allowed, risk, rule, reasons, saferAlternative) = (v.sql, v.allowed, v.risk, v.rule, v.reasons, v.saferAlternative)
        }

        enum CodingKeys: String, CodingKey {
            case sql, allowed, risk, rule, reasons
            case saferAlternative = "safer_alternative"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(sql, forKey: .sql)
            try c.encode(allowed, forKey: .allowed)
            try c.encode(risk, forKey: .risk)
            try c.encode(rule, forKey: .rule)
            try c.encode(reasons, forKey: .reasons)
            try c.encode(saferAlternative, forKey: .saferAlternative)
        }
    }

    /// The policy's decision: auto applies, approve waits for a person, deny refuses.
    public struct Decision: Encodable, Sendable, Equatable {
        public var autonomy: Autonomy
        public var reasons: [String]
        public init(_ d: PolicyDecision) { (autonomy, reasons) = (d.autonomy, d.reasons) }
    }
}

/// A dry run's answer: the plan, its statements with the guard's verdicts, the worst risk,
/// what the policy would do, and why the plan is invalid when it is. `mend plan --json` and
/// MCP's `propose_plan` (which adds `dry_run`).
public struct ProposalView: Encodable, Sendable, Equatable {
    public var plan: PlanView.Body
    public var statements: [PlanView.Verdict]
    public var risk: Risk
    public var decision: PlanView.Decision
    public var outcome: String
    public var problem: String?

    public init(_ p: Engine.Proposal) {
        plan = PlanView.Body(p.plan)
        statements = p.statements.map(PlanView.Verdict.init)
        risk = p.risk
        decision = PlanView.Decision(p.decision)
        problem = p.problem
        if p.problem != nil {
            outcome = "invalid"
        } else {
            switch p.decision.autonomy {
            case .auto: outcome = "applies automatically"
            case .approve: outcome = "waits for a person's approval"
            case .deny: outcome = "refused"
            }
        }
    }

    enum CodingKeys: String, CodingKey { case plan, statements, risk, decision, outcome, problem }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(plan, forKey: .plan)
        try c.encode(statements, forKey: .statements)
        try c.encode(risk, forKey: .risk)
        try c.encode(decision, forKey: .decision)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(problem, forKey: .problem)
    }
}
