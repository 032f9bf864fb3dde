public import MendCore

/// Where the incident lifecycle's decisions are written: one `IncidentLifecycle.Change`
/// in the caller's transaction, each status guarded by a compare-and-set.
extension StateTransaction {
    /// The lifecycle of an incident as stored, or nil when there is no such incident.
    public func lifecycle(incidentID: Int64) async throws -> (IncidentLifecycle, Incident, StoredPlan?)? {
        guard let incident = try await incident(incidentID) else { return nil }
        let plan = try await currentPlan(incidentID: incidentID)
        return (IncidentLifecycle(incident: incident, latestPlan: plan.map { ($0.plan.id, $0.plan.status) }), incident, plan)
    }

    public func persist(_ change: IncidentLifecycle.Change, actor: String) async throws {
        if let p = change.plan { try await setStatus(p, decidedBy: actor) }
        if let i = change.incident { try await setStatus(i) }
        for event in change.audit { try await audit(event, actor: event.author ?? actor) }
    }
}
