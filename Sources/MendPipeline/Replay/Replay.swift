import Foundation
import MendCore
import MendStore

/// The replay step: parked records back through validation after a repair.
extension Engine {
    public struct ReplayResult: Sendable, Codable {
        public var loaded: Int64 = 0
        public var stillParked: Int64 = 0
        public var quarantined: Int64 = 0
        public var resolved = false
    }

    /// Runs an incident's parked records through validation again. Those that fit load;
    /// those that still drift move to the incident of their new signature.
    public func replay(incidentID: Int64, by who: String) async throws -> ReplayResult {
        try await bootstrap()
        guard let (_, incident, plan) = try await state.transaction({ tx in try await tx.lifecycle(incidentID: incidentID) }) else {
            throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
        }
        let quarantineAll = plan?.plan.status == .applied && plan?.plan.operations.contains(where: { $0.kind == .quarantine }) == true
        let quarantineReason = quarantineAll ? "quarantined by plan \(plan?.plan.id ?? 0)" : nil
        let table = incident.table
        // Records with child tables park under their root table: they replay whole.
        let first = try await state.transaction { tx in try await tx.parkedRecords(incidentID: incidentID, limit: 1).first?.table }
        if let root = first, let rule = policy.nesting(table: root) {
            return try await replayNested(
                incident: incident, root: root, rule: rule, quarantineAll: quarantineAll, plan: plan?.plan.id, by: who)
        }
        let limits = policy.recordLimits(table: table)
        let overflowDepth = policy.overflowDepth(table: table)
        var result = ReplayResult()
        var afterID: Int64 = 0
        while true {
            let cursor = afterID
            let known = try await recordedOverflowKeys(table: table)
            // Two workers may replay the same incident: the table's repair lock (which the
            // repair unit also holds) makes the second read only what the first left parked,
            // so no record loads twice.
            let chunk = try await state.transaction(lockKey: table) { tx in
                let c = try await Engine.replayChunk(
                    incident, quarantineReason: quarantineReason, after: cursor, limits: limits, overflowDepth: overflowDepth,
                    known: known, by: who, in: tx)
                try await tx.recordMinute(
                    table: table, .init(loaded: c.result.loaded, quarantined: c.result.quarantined, coerced: c.coerced))
                return c
            }
            markOverflowRecorded(chunk.overflow, table: table)
            result.loaded += chunk.result.loaded
            result.quarantined += chunk.result.quarantined
            guard let last = chunk.last else { break }
            afterID = last
        }
        let final = result
        // Under the lock, so a second worker replaying the same incident reads the first
        // one's outcome instead of racing it to the compare-and-set.
        return try await state.transaction(lockKey: table) { tx in
            var r = final
            r.stillParked = try await tx.parkedCount(incidentID: incidentID)
            try await tx.markReplayed(incidentID)
            let (before, after) = try await Engine.step(
                incidentID: incidentID, .replayed(loaded: r.loaded, quarantined: r.quarantined, stillParked: r.stillParked), by: who,
                in: tx)
            r.resolved = after == .resolved && before != .resolved
            return r
        }
    }

