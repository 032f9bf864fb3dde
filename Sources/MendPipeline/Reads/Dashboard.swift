public import Foundation
public import MendCore
public import MendStore

/// One incident's way through the lifecycle, with the time of each step (epoch seconds).
public struct IncidentTimes: Sendable, Equatable {
    public var incident: Int64
    public var table: String
    public var status: IncidentStatus
    public var opened: Double
    /// A person's approval, or the policy's when it applied the plan on its own.
    public var approved: Double?
    public var approvedBy: String?
    public var applied: Double?
    public var replayed: Double?
    public var resolved: Double?
    /// Who planned the repair that was applied (or the latest plan).
    public var planner: String?
}

/// A schema change as the schema page shows it: the DDL, the diff, who and why.
public struct SchemaChange: Sendable {
    public var version: Int64?
    public var ddl: String
    public var appliedAt: Double?
    public var planID: Int64?
    public var incidentID: Int64?
    public var plannedBy: String?
    public var approvedBy: String?
    public var diff: SchemaDiff
}

/// What the overview shows, read in one transaction.
public struct DashboardData: Sendable {
    public var stats: [TableStats]
    public var incidents: [Incident]
    public var minutes: [StateStore.Minute]
    public var timelines: [IncidentTimes]
    /// Seconds from the first parked record to the replay that resolved the incident, by planner.
    public var repairs: [(planner: String, incident: Int64, seconds: Double)]
    public var pendingApprovals: Int
}

/// A small summary that changes whenever the pipeline does: the live view's signal.
public struct LiveSummary: Sendable, Equatable, Codable {
    public var loaded: Int64
    public var parked: Int64
    public var quarantined: Int64
    public var openIncidents: Int64
    public var pendingApprovals: Int
    public var auditHead: Int64
}

extension Engine {
    /// The overview's reads: counters, incidents, the last day of minutes, the lifecycle.
    public func dashboard(now: Double = Date().timeIntervalSince1970) async throws -> DashboardData {
        try await bootstrap()
        return try await state.transaction { tx in
            let stats = try await tx.stats()
            let incidents = try await tx.incidents()
            let minutes = try await tx.minutes(since: now - 24 * 3600)
            let plans = try await tx.planSummaries()
            let entries = try await tx.lifecycleEntries()
            let timelines = Engine.timelines(incidents: incidents, plans: plans, entries: entries)
            let planner = Dictionary(timelines.map { ($0.incident, $0.planner ?? "none") }, uniquingKeysWith: { a, _ in a })
            let repairs = try await tx.repairTimes().map { (planner: planner[$0.0] ?? "none", incident: $0.0, seconds: $0.2) }
            return DashboardData(
                stats: stats, incidents: incidents, minutes: minutes, timelines: timelines, repairs: repairs,
                pendingApprovals: incidents.filter { $0.status == .pendingApproval }.count)
        }
    }

    /// The live view's signal: cheap counts, read every few seconds while a page is open.
    public func liveSummary() async throws -> LiveSummary {
        try await bootstrap()
        return try await state.transaction { tx in
            let stats = try await tx.stats()
            let incidents = try await tx.incidents()
            let head = try await tx.auditEntries(limit: 1).last?.seq ?? 0
            return LiveSummary(
                loaded: stats.reduce(0) { $0 + $1.loaded }, parked: stats.reduce(0) { $0 + $1.parked },
                quarantined: stats.reduce(0) { $0 + $1.quarantined }, openIncidents: stats.reduce(0) { $0 + $1.openIncidents },
                pendingApprovals: incidents.filter { $0.status == .pendingApproval }.count, auditHead: head)
        }
    }

    /// One incident's lifecycle times.
    public func incidentTimes(_ id: Int64) async throws -> IncidentTimes? {
        try await bootstrap()
        return try await state.transaction { tx in
            guard let incident = try await tx.incident(id) else { return nil }
            let plans = try await tx.planSummaries().filter { $0.incidentID == id }
            return Engine.timelines(incidents: [incident], plans: plans, entries: try await tx.lifecycleEntries()).first
        }
    }

