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
        guard let incident = try await state.transaction({ tx in try await tx.incident(incidentID) }) else {
            throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
        }
        let plan = try await currentPlan(incidentID: incidentID)
        let quarantineAll = plan?.plan.status == .applied && plan?.plan.operations.contains(where: { $0.kind == .quarantine }) == true
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
            // Two workers may replay the same incident: the per-table replay lock makes the
            // second read only what the first left parked, so no record loads twice.
            let chunk = try await state.transaction(lockKey: "replay:" + table) { tx -> (ReplayResult, Int64, Bool, [Drift]) in
                var r = ReplayResult()
                if quarantineAll {
                    let records = try await tx.parkedRecords(incidentID: incidentID, limit: 2000, afterID: cursor)
                    guard let last = records.last?.id else { return (r, cursor, true, []) }
                    try await tx.quarantineParked(records, reason: "quarantined by plan \(plan?.plan.id ?? 0)")
                    r.quarantined = Int64(records.count)
                    try await tx.recordMinute(table: table, .init(quarantined: r.quarantined))
                    return (r, last, false, [])
                }
                let records = try await tx.parkedTexts(incidentID: incidentID, limit: 2000, afterID: cursor)
                guard let last = records.last?.id else { return (r, cursor, true, []) }
                guard let schema = try await tx.schema(table) else { throw PipelineError.notFound("table \(table) is gone") }
                var validator = Validator(schema: schema, limits: limits)
                // Parked records are flattened against the table's key map like on arrival; a key
                // path it does not know yet (parked before the map existed) gets its column here.
                var flattener = Flattener(overflowDepth: overflowDepth, keys: schema.keys, assigns: true)
                var rows: [[SQLValue]] = []
                var loadedIDs: [Int64] = []
                var coerced = 0
                var open = try await tx.openIncidentIDs(table)
                for rec in records {
                    guard case .object(let members) = try JSONParser.parse(rec.record) else { continue }
                    switch validator.fit(flattener.flatten(members)) {
                    case .row(let row, let c):
                        rows.append(row)
                        loadedIDs.append(rec.id)
                        coerced += c
                    case .drifts(let drifts):
                        let sig = Drift.signature(of: drifts)
                        if sig == incident.signature { continue }
                        let target: Int64
                        if let id = open[sig] {
                            target = id
                        } else {
                            target = try await tx.createIncident(table: table, signature: sig, drifts: drifts)
                            open[sig] = target
                            try await tx.audit(
                                .incidentOpenedByReplay(incident: target, table: table, signature: sig, fromReplayOf: incidentID),
                                actor: who)
                        }
                        try await tx.reassignParked(
                            id: rec.id, incidentID: target, drifts: drifts, reason: drifts.map(\.reason).joined(separator: "; "))
                    }
                }
                try await tx.addKeys(table, flattener.added)
                if !rows.isEmpty { try await tx.session.load(table: table, columns: schema.columns, rows: rows) }
                try await tx.deleteParked(ids: loadedIDs)
                try await tx.addCounters(table, input: 0, loaded: rows.count, coerced: coerced)
                try await tx.recordMinute(table: table, .init(loaded: Int64(rows.count), coerced: Int64(coerced)))
                r.loaded = Int64(rows.count)
                // Records that loaded with fields in the overflow column: recorded like on arrival.
                let overflow = Engine.unrecorded(validator.overflowed, known: known)
                _ = try await Engine.recordOverflow(overflow, table: table, actor: who, in: tx)
                return (r, last, false, overflow)
            }
            markOverflowRecorded(chunk.3, table: table)
            result.loaded += chunk.0.loaded
            result.quarantined += chunk.0.quarantined
            afterID = chunk.1
            if chunk.2 { break }
        }
        let final = result
        // Under the replay lock, so a second worker replaying the same incident reads the
        // first one's outcome instead of racing it to the compare-and-set.
        return try await state.transaction(lockKey: "replay:" + table) { tx in
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
}
