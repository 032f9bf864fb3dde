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
public struct NotificationFacts: Sendable, Equatable, Codable {
    public struct IncidentFacts: Sendable, Equatable, Codable {
        public var id: Int64
        public var table: String
        public var status: String
        public var signature: String
        public var kinds: [String]
        public var parked: Int
        public var openedAt: String
    }

    public struct StatementFacts: Sendable, Equatable, Codable {
        public var sql: String
        public var risk: String
        public var rule: String
        public var allowed: Bool
        public var reasons: [String]
    }

    public struct PlanFacts: Sendable, Equatable, Codable {
        public var id: Int64
        public var status: String
        public var plannedBy: String
        public var rationale: String
        public var confidence: Double
        public var operations: [PlanOperation]
        /// One line per operation, as `mend show` prints them.
        public var summary: [String]
    }

    public struct GuardFacts: Sendable, Equatable, Codable {
        /// The worst risk of the plan's statements.
        public var risk: String
        /// The rule of the worst statement.
        public var rule: String
        public var statements: [StatementFacts]
    }

    public struct DecisionFacts: Sendable, Equatable, Codable {
        public var autonomy: String
        public var reasons: [String]
    }

    /// A parked record as data from outside: cut to `SampleFacts.limit` bytes.
    public struct SampleFacts: Sendable, Equatable, Codable {
        public static let limit = 1024
        public var source: String
        public var line: Int64
        public var reason: String
        public var record: String
        public var truncated: Bool
        public var bytes: Int
    }

    public var kind: NotifyKind
    public var incident: IncidentFacts
    public var drift: [Drift]
    public var plan: PlanFacts?
    public var sql: [String]
    public var guardVerdict: GuardFacts?
    public var decision: DecisionFacts?
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
            kind: t.kind,
            incident: IncidentFacts(
                id: incident.id, table: incident.table, status: incident.status.rawValue, signature: incident.signature,
                kinds: incident.kinds.map(\.rawValue), parked: incident.parked, openedAt: iso(incident.openedAt)),
            drift: incident.drifts, plan: nil, sql: [], guardVerdict: nil, decision: nil,
            samples: parked.map {
                let view = RecordView($0.record, limit: SampleFacts.limit)
                return SampleFacts(
                    source: $0.source, line: $0.line, reason: $0.reason, record: view.text, truncated: view.truncated, bytes: view.bytes)
            }, reason: t.reason, link: nil, linkExpires: nil)
        if let stored {
            let p = stored.plan
            facts.plan = PlanFacts(
                id: p.id, status: p.status.rawValue, plannedBy: p.plannedBy, rationale: p.rationale, confidence: p.confidence,
                operations: p.operations, summary: p.operations.map(\.summary))
            facts.sql = stored.verdicts.map(\.sql)
            if !stored.verdicts.isEmpty {
                let worst = stored.verdicts.max { $0.risk < $1.risk } ?? stored.verdicts[0]
                facts.guardVerdict = GuardFacts(
                    risk: worst.risk.rawValue, rule: worst.rule,
                    statements: stored.verdicts.map {
                        StatementFacts(sql: $0.sql, risk: $0.risk.rawValue, rule: $0.rule, allowed: $0.allowed, reasons: $0.reasons)
                    })
            }
            facts.decision = stored.decision.map { DecisionFacts(autonomy: $0.autonomy.rawValue, reasons: $0.reasons) }
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
