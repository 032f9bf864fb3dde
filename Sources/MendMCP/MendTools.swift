import Foundation
import MCP
import MendCore
import MendPipeline
import MendPlanFormat
import MendStore

/// How a Mend MCP server behaves.
public struct MendToolOptions: Sendable {
    public var serverName: String
    public var serverVersion: String
    /// Audit name for a client that does not say who it is at initialize.
    public var defaultClientName: String
    /// Lets `approve_plan` approve when the client cannot ask a person (no elicitation).
    /// Off by default: an agent must not be able to approve its own plans.
    public var allowApprovalWithoutElicitation: Bool
    /// Entries in the `mend://audit/recent` resource.
    public var recentAuditEntries: Int

    public init(
        serverName: String = "mend", serverVersion: String = MendMCP.version, defaultClientName: String = "unknown-client",
        allowApprovalWithoutElicitation: Bool = false, recentAuditEntries: Int = 50
    ) {
        self.serverName = serverName
        self.serverVersion = serverVersion
        self.defaultClientName = defaultClientName
        self.allowApprovalWithoutElicitation = allowApprovalWithoutElicitation
        self.recentAuditEntries = recentAuditEntries
    }
}

/// Who calls a tool, as learned at initialize.
public struct ToolCaller: Sendable {
    public var clientName: String
    /// Asks the person behind the client (MCP elicitation); nil when the client did not
    /// declare the capability.
    public var elicit: (@Sendable (_ message: String, _ schema: Elicitation.RequestSchema) async throws -> CreateElicitation.Result)?

    public init(
        clientName: String,
        elicit: (@Sendable (_ message: String, _ schema: Elicitation.RequestSchema) async throws -> CreateElicitation.Result)? = nil
    ) {
        self.clientName = clientName
        self.elicit = elicit
    }

    /// The actor name written to the audit log and to plans.
    public var actor: String { "mcp:\(clientName)" }
}

/// A tool call that cannot run as asked; the message says what to send instead.
public enum ToolError: Error, Sendable, CustomStringConvertible {
    case unknownTool(String)
    case invalidArgument(String)
    case refused(String)

    public var description: String {
        switch self {
        case .unknownTool(let n): "unknown tool '\(n)'; call tools/list to see Mend's tools"
        case .invalidArgument(let m): m
        case .refused(let m): m
        }
    }
}

/// The one tool registry of Mend: the MCP server serves it, and the built-in LLM agent
/// reaches the same tools through an in-process MCP client, so an outside agent and
/// the built-in one pass the same plan checks, guard, policy and audit.
public struct MendTools: Sendable {
    public let engine: Engine
    public let options: MendToolOptions

    public init(engine: Engine, options: MendToolOptions = .init()) {
        self.engine = engine
        self.options = options
    }

    /// What a handler hands back: a short summary for people, structured JSON for agents.
    struct Outcome {
        var summary: String
        var value: Value
        var isError = false
    }

    /// Runs one tool and audits the call (tool, SHA-256 of the canonical arguments,
    /// client, ok/error). Failures come back as `isError` results with the reason, never
    /// as protocol errors, so an agent can read them and correct itself.
    public func call(_ name: String, arguments: [String: Value]?, caller: ToolCaller) async -> CallTool.Result {
        let args = arguments ?? [:]
        let outcome: Outcome
        do {
            outcome = try await dispatch(name, args, caller)
        } catch {
            outcome = Outcome(summary: Self.message(error), value: .object(["error": .string(Self.message(error))]), isError: true)
        }
        let digest = Engine.sha256Hex(JSON.canonical(.object(args)))
        var detail = [
            "tool": name, "arguments_sha256": digest, "client": caller.clientName, "result": outcome.isError ? "error" : "ok",
        ]
        if outcome.isError { detail["error"] = String(outcome.summary.prefix(500)) }
        do {
            try await engine.audit(kind: "mcp.tool_call", subject: "tool:\(name)", actor: caller.actor, detail: detail)
        } catch {
            // The call's own state changes are audited by the engine; losing this entry is
            // reported to the operator, not turned into a failed call the agent would retry.
            FileHandle.standardError.write(Data("mend mcp: could not audit call of \(name): \(error)\n".utf8))
        }
        let content: [Tool.Content] = [
            .text(text: outcome.summary, annotations: nil, _meta: nil),
            .text(text: JSON.text(outcome.value), annotations: nil, _meta: nil),
        ]
        let structured: Value? = outcome.value
        let isError: Bool? = outcome.isError
        return CallTool.Result(content: content, structuredContent: structured, isError: isError, _meta: nil)
    }

