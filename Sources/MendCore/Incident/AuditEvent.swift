/// Every kind of entry Mend writes to its hash-chained audit log, with the facts it
/// carries. The store turns one into a row: `kind`, `subject` and `detail` below are
/// the only place the stored names are spelled, so readers and writers cannot drift.
public enum AuditEvent: Sendable, Equatable {
    case tableCreated(table: String, sql: String, risk: Risk, rule: String, columns: Int)
    case incidentOpened(incident: Int64, table: String, signature: String, kinds: [DriftKind], firstReason: String)
    /// Replay moved records that still drift onto a signature with no open incident.
    case incidentOpenedByReplay(incident: Int64, table: String, signature: String, fromReplayOf: Int64)
    /// The records of one batch that were set aside on arrival (not JSON, not an object,
    /// discarded by a contract): one entry per batch, with counts and a digest of their
    /// bytes, so 200,000 junk lines cost a handful of entries instead of 200,000.
    case recordsQuarantinedOnArrival(
        source: String, table: String, count: Int, firstLine: Int64, lastLine: Int64, firstReason: String, sha256: String)
    case plannerFallback(incident: Int64, planner: String, reason: String)
    case planProposed(plan: Int64, ProposedPlan)
    case policyDecided(plan: Int64, decision: Autonomy, reasons: [String])
    /// A dry-run plan the guard or policy refused before it was stored (MCP `apply_plan`).
    case planRefused(incident: Int64, operations: String, reasons: String, sql: String, risk: Risk)
    case planApproved(plan: Int64, incident: Int64, note: String?)
    case planRejected(plan: Int64, incident: Int64, reason: String)
    case planSuperseded(plan: Int64, incident: Int64, reason: String)
    case planApplied(plan: Int64, AppliedPlan)
    case planFailed(plan: Int64, incident: Int64, error: String)
    case incidentReplayed(incident: Int64, loaded: Int64, quarantined: Int64, stillParked: Int64)
    case incidentResolved(incident: Int64, table: String, by: ResolvedBy)
    case recordsQuarantined(incident: Int64, table: String, count: Int, reason: String, parkedIDs: [Int64])
    case toolCalled(tool: String, client: String, argumentsSHA256: String, error: String?)
    /// An MCP client answered an approval request (elicitation). It is the client's answer,
    /// kept with the name it gave; it approves only when the policy lets that client approve.
    case clientAnswered(plan: Int64, incident: Int64, action: String, givenName: String?, counted: Bool)
    /// A notification reached an endpoint (2xx). `endpoint` is the URL without its path
    /// and a digest of the whole URL: a Slack webhook's path is its secret.
    case notificationDelivered(NotificationDelivery)
    /// A notification was given up on after its retries, or refused for good (4xx).
    case notificationFailed(NotificationDelivery)
    /// A notification was never sent: its endpoint's queue was full (a slow or dead endpoint).
    case notificationDropped(NotificationDelivery)

    public enum ResolvedBy: String, Sendable, Equatable {
        case replay, quarantine
    }

    /// The stored kind, e.g. "plan.applied".
    public var kind: String {
        switch self {
        case .tableCreated: "table.created"
        case .incidentOpened, .incidentOpenedByReplay: "incident.opened"
        case .recordsQuarantinedOnArrival: "record.quarantined"
        case .plannerFallback: "planner.fallback"
        case .planProposed: "plan.proposed"
        case .policyDecided: "policy.decided"
        case .planRefused: "plan.refused"
        case .planApproved: "plan.approved"
        case .planRejected: "plan.rejected"
        case .planSuperseded: "plan.superseded"
        case .planApplied: "plan.applied"
        case .planFailed: "plan.failed"
        case .incidentReplayed: "incident.replayed"
        case .incidentResolved: "incident.resolved"
        case .recordsQuarantined: "records.quarantined"
        case .toolCalled: "mcp.tool_call"
        case .clientAnswered: "plan.client_answer"
        case .notificationDelivered: "notification.delivered"
        case .notificationFailed: "notification.failed"
        case .notificationDropped: "notification.dropped"
        }
    }

