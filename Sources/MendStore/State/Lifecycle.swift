public import MendCore

/// Where the incident lifecycle's decisions are written: one `IncidentLifecycle.Change`
/// in the caller's transaction, each status guarded by a compare-and-set.
extension StateTransaction {
    /// An incident as its lifecycle reads it: the machine, the incident and its latest plan.
    public struct IncidentState: Sendable {
        public var machine: IncidentLifecycle
        public var incident: Incident
        public var plan: StoredPlan?

        public init(machine: IncidentLifecycle, incident: Incident, plan: StoredPlan?) {
            self.machine = machine
            self.incident = incident
            self.plan = plan
        }
    }

    /// The lifecycle of an incident as stored, or nil when there is no such incident.
    public func lifecycle(incidentID: Int64) async throws -> (IncidentLifecycle, Incident, StoredPlan?)? {
        guard let incident = try await incident(incidentID) else { return nil }
        let plan = try await currentPlan(incidentID: incidentID)
        let s = Self.state(incident, plan)
        return (s.machine, s.incident, s.plan)
    }

    /// The open and waiting incidents of a table with their latest plans, oldest first:
    /// two statements, however many incidents (the repair unit reads them once).
    public func lifecycles(table: String) async throws -> [IncidentState] {
        let incidents = try await incidents(where: "i.tbl = ? AND i.status IN ('open', 'pending_approval')", [.text(table)])
        guard !incidents.isEmpty else { return [] }
        let latest = try await plans(
            where:
                "id IN (SELECT MAX(id) FROM \(t("plans")) WHERE incident_id IN (SELECT id FROM \(t("incidents")) WHERE tbl = ? AND status IN ('open', 'pending_approval')) GROUP BY incident_id)",
            [.text(table)])
        let byIncident = Dictionary(latest.map { ($0.plan.incidentID, $0) }, uniquingKeysWith: { a, b in a.plan.id > b.plan.id ? a : b })
        return incidents.map { Self.state($0, byIncident[$0.id]) }
    }

    static func state(_ incident: Incident, _ plan: StoredPlan?) -> IncidentState {
        let refused = plan.map { $0.decision?.autonomy == .deny || $0.verdicts.contains { !$0.allowed } } ?? false
        return IncidentState(
            machine: IncidentLifecycle(
                incident: incident, latestPlan: plan.map { ($0.plan.id, $0.plan.status) }, refusedByJudge: refused),
            incident: incident, plan: plan)
    }

    public func persist(_ change: IncidentLifecycle.Change, actor: String) async throws {
        if let p = change.plan { try await setStatus(p, decidedBy: actor) }
        if let i = change.incident { try await setStatus(i) }
        try await audit(change.audit.map { ($0, $0.author ?? actor) })
    }
}