    static func message(_ error: any Error) -> String {
        switch error {
        case let e as PlanValidationError: e.description
        case let e as ToolError: e.description
        case let e as PipelineError: e.description
        case let e as CustomStringConvertible: e.description
        default: "\(error)"
        }
    }

    func dispatch(_ name: String, _ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        switch name {
        case "list_incidents": return try await listIncidents(a)
        case "get_incident": return try await getIncident(a)
        case "get_table_schema": return try await tableSchema(a)
        case "sample_records": return try await sampleRecords(a)
        case "propose_plan": return try await proposePlan(a, caller)
        case "apply_plan": return try await applyPlan(a, caller)
        case "approve_plan": return try await approvePlan(a, caller)
        case "reject_plan": return try await rejectPlan(a, caller)
        case "replay_incident": return try await replay(a, caller)
        case "quarantine_records": return try await quarantine(a, caller)
        case "query_audit": return try await queryAudit(a)
        case "pipeline_stats": return try await stats()
        default: throw ToolError.unknownTool(name)
        }
    }

    // MARK: - arguments

    static func incidentID(_ a: [String: Value]) throws -> Int64 {
        guard let id = a.int("incident_id"), id > 0 else {
            throw ToolError.invalidArgument("incident_id: required, a positive integer; list_incidents shows the ids")
        }
        return Int64(id)
    }

    static func string(_ a: [String: Value], _ key: String, required: String? = nil) throws -> String? {
        switch a[key] {
        case .string(let s) where !s.trimmingCharacters(in: .whitespaces).isEmpty: return s
        case nil, .null, .string:
            if let why = required { throw ToolError.invalidArgument("\(key): required, \(why)") }
            return nil
        case let v?: throw ToolError.invalidArgument("\(key): expected a string, got \(PlanFormat.jsonKind(v))")
        }
    }