    /// Each schema version of a table with its diff, DDL, incident and approver; mapping
    /// repairs (which change no DDL and make no version) are listed too.
    public func schemaChanges(table given: String) async throws -> [SchemaChange] {
        try await bootstrap()
        let table = Identifier.canonical(given)
        return try await state.transaction { tx in
            guard try await tx.managedTables().contains(table), let schema = try await tx.schema(table) else { return [] }
            let history = try await tx.schemaHistory(table)
            let summaries = try await tx.planSummaries()
            let applied = summaries.filter { $0.status == .applied }
            var byPlan: [Int64: StoredPlan] = [:]
            for s in applied {
                if let p = try await tx.plan(id: s.id), p.plan.table == table { byPlan[s.id] = p }
            }
            // Walk back from today's columns: the schema before a version is the one after
            // it without the columns it added and with its widenings undone, so each diff is
            // drawn against the table as that change found it.
            var out: [SchemaChange] = []
            var versioned = Set<Int64>()
            var after = schema
            for v in history.reversed() {
                let stored = v.planID.flatMap { byPlan[$0] }
                if let id = v.planID { versioned.insert(id) }
                let diff: SchemaDiff
                if let ops = stored?.plan.operations, v.version > 1 {
                    let before = Engine.schema(after, before: ops)
                    diff = SchemaDiff(table: table, schema: before, operations: ops)
                    after = before
                } else {
                    diff = SchemaDiff(table: table, schema: nil, operations: [PlanOperation(kind: .createTable, columns: after.columns)])
                }
                out.append(
                    SchemaChange(
                        version: v.version, ddl: v.ddl, appliedAt: v.appliedAt, planID: v.planID, incidentID: stored?.plan.incidentID,
                        plannedBy: stored?.plan.plannedBy, approvedBy: stored.flatMap(Engine.approver), diff: diff))
            }
            out.reverse()
            for (id, stored) in byPlan.sorted(by: { $0.key < $1.key }) where !versioned.contains(id) {
                out.append(
                    SchemaChange(
                        version: nil, ddl: "", appliedAt: nil, planID: id, incidentID: stored.plan.incidentID,
                        plannedBy: stored.plan.plannedBy, approvedBy: Engine.approver(stored),
                        diff: SchemaDiff(table: table, schema: schema, operations: stored.plan.operations)))
            }
            return out
        }
    }

    /// The person who approved a plan; nil when the policy applied it on its own.
    static func approver(_ stored: StoredPlan) -> String? {
        stored.decision?.autonomy == .auto ? nil : stored.decidedBy
    }

    /// The table as it was before `operations` ran: their added columns gone, their widenings undone.
    static func schema(_ after: TableSchema, before operations: [PlanOperation]) -> TableSchema {
        var columns = after.columns
        for op in operations.reversed() {
            guard let name = op.column else { continue }
            switch op.kind {
            case .addColumn, .addVariantColumn, .promoteField:
                columns.removeAll { $0.name == name }
            case .widenColumn:
                if let i = columns.firstIndex(where: { $0.name == name }), let from = op.from { columns[i].type = from }
            default:
                break
            }
        }
        return TableSchema(name: after.name, columns: columns, mappings: after.mappings, version: after.version)
    }

    /// Joins incidents, plans and the lifecycle's audit entries into per-incident times.
    static func timelines(incidents: [Incident], plans: [StateStore.PlanSummary], entries: [AuditEntry]) -> [IncidentTimes] {
        let planIncident = Dictionary(plans.map { ($0.id, $0.incidentID) }, uniquingKeysWith: { a, _ in a })
        var times = Dictionary(
            incidents.map {
                (
                    $0.id,
                    IncidentTimes(
                        incident: $0.id, table: $0.table, status: $0.status, opened: $0.openedAt.timeIntervalSince1970,
                        resolved: $0.resolvedAt?.timeIntervalSince1970)
                )
            }, uniquingKeysWith: { a, _ in a })
        for p in plans where times[p.incidentID] != nil {
            // The applied plan's planner wins over a later rejected or superseded one.
            if p.status == .applied || times[p.incidentID]?.planner == nil { times[p.incidentID]?.planner = p.plannedBy }
        }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        for e in entries {
            guard let at = (iso.date(from: e.at) ?? plain.date(from: e.at))?.timeIntervalSince1970 else { continue }
            let parts = e.subject.split(separator: ":")
            guard parts.count == 2, let n = Int64(parts[1]) else { continue }
            let incident = parts[0] == "plan" ? planIncident[n] : n
            guard let incident, times[incident] != nil else { continue }
            switch e.kind {
            case "plan.approved":
                times[incident]?.approved = at
                times[incident]?.approvedBy = e.actor
            case "plan.applied":
                if times[incident]?.approved == nil {
                    times[incident]?.approved = at
                    times[incident]?.approvedBy = "policy (auto)"
                }
                times[incident]?.applied = at
            case "incident.replayed":
                times[incident]?.replayed = at
            case "incident.resolved":
                times[incident]?.resolved = at
            default:
                break
            }
        }
        return times.values.sorted { $0.incident < $1.incident }
    }
}