    /// One chunk of an incident's parked records after `cursor`, in the caller's transaction:
    /// quarantined (when a plan said so) or validated again, loaded when they fit, moved to
    /// the incident of their new drift when they do not. `last` is nil when nothing was left.
    /// The caller records the minute's counts (the unit adds them up once). `schema` is the
    /// table's schema as the caller's transaction holds it (nil reads it here).
    static func replayChunk(
        _ incident: Incident, quarantineReason: String?, after cursor: Int64, limits: RecordLimits, overflowDepth: Int?,
        known: Set<String>, schema current: TableSchema? = nil, by who: String, in tx: StateTransaction
    ) async throws -> (result: ReplayResult, last: Int64?, coerced: Int64, overflow: [Drift]) {
        var r = ReplayResult()
        let table = incident.table
        let incidentID = incident.id
        if let quarantineReason {
            let records = try await tx.parkedRecords(incidentID: incidentID, limit: 2000, afterID: cursor)
            guard let last = records.last?.id else { return (r, nil, 0, []) }
            try await tx.quarantineParked(records, reason: quarantineReason)
            r.quarantined = Int64(records.count)
            return (r, last, 0, [])
        }
        let records = try await tx.parkedTexts(incidentID: incidentID, limit: 2000, afterID: cursor)
        guard let last = records.last?.id else { return (r, nil, 0, []) }
        let read: TableSchema? = if let current { current } else { try await tx.schema(table) }
        guard let schema = read else { throw PipelineError.notFound("table \(table) is gone") }
        var validator = Validator(schema: schema, limits: limits)
        // Parked records are flattened against the table's key map like on arrival; a key
        // path it does not know yet (parked before the map existed) gets its column here.
        var flattener = Flattener(overflowDepth: overflowDepth, keys: schema.keys, assigns: true)
        var rows: [[SQLValue]] = []
        var fitting: [(id: Int64, coerced: Int)] = []
        var mover = ReplayMover(incident: incident, by: who)
        for rec in records {
            guard case .object(let members) = try JSONParser.parse(rec.record) else { continue }
            switch validator.fit(flattener.flatten(members)) {
            case .row(let row, let c):
                rows.append(row)
                fitting.append((rec.id, c))
            case .drifts(let drifts):
                try await mover.move(rec.id, table: table, drifts, reason: drifts.map(\.reason).joined(separator: "; "), in: tx)
            }
        }
        try await tx.addKeys(table, flattener.added)
        // A row the database refuses (a constraint added by hand, a value out of range) keeps
        // its record parked, moved to an incident with the database's words; the rest load.
        var refused = Set<Int>()
        if !rows.isEmpty {
            for (i, message) in try await tx.session.loadIsolating(table: table, columns: schema.columns, rows: rows) {
                refused.insert(i)
                let drift = Drift.rejectedByDatabase(message)
                try await mover.move(fitting[i].id, table: table, [drift], reason: drift.reason, in: tx)
            }
        }
        let loaded = fitting.indices.filter { !refused.contains($0) }.map { fitting[$0] }
        let coerced = loaded.reduce(0) { $0 + $1.coerced }
        try await tx.deleteParked(ids: loaded.map(\.id))
        try await tx.addCounters(table, input: 0, loaded: loaded.count, coerced: coerced)
        r.loaded = Int64(loaded.count)
        // Records that loaded with fields in the overflow column: recorded like on arrival.
        let overflow = Engine.unrecorded(validator.overflowed, known: known)
        _ = try await Engine.recordOverflow(overflow, table: table, actor: who, in: tx)
        return (r, last, Int64(coerced), overflow)
    }
}

/// Moves a replayed record that still does not fit to the incident of its drifts (opened if none
/// is), under the table whose row drifted; a record of the incident being replayed stays.
struct ReplayMover {
    let incident: Incident
    let who: String
    /// Open incidents by table, then by drift signature.
    private var open: [String: [String: Int64]] = [:]

    init(incident: Incident, by who: String) {
        self.incident = incident
        self.who = who
    }

    mutating func move(_ id: Int64, table: String, _ drifts: [Drift], reason: String, in tx: StateTransaction) async throws {
        let sig = Drift.signature(of: drifts)
        if table == incident.table && sig == incident.signature { return }
        if open[table] == nil { open[table] = try await tx.openIncidentIDs(table) }
        let target: Int64
        if let existing = open[table]?[sig] {
            target = existing
        } else {
            target = try await tx.createIncident(table: table, signature: sig, drifts: drifts)
            open[table, default: [:]][sig] = target
            try await tx.audit(
                .incidentOpenedByReplay(incident: target, table: table, signature: sig, fromReplayOf: incident.id), actor: who)
        }
        try await tx.reassignParked(id: id, incidentID: target, drifts: drifts, reason: reason)
    }
}
