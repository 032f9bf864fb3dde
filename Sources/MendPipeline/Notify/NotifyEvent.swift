import Foundation
public import MendCore
import MendStore

/// What the pipeline tells people about: an incident's lifecycle moments.
public enum NotifyKind: String, Sendable, Codable, CaseIterable {
    case opened
    case awaitingApproval = "awaiting_approval"
    case applied
    case refused
    case failed

    /// The CloudEvents `type`.
    public var eventType: String {
        switch self {
        case .opened: "dev.mend.incident.opened"
        case .awaitingApproval: "dev.mend.plan.awaiting_approval"
        case .applied: "dev.mend.plan.applied"
        case .refused: "dev.mend.plan.refused"
        case .failed: "dev.mend.plan.failed"
        }
    }
}

/// What the pipeline hands the notifier: a few numbers, posted without waiting. The facts
/// (drift, plan, SQL, samples) are read from the state later, on the notifier's own task,
/// so the ingest path never pays for them.
public struct NotifyTrigger: Sendable, Equatable {
    public var kind: NotifyKind
    public var incident: Int64
    public var plan: Int64?
    /// Why a plan was refused or failed.
    public var reason: String?
    /// The signature the incident was opened with: a trigger from a transaction that
    /// rolled back (its id reused later) must not describe another incident.
    public var signature: String?

    public init(kind: NotifyKind, incident: Int64, plan: Int64? = nil, reason: String? = nil, signature: String? = nil) {
        self.kind = kind
        self.incident = incident
        self.plan = plan
        self.reason = reason
        self.signature = signature
    }
}

/// Everything one notification says, resolved from the state: what both renderers take.
/// The incident and the plan are the views the CLI and MCP show (`IncidentView`, `PlanView`).
public struct NotificationFacts: Sendable, Equatable, Encodable {
    public struct GuardFacts: Sendable, Equatable, Encodable {
        /// The worst risk of the plan's statements.
        public var risk: Risk
        /// The rule of the worst statement.
        public var rule: String
        public var statements: [PlanView.Verdict]
    }

    /// A parked record as data from outside: cut to `SampleFacts.limit` bytes.
    public struct SampleFacts: Sendable, Equatable, Encodable {
        public static let limit = 1024
        public var source: String
        public var line: Int64
        public var reason: String
        public var record: String
        public var truncated: Bool
        public var bytes: Int
    }

    public var kind: NotifyKind
    public var incident: IncidentView
    public var drift: [Drift]
    public var plan: PlanView.Body?
    public var sql: [String]
    public var guardVerdict: GuardFacts?
    public var decision: PlanView.Decision?
    public var samples: [SampleFacts]
    public var reason: String?
    /// The dashboard's incident page; signed (expiring, bound to the plan) when a link key is set.
    public var link: String?
    public var linkExpires: String?

    enum CodingKeys: String, CodingKey {
        case kind, incident, drift, plan, sql, decision, samples, reason, link
        case guardVerdict = "guard"
        case linkExpires = "link_expires"
    }
}

extension NotificationFacts {
    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// Reads the facts of a trigger in one transaction; nil when its incident is not (or
    /// not yet, or no longer) there.
    static func resolve(_ t: NotifyTrigger, store: StateStore, links: ApprovalLinks?, samples: Int = 3) async throws
        -> NotificationFacts?
    {
        let read = try await store.transaction { tx -> (Incident, StoredPlan?, [ParkedRecord])? in
            guard let incident = try await tx.incident(t.incident) else { return nil }
            let plan: StoredPlan?
            if let id = t.plan { plan = try await tx.plan(id: id) } else { plan = nil }
            return (incident, plan, try await tx.parkedRecords(incidentID: t.incident, limit: samples))
        }
        guard let (incident, stored, parked) = read else { return nil }
        if let s = t.signature, s != incident.signature { return nil }
        var facts = NotificationFacts(
            kind: t.kind, incident: IncidentView(incident), drift: incident.drifts, plan: nil, sql: [], guardVerdict: nil,
            decision: nil,
            samples: parked.map {
                let view = RecordView($0.record, limit: SampleFacts.limit)
                return SampleFacts(
                    source: $0.source, line: $0.line, reason: $0.reason, record: view.text, truncated: view.truncated, bytes: view.bytes)
            }, reason: t.reason, link: nil, linkExpires: nil)
        if let stored {
            let view = PlanView(stored)
            facts.plan = view.plan
            facts.sql = stored.verdicts.map(\.sql)
            if let worst = view.verdicts.max(by: { $0.risk < $1.risk }) {
                facts.guardVerdict = GuardFacts(risk: worst.risk, rule: worst.rule, statements: view.verdicts)
            }
            facts.decision = view.decision
        }
        if let links {
            // Only a plan that waits for a person gets a signed link: it is what the link approves.
            if t.kind == .awaitingApproval, let plan = t.plan, links.canSign {
                let (url, expires) = links.signed(incident: incident.id, plan: plan)
                facts.link = url
                facts.linkExpires = iso(expires)
            } else {
                facts.link = links.page(incident: incident.id)
            }
        }
        return facts
    }
}