    /// Who an entry is written as when the event names its own author: a plan is
    /// proposed by its planner and decided by the policy, whoever asked for it.
    public var author: String? {
        switch self {
        case .planProposed(_, let p): p.plannedBy
        case .policyDecided: "policy"
        default: nil
        }
    }

    /// What the entry is about: "plan:12", "incident:3", a table, a source position.
    public var subject: String {
        switch self {
        case .tableCreated(let table, _, _, _, _): table
        case .incidentOpened(let id, _, _, _, _), .incidentOpenedByReplay(let id, _, _, _), .plannerFallback(let id, _, _),
            .planRefused(let id, _, _, _, _), .incidentReplayed(let id, _, _, _), .incidentResolved(let id, _, _),
            .recordsQuarantined(let id, _, _, _, _):
            "incident:\(id)"
        case .recordsQuarantinedOnArrival(let source, _, let count, let first, let last, _, _):
            count == 1 ? "\(source):\(first)" : "\(source):\(first)-\(last)"
        case .planProposed(let id, _), .policyDecided(let id, _, _), .planApproved(let id, _, _), .planRejected(let id, _, _),
            .planSuperseded(let id, _, _), .planApplied(let id, _), .planFailed(let id, _, _), .clientAnswered(let id, _, _, _, _):
            "plan:\(id)"
        case .toolCalled(let tool, _, _, _): "tool:\(tool)"
        case .notificationDelivered(let n), .notificationFailed(let n), .notificationDropped(let n): "incident:\(n.incident)"
        }
    }

    /// The facts, as text: the audit row's `detail` (hashed as sorted JSON).
    public var detail: [String: String] {
        switch self {
        case .tableCreated(_, let sql, let risk, let rule, let columns):
            return ["sql": sql, "risk": risk.rawValue, "rule": rule, "columns": String(columns)]
        case .incidentOpened(_, let table, let signature, let kinds, let firstReason):
            return [
                "table": table, "signature": signature, "kinds": Set(kinds.map(\.rawValue)).sorted().joined(separator: ","),
                "first_reason": firstReason,
            ]
        case .incidentOpenedByReplay(_, let table, let signature, let from):
            return ["table": table, "signature": signature, "from_replay_of": String(from)]
        case .recordsQuarantinedOnArrival(_, let table, let count, let first, let last, let reason, let digest):
            if count == 1 { return ["table": table, "reason": reason] }
            return [
                "table": table, "count": String(count), "first_line": String(first), "last_line": String(last),
                "first_reason": reason, "records_sha256": digest,
            ]
        case .plannerFallback(_, let planner, let reason):
            return ["planner": planner, "fallback": "rules", "reason": reason]
        case .planProposed(_, let p):
            var d = [
                "incident": String(p.incident), "operations": p.operations, "rationale": p.rationale,
                "confidence": String(p.confidence), "sql": p.sql, "risk": p.risk.rawValue,
            ]
            if !p.evidence.isEmpty { d["rename_evidence"] = p.evidence.joined(separator: "; ") }
            if let u = p.usage {
                d["model"] = u.model
                d["tokens_in"] = String(u.tokensIn)
                d["tokens_out"] = String(u.tokensOut)
                d["cost_usd"] = u.costText
            }
            return d
        case .policyDecided(_, let decision, let reasons):
            return ["decision": decision.rawValue, "reasons": reasons.joined(separator: "; ")]
        case .planRefused(_, let operations, let reasons, let sql, let risk):
            return ["operations": operations, "reasons": reasons, "sql": sql, "risk": risk.rawValue]
        case .planApproved(_, let incident, let note):
            return ["incident": String(incident), "note": note ?? ""]
        case .planRejected(_, let incident, let reason), .planSuperseded(_, let incident, let reason):
            return ["incident": String(incident), "reason": reason]
        case .planApplied(_, let a):
            return [
                "incident": String(a.incident), "sql": a.sql, "schema_version": String(a.schemaVersion), "risk": a.risk.rawValue,
                "rules": a.rules.joined(separator: ","), "reasons": a.reasons.joined(separator: "; "),
                "skipped_already_applied": String(a.skippedAlreadyApplied),
            ]
        case .planFailed(_, let incident, let error):
            return ["incident": String(incident), "error": error]
        case .incidentReplayed(_, let loaded, let quarantined, let stillParked):
            return ["loaded": String(loaded), "quarantined": String(quarantined), "still_parked": String(stillParked)]
        case .incidentResolved(_, let table, let by):
            return by == .replay ? ["table": table] : ["table": table, "by": by.rawValue]
        case .recordsQuarantined(_, let table, let count, let reason, let ids):
            return [
                "table": table, "count": String(count), "reason": reason, "parked_ids": ids.map(String.init).joined(separator: ","),
            ]
        case .toolCalled(let tool, let client, let digest, let error):
            var d = ["tool": tool, "arguments_sha256": digest, "client": client, "result": error == nil ? "ok" : "error"]
            if let error { d["error"] = error }
            return d
        case .clientAnswered(_, let incident, let action, let name, let counted):
            var d = ["incident": String(incident), "action": action, "counted_as_approval": String(counted)]
            if let name { d["name_given"] = name }
            return d
        case .notificationDelivered(let n), .notificationFailed(let n), .notificationDropped(let n):
            var d = [
                "event": n.event, "event_id": n.eventID, "endpoint": n.endpoint, "format": n.format,
                "attempts": String(n.attempts),
            ]
            if let plan = n.plan { d["plan"] = String(plan) }
            if let status = n.status { d["status"] = String(status) }
            if let error = n.error { d["error"] = error }
            return d
        }
    }
}