    static func bounded(_ a: [String: Value], _ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard a[key] != nil, a[key] != .null else { return d }
        guard let n = a.int(key), range.contains(n) else {
            throw ToolError.invalidArgument("\(key): expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    // MARK: - reads

    static func incidentValue(_ i: Incident) -> Value {
        .object([
            "id": .int(Int(i.id)), "table": .string(i.table), "status": .string(i.status.rawValue),
            "kinds": .array(i.kinds.map { .string($0.rawValue) }), "parked": .int(i.parked), "signature": .string(i.signature),
            "opened_at": .string(ISO8601DateFormatter().string(from: i.openedAt)),
            "first_reason": i.drifts.first.map { .string($0.reason) } ?? .null,
            "resource": .string("mend://incidents/\(i.id)"),
        ])
    }

    static func driftValue(_ d: Drift) -> Value {
        .object([
            "kind": .string(d.kind.rawValue), "column": .string(d.column), "source_key": .string(d.sourceKey),
            "observed": d.observed.map { .string($0.rawValue) } ?? .null,
            "expected": d.expected.map { .string($0.rawValue) } ?? .null, "reason": .string(d.reason),
        ])
    }

    static func verdictValue(_ v: StatementVerdict) -> Value {
        .object([
            "sql": .string(v.sql), "allowed": .bool(v.allowed), "risk": .string(v.risk.rawValue), "rule": .string(v.rule),
            "reasons": .array(v.reasons.map(Value.string)), "safer_alternative": v.saferAlternative.map(Value.string) ?? .null,
        ])
    }

    static func decisionValue(_ d: PolicyDecision?) -> Value {
        guard let d else { return .null }
        return .object(["autonomy": .string(d.autonomy.rawValue), "reasons": .array(d.reasons.map(Value.string))])
    }

    static func storedPlanValue(_ p: StoredPlan) -> Value {
        .object([
            "plan": PlanFormat.value(of: p.plan), "verdicts": .array(p.verdicts.map(verdictValue)),
            "decision": decisionValue(p.decision), "decided_by": p.decidedBy.map(Value.string) ?? .null,
            "note": p.note.map(Value.string) ?? .null,
        ])
    }

    func listIncidents(_ a: [String: Value]) async throws -> Outcome {
        let status = try Self.string(a, "status")
        if let status, IncidentStatus(rawValue: status) == nil {
            throw ToolError.invalidArgument("status: '\(status)' is not a status; use open, pending_approval, resolved or rejected")
        }
        let table = try Self.string(a, "table")
        let list = try await engine.incidents().filter {
            (status == nil || $0.status.rawValue == status) && (table == nil || $0.table == table)
        }
        let open = list.filter { $0.status == .open || $0.status == .pendingApproval }.count
        return Outcome(
            summary: list.isEmpty ? "no incidents" : "\(list.count) incident(s), \(open) not resolved",
            value: .object(["incidents": .array(list.map(Self.incidentValue)), "count": .int(list.count)]))
    }

    func getIncident(_ a: [String: Value]) async throws -> Outcome {
        let id = try Self.incidentID(a)
        let n = try Self.bounded(a, "samples", default: 5, in: 0...50)
        let (i, samples, plans) = try await engine.incidentDetail(id, samples: n)
        var incident = Self.incidentValue(i)
        if case .object(var o) = incident {
            o["drifts"] = .array(i.drifts.map(Self.driftValue))
            incident = .object(o)
        }
        let value: Value = .object([
            "incident": incident,
            "samples": .array(
                samples.map {
                    .object([
                        "parked_id": .int(Int($0.id)), "source": .string($0.source), "line": .int(Int($0.line)),
                        "record": JSON.parse($0.record), "reason": .string($0.reason),
                    ])
                }),
            "plans": .array(plans.map(Self.storedPlanValue)),
            "schema_resource": .string("mend://tables/\(i.table)/schema"),
        ])
        return Outcome(
            summary: "incident #\(i.id) on \(i.table): \(i.status.rawValue), \(i.parked) parked; \(i.drifts.first?.reason ?? "")",
            value: value)
    }

    /// The schema as tools and the schema resource show it.
    static func schemaValue(table: String, _ s: (TableSchema, [String: [String]], [StateStore.SchemaVersion])) -> Value {
        let (schema, keys, history) = s
        return .object([
            "table": .string(table), "version": .int(Int(history.last?.version ?? 1)),
            "columns": .array(
                schema.columns.map { c in
                    .object([
                        "name": .string(c.name), "type": c.type.map { .string($0.rawValue) } ?? .null,
                        "declared_type": .string(c.declaredType), "nullable": .bool(c.nullable),
                        "source_keys": .array((keys[c.name] ?? []).map(Value.string)),
                    ])
                }),
            "mappings": .object(schema.mappings.mapValues(Value.string)),
            "conversions": .object(schema.conversions.mapValues { .string($0.name) }),
            "history": .array(
                history.map {
                    .object([
                        "version": .int(Int($0.version)), "plan_id": $0.planID.map { .int(Int($0)) } ?? .null, "ddl": .string($0.ddl),
                    ])
                }),
        ])
    }

    func tableSchema(_ a: [String: Value]) async throws -> Outcome {
        guard let table = try Self.string(a, "table", required: "the table name; pipeline_stats lists the tables") else {
            throw ToolError.invalidArgument("table: required")
        }
        guard let s = try await engine.schema(table: table) else {
            throw PipelineError.notFound("no table \(table); pipeline_stats lists the tables Mend loads")
        }
        return Outcome(
            summary: "\(table): \(s.0.columns.count) columns, schema version \(s.2.last?.version ?? 1)",
            value: Self.schemaValue(table: table, s))
    }

    func sampleRecords(_ a: [String: Value]) async throws -> Outcome {
        guard let table = try Self.string(a, "table", required: "the table name; pipeline_stats lists the tables") else {
            throw ToolError.invalidArgument("table: required")
        }
        let limit = try Self.bounded(a, "limit", default: 5, in: 1...50)
        let (columns, rows) = try await engine.sampleRows(table: table, limit: limit)
        let objects: [Value] = rows.map { row in
            var o: [String: Value] = [:]
            for (c, v) in zip(columns, row) { o[c.name] = JSON.typed(v, c.type) }
            return .object(o)
        }
        return Outcome(
            summary: "\(rows.count) loaded row(s) of \(table)",
            value: .object([
                "table": .string(table), "columns": .array(columns.map { .string($0.name) }), "rows": .array(objects),
            ]))
    }

    func queryAudit(_ a: [String: Value]) async throws -> Outcome {
        let limit = try Self.bounded(a, "limit", default: 20, in: 1...500)
        let kind = try Self.string(a, "kind")
        let subject = try Self.string(a, "subject")
        let verify: Bool
        switch a["verify"] {
        case nil, .null: verify = false
        case .bool(let b): verify = b
        case let v?: throw ToolError.invalidArgument("verify: expected a boolean, got \(PlanFormat.jsonKind(v))")
        }
        let filtered = kind != nil || subject != nil
        // Filters look further back than the limit; verification needs the whole chain.
        let entries = try await engine.auditEntries(limit: verify ? nil : (filtered ? max(limit * 50, 5000) : limit))
        let matching = entries.filter {
            (kind == nil || $0.kind.hasPrefix(kind ?? "")) && (subject == nil || $0.subject == subject)
        }.suffix(limit)
        var value: [String: Value] = [
            "entries": .array(
                matching.map {
                    .object([
                        "seq": .int(Int($0.seq)), "at": .string($0.at), "kind": .string($0.kind), "subject": .string($0.subject),
                        "actor": .string($0.actor), "detail": JSON.parse($0.detail), "hash": .string($0.hash),
                    ])
                }),
            "count": .int(matching.count),
        ]
        var summary = "\(matching.count) audit entr\(matching.count == 1 ? "y" : "ies")"
        if verify {
            let report = AuditVerifier.verify(entries)
            value["verification"] = try JSON.value(report)
            summary +=
                report.ok
                ? "; chain verified (\(report.entries) entries)" : "; chain BROKEN at \(report.firstBroken ?? 0): \(report.reason ?? "")"
        }
        return Outcome(summary: summary, value: .object(value))
    }

    func stats() async throws -> Outcome {
        let stats = try await engine.stats()
        let times = try await engine.repairTimes().map(\.2).sorted()
        var tables: [String: Value] = [:]
        for t in stats {
            tables[t.table] = .object([
                "input": .int(Int(t.input)), "loaded": .int(Int(t.loaded)), "parked": .int(Int(t.parked)),
                "quarantined": .int(Int(t.quarantined)), "coerced": .int(Int(t.coerced)),
                "open_incidents": .int(Int(t.openIncidents)), "schema_version": .int(Int(t.schemaVersion)),
            ])
        }
        let parked = stats.reduce(0) { $0 + $1.parked }
        return Outcome(
            summary: "\(stats.count) table(s), \(stats.reduce(0) { $0 + $1.loaded }) loaded, \(parked) parked",
            value: .object([
                "tables": .object(tables),
                "repairs_resolved": .int(times.count),
                "repair_seconds_median": times.isEmpty ? .null : .double(times[times.count / 2]),
                "invariant": "input = loaded + parked + quarantined, per table",
            ]))
    }

    // MARK: - plans

    static func proposalValue(_ p: Engine.Proposal, dryRun: Bool) -> Value {
        let outcome: String
        if p.problem != nil {
            outcome = "invalid"
        } else {
            switch p.decision.autonomy {
            case .auto: outcome = "applies automatically"
            case .approve: outcome = "waits for a person's approval"
            case .deny: outcome = "refused"
            }
        }
        return .object([
            "dry_run": .bool(dryRun), "plan": PlanFormat.value(of: p.plan), "statements": .array(p.statements.map(verdictValue)),
            "risk": .string(p.risk.rawValue), "decision": decisionValue(p.decision), "outcome": .string(outcome),
            "problem": p.problem.map(Value.string) ?? .null,
        ])
    }

    /// Guard and policy reasons of a refused plan, in one line an agent can act on.
    static func refusal(_ p: Engine.Proposal) -> String {
        let guardReasons = p.statements.filter { !$0.allowed }.map {
            "the guard forbids \($0.sql) [\($0.rule)]: \($0.reasons.joined(separator: "; "))"
                + ($0.saferAlternative.map { " (safer: \($0))" } ?? "")
        }
        return (guardReasons + p.decision.reasons).joined(separator: "; ")
    }

    func proposePlan(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        let given = try a["plan"].flatMap { $0 == .null ? nil : try PlanFormat.decode($0, plannedBy: caller.actor) }
        let p = try await engine.propose(incidentID: id, plan: given)
        let value = Self.proposalValue(p, dryRun: true)
        if let problem = p.problem {
            return Outcome(summary: "the plan is invalid: \(problem)", value: value, isError: true)
        }
        let sql = p.statements.map(\.sql).joined(separator: "; ")
        switch p.decision.autonomy {
        case .deny:
            return Outcome(summary: "dry run: this plan would be REFUSED: \(Self.refusal(p))", value: value)
        case .approve:
            return Outcome(
                summary:
                    "dry run: risk \(p.risk.rawValue); would wait for a person's approval (\(p.decision.reasons.joined(separator: "; ")))\(sql.isEmpty ? "" : "; SQL: \(sql)")",
                value: value)
        case .auto:
            return Outcome(
                summary: "dry run: risk \(p.risk.rawValue); would apply automatically\(sql.isEmpty ? "" : "; SQL: \(sql)")", value: value)
        }
    }

    /// Incident state after an apply, for the answer.
    func applied(_ id: Int64, planID: Int64, approvedBy: String?) async throws -> Outcome {
        let (i, _, plans) = try await engine.incidentDetail(id, samples: 0)
        var value: [String: Value] = [
            "outcome": "applied", "plan_id": .int(Int(planID)), "incident": Self.incidentValue(i),
            "plan": plans.last.map(Self.storedPlanValue) ?? .null,
        ]
        if let approvedBy { value["approved_by"] = .string(approvedBy) }
        return Outcome(
            summary:
                "plan #\(planID) applied\(approvedBy.map { ", approved by \($0)" } ?? ""); incident #\(id) is \(i.status.rawValue) with \(i.parked) record(s) still parked",
            value: .object(value))
    }

    func pending(_ stored: StoredPlan, incidentID: Int64, why: String) -> Outcome {
        Outcome(
            summary:
                "plan #\(stored.plan.id) waits for approval: \(why). A person approves it with `mend approve \(incidentID)` (or rejects it with `mend reject \(incidentID) --reason ...`).",
            value: .object([
                "outcome": "pending_approval", "plan_id": .int(Int(stored.plan.id)), "why": .string(why),
                "how_to_approve": .string("mend approve \(incidentID)"),
                "how_to_reject": .string("mend reject \(incidentID) --reason TEXT"),
                "plan": Self.storedPlanValue(stored),
            ]))
    }

    /// Asks the person through elicitation; accept approves and applies (the audit names
    /// the approver), decline or cancel leaves the plan pending.
    func seekApproval(_ stored: StoredPlan, incidentID: Int64, caller: ToolCaller) async throws -> Outcome {
        guard let elicit = caller.elicit else {
            return pending(
                stored, incidentID: incidentID,
                why: "the policy requires a person's approval and this client cannot ask one (no elicitation capability)")
        }
        let sql = stored.verdicts.map { "\($0.sql)  (risk \($0.risk.rawValue))" }
        let message = """
            Mend: approve plan #\(stored.plan.id) for incident #\(incidentID) on table \(stored.plan.table)?
            Operations: \(stored.plan.operations.map(\.summary).joined(separator: "; "))
            \(sql.isEmpty ? "No SQL (changes how future loads map or convert values)." : "SQL: " + sql.joined(separator: "; "))
            Policy: \(stored.decision?.reasons.joined(separator: "; ") ?? "-")
            Planned by \(stored.plan.plannedBy): \(stored.plan.rationale)
            Accepting applies the plan and replays the parked records.
            """
        let schema = Elicitation.RequestSchema(
            title: "Approve repair plan #\(stored.plan.id)",
            description: "Your name is recorded in Mend's audit log as the approver.",
            properties: [
                "approver": .object(["type": "string", "title": "Your name", "description": "Recorded as the approver"]),
                "note": .object(["type": "string", "title": "Note", "description": "Optional, kept in the audit log"]),
            ],
            required: ["approver"])
        let answer: CreateElicitation.Result
        do {
            answer = try await elicit(message, schema)
        } catch {
            return pending(stored, incidentID: incidentID, why: "asking the person failed (\(Self.message(error)))")
        }
        switch answer.action {
        case .accept:
            let name = answer.content?["approver"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
            let approver = (name?.isEmpty == false ? name : nil) ?? "\(caller.clientName) user"
            var note = "approved through MCP elicitation in \(caller.clientName)"
            if let extra = answer.content?["note"]?.stringValue, !extra.isEmpty { note += ": \(extra)" }
            let done = try await engine.approve(incidentID: incidentID, by: approver, note: note)
            return try await applied(incidentID, planID: done.plan.id, approvedBy: approver)
        case .decline:
            return pending(stored, incidentID: incidentID, why: "the person declined")
        case .cancel:
            return pending(stored, incidentID: incidentID, why: "the person cancelled the request")
        }
    }

    func applyPlan(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        let given = try a["plan"].flatMap { $0 == .null ? nil : try PlanFormat.decode($0, plannedBy: caller.actor) }
        let (incident, _, plans) = try await engine.incidentDetail(id, samples: 0)
        if incident.status == .resolved {
            throw ToolError.refused("incident #\(id) is already resolved; list_incidents shows the open ones")
        }
        let current = plans.last
        let result: Engine.RepairResult
        if let given {
            // Dry run first: a refused plan must not replace a plan that waits for a person.
            let p = try await engine.propose(incidentID: id, plan: given)
            if p.problem != nil || p.decision.autonomy == .deny {
                let why = p.problem.map { "the plan is invalid: \($0)" } ?? Self.refusal(p)
                try await engine.audit(
                    kind: "plan.refused", subject: "incident:\(id)", actor: caller.actor,
                    detail: [
                        "operations": given.operations.map(\.summary).joined(separator: "; "), "reasons": why,
                        "sql": p.statements.map(\.sql).joined(separator: ";\n"), "risk": p.risk.rawValue,
                    ])
                return Outcome(summary: "refused: \(why)", value: Self.proposalValue(p, dryRun: false), isError: true)
            }
            _ = try await engine.supersedePendingPlan(incidentID: id, by: caller.actor, reason: "replaced by a plan from \(caller.actor)")
            result = try await engine.repair(incidentID: id, plan: given, by: caller.actor)
        } else if let current, current.plan.status == .pendingApproval {
            return try await seekApproval(current, incidentID: id, caller: caller)
        } else if let current, current.plan.status == .approved {
            try await engine.apply(planID: current.plan.id, by: caller.actor)
            result = .applied(planID: current.plan.id)
        } else {
            result = try await engine.repair(incidentID: id, by: caller.actor)
        }
        switch result {
        case .applied(let planID):
            return try await applied(id, planID: planID, approvedBy: nil)
        case .pending:
            guard let stored = try await engine.currentPlan(incidentID: id) else {
                throw PipelineError.state("incident \(id) lost its plan; get_incident shows its state")
            }
            return try await seekApproval(stored, incidentID: id, caller: caller)
        case .refused(let planID, let reason):
            let stored = try await engine.currentPlan(incidentID: id)
            return Outcome(
                summary: "plan #\(planID) refused: \(reason)",
                value: .object(["outcome": "refused", "plan_id": .int(Int(planID)), "plan": stored.map(Self.storedPlanValue) ?? .null]),
                isError: true)
        }
    }

    func approvePlan(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        guard let stored = try await engine.currentPlan(incidentID: id), stored.plan.status == .pendingApproval else {
            throw ToolError.refused("incident #\(id) has no plan waiting for approval; get_incident shows its plans")
        }
        if caller.elicit != nil { return try await seekApproval(stored, incidentID: id, caller: caller) }
        guard options.allowApprovalWithoutElicitation else {
            throw ToolError.refused(
                "approving needs a person, and this client did not declare the elicitation capability, so Mend cannot ask one. "
                    + "A person runs `mend approve \(id)` (or `mend reject \(id) --reason ...`).")
        }
        let who = try Self.string(a, "approver") ?? caller.actor
        let done = try await engine.approve(
            incidentID: id, by: who, note: try Self.string(a, "note") ?? "approved through MCP by \(caller.actor) without elicitation")
        return try await applied(id, planID: done.plan.id, approvedBy: who)
    }

    func rejectPlan(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        guard let reason = try Self.string(a, "reason", required: "why the plan is rejected (kept in the audit log)") else {
            throw ToolError.invalidArgument("reason: required")
        }
        try await engine.reject(incidentID: id, by: caller.actor, reason: reason)
        return Outcome(
            summary: "rejected; the records of incident #\(id) stay parked. propose_plan and apply_plan can try another plan.",
            value: .object(["outcome": "rejected", "incident_id": .int(Int(id))]))
    }

    func replay(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        let r = try await engine.replay(incidentID: id, by: caller.actor)
        return Outcome(
            summary:
                "replayed incident #\(id): \(r.loaded) loaded, \(r.quarantined) quarantined, \(r.stillParked) still parked\(r.resolved ? "; resolved" : "")",
            value: try JSON.value(r))
    }

    func quarantine(_ a: [String: Value], _ caller: ToolCaller) async throws -> Outcome {
        let id = try Self.incidentID(a)
        guard let reason = try Self.string(a, "reason", required: "why these records cannot be loaded (kept beside each record)") else {
            throw ToolError.invalidArgument("reason: required")
        }
        var ids: [Int64]? = nil
        switch a["parked_ids"] {
        case nil, .null: break
        case .array(let items):
            ids = try items.map {
                guard case .int(let n) = $0, n > 0 else {
                    throw ToolError.invalidArgument("parked_ids: expected positive integers (the parked_id values from get_incident)")
                }
                return Int64(n)
            }
            if ids?.isEmpty == true { throw ToolError.invalidArgument("parked_ids: empty; omit it to quarantine every parked record") }
        case let v?: throw ToolError.invalidArgument("parked_ids: expected an array of integers, got \(PlanFormat.jsonKind(v))")
        }
        let r = try await engine.quarantine(incidentID: id, parkedIDs: ids, by: caller.actor, reason: reason)
        return Outcome(
            summary:
                "quarantined \(r.quarantined) record(s) of incident #\(id); \(r.stillParked) still parked\(r.resolved ? "; incident resolved" : "")"
                + (r.notFound.isEmpty ? "" : "; not parked in this incident: \(r.notFound.map(String.init).joined(separator: ", "))"),
            value: try JSON.value(r), isError: r.quarantined == 0 && !r.notFound.isEmpty)
    }
}
