import MendCore
import MendStore

/// Totals for `/metrics`, read from Mend's state so that work done by other processes
/// on the same database (`mend ingest`, `mend approve`) is counted too.
public struct MetricsSnapshot: Sendable {
    /// Records read from the sources (counted), and where they are now (loaded + parked +
    /// quarantined): equal unless records left Mend's state outside Mend.
    public var input: Int64 = 0
    public var accounted: Int64 = 0
    public var loaded: Int64 = 0
    public var parked: Int64 = 0
    public var quarantined: Int64 = 0
    public var incidentsOpened: Int64 = 0
    public var incidentsResolved: Int64 = 0
    public var openIncidents: Int64 = 0
    /// Applied plans by their highest statement risk.
    public var repairsByRisk: [String: Int64] = [:]
    /// (incident id, seconds from first parked record to resolving replay).
    public var repairTimes: [(Int64, Double)] = []
    /// Planner token use and estimated cost, per model.
    public var usage: [(model: String, tokensIn: Int64, tokensOut: Int64, cost: Double)] = []
}

extension Engine {
    public func metricsSnapshot() async throws -> MetricsSnapshot {
        try await bootstrap()
        return try await state.transaction { tx in
            var m = MetricsSnapshot()
            for t in try await tx.stats() {
                m.input += t.input
                m.accounted += t.accounted
                m.loaded += t.loaded
                m.parked += t.parked
                m.quarantined += t.quarantined
            }
            let incidents = try await tx.incidents()
            m.incidentsOpened = Int64(incidents.count)
            m.incidentsResolved = Int64(incidents.filter { $0.status == .resolved }.count)
            m.openIncidents = Int64(incidents.filter { $0.status == .open || $0.status == .pendingApproval }.count)
            for verdicts in try await tx.appliedPlanVerdicts() {
                m.repairsByRisk[(verdicts.map(\.risk).max() ?? .low).rawValue, default: 0] += 1
            }
            m.repairTimes = try await tx.repairTimes().map { ($0.0, $0.2) }
            m.usage = try await tx.usageByModel()
            return m
        }
    }
}