/// What the audit keeps of one notification and its delivery to one endpoint.
public struct NotificationDelivery: Sendable, Equatable {
    /// The event type, e.g. "plan.awaiting_approval".
    public var event: String
    /// The event's id (the CloudEvents `id`), the same for every endpoint it went to.
    public var eventID: String
    public var incident: Int64
    public var plan: Int64?
    /// Scheme, host and port, and a digest of the whole URL; never the path or query.
    public var endpoint: String
    public var format: String
    public var attempts: Int
    /// The last HTTP status, when an answer came.
    public var status: Int?
    public var error: String?

    public init(
        event: String, eventID: String, incident: Int64, plan: Int64?, endpoint: String, format: String, attempts: Int,
        status: Int? = nil, error: String? = nil
    ) {
        self.event = event
        self.eventID = eventID
        self.incident = incident
        self.plan = plan
        self.endpoint = endpoint
        self.format = format
        self.attempts = attempts
        self.status = status
        self.error = error
    }
}

/// What the audit keeps of a plan when it is stored.
public struct ProposedPlan: Sendable, Equatable {
    public var incident: Int64
    public var plannedBy: String
    public var operations: String
    public var rationale: String
    public var confidence: Double
    public var sql: String
    public var risk: Risk
    public var decision: Autonomy
    public var reasons: [String]
    public var usage: PlannerUsage?
    /// A rename's evidence, one line per mapping (RenameEvidence.summary).
    public var evidence: [String]

    public init(
        incident: Int64, plannedBy: String, operations: String, rationale: String, confidence: Double, sql: String, risk: Risk,
        decision: Autonomy, reasons: [String], usage: PlannerUsage?, evidence: [String] = []
    ) {
        self.incident = incident
        self.plannedBy = plannedBy
        self.operations = operations
        self.rationale = rationale
        self.confidence = confidence
        self.sql = sql
        self.risk = risk
        self.decision = decision
        self.reasons = reasons
        self.usage = usage
        self.evidence = evidence
    }
}

/// What the audit keeps of a plan that ran.
public struct AppliedPlan: Sendable, Equatable {
    public var incident: Int64
    public var sql: String
    public var schemaVersion: Int64
    public var risk: Risk
    public var rules: [String]
    public var reasons: [String]
    public var skippedAlreadyApplied: Int

    public init(
        incident: Int64, sql: String, schemaVersion: Int64, risk: Risk, rules: [String], reasons: [String],
        skippedAlreadyApplied: Int
    ) {
        self.incident = incident
        self.sql = sql
        self.schemaVersion = schemaVersion
        self.risk = risk
        self.rules = rules
        self.reasons = reasons
        self.skippedAlreadyApplied = skippedAlreadyApplied
    }
}
