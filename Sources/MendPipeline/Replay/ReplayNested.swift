import Foundation
import MendCore
import MendStore

/// Replay of records with child tables: each parked record is cut into its rows again, with
/// the same ids (from its source position or key), and loads whole into every table, or stays
/// parked whole (in the incident of the table that still drifts).
extension Engine {
    func replayNested(
        incident: Incident, root: String, rule: NestingRule, quarantineAll: Bool, plan: Int64?, by who: String
    ) async throws -> ReplayResult {
        let policy = self.policy
        let incidentID = incident.id
        let quarantineReason = quarantineAll ? "quarantined by plan \(plan ?? 0)" : nil
        // The incident's table's repair lock, the one a repair unit holds while it replays the
        // same incident: the two never load one record twice (D27). Every transaction that
        // loads or moves an incident's records holds its table's lock, so a record moved on to
        // an incident of another table of the tree is seen there only once the move commits.
        let lock = incident.table
        var result = ReplayResult()
        var afterID: Int64 = 0
        while true {
            let cursor = afterID
            let chunk = try await state.transaction(lockKey: lock) { tx in
                let c = try await Engine.replayNestedChunk(
                    incident, root: root, rule: rule, quarantineReason: quarantineReason, after: cursor, policy: policy, by: who,
                    in: tx)
                try await tx.recordMinute(
                    table: root, .init(loaded: c.result.loaded, quarantined: c.result.quarantined, coerced: c.coerced))
                return c
            }
            result.loaded += chunk.result.loaded
            result.quarantined += chunk.result.quarantined
            guard let last = chunk.last else { break }
            afterID = last
        }
        let final = result
        return try await state.transaction(lockKey: lock) { tx in
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

    /// One chunk of a nested incident's parked records after `cursor`, in the caller's
    /// transaction (a `mend replay`'s own, or a repair unit's): quarantined whole when a plan
    /// said so, or each record cut into its rows again and loaded whole into every table of
    /// the tree, or moved whole to the incident of the table that still drifts. `last` is nil
    /// when nothing was left. Counters are written here (the root's counts records, a child's
    /// its rows); the caller records the minute's counts, under the root.
    static func replayNestedChunk(
        _ incident: Incident, root: String, rule: NestingRule, quarantineReason: String?, after cursor: Int64, policy: Policy,
        by who: String, in tx: StateTransaction
    ) async throws -> (result: ReplayResult, last: Int64?, coerced: Int64) {
        let overflowDepth = policy.overflowDepth(table: root)
        let incidentID = incident.id
        var r = ReplayResult()
        let records = try await tx.parkedRecords(incidentID: incidentID, limit: 500, afterID: cursor)
        guard let last = records.last?.id else { return (r, nil, 0) }
        if let quarantineReason {
            try await tx.quarantineParked(records, reason: quarantineReason)
            r.quarantined = Int64(records.count)
            return (r, last, 0)
        }
        var schemas: [String: TableSchema] = [:]
        var flatteners: [String: Flattener] = [:]
        var validators: [String: Validator] = [:]
        // The records that fit every table: each one's rows, and its coercions.
        var fitting: [(id: Int64, rows: [(String, [SQLValue])], coerced: Int)] = []
        var mover = ReplayMover(incident: incident, by: who)
        for rec in records {
            guard case .object(let members) = try JSONParser.parse(rec.record) else { continue }
            var fitted: [(String, [SQLValue])] = []
            var drifted: (table: String, drifts: [Drift])? = nil
            var c = 0
            for row in Engine.rows(members, table: root, rule: rule, source: rec.source, line: rec.line) {
                let t = row.table
                if schemas[t] == nil, let s = try await tx.schema(t) {
                    schemas[t] = s
                    flatteners[t] = Engine.nestedFlattener(budget: row.budget, rule: rule, overflowDepth: overflowDepth, keys: s.keys)
                    validators[t] = Validator(schema: s, limits: policy.recordLimits(table: t))
                }
                guard flatteners[t] != nil, validators[t] != nil else {
                    drifted = (
                        t,
                        [
                            Drift(
                                kind: .unknownField, column: "", sourceKey: "", observed: nil, expected: nil,
                                reason: "table \(t) does not exist")
                        ]
                    )
                    break
                }
                let fields = row.links + (flatteners[t]?.flatten(row.members) ?? [])
                switch validators[t]?.fit(fields) {
                case .row(let values, let n)?:
                    fitted.append((t, values))
                    c += n
                case .drifts(let drifts)?:
                    drifted = (t, drifts)
                case nil:
                    break
                }
                if drifted != nil { break }
            }
            if let d = drifted {
                try await mover.move(rec.id, table: d.table, d.drifts, reason: Engine.reason(d.table, root: root, d.drifts), in: tx)
            } else {
                fitting.append((rec.id, fitted, c))
            }
        }
        for (t, f) in flatteners.sorted(by: { $0.key < $1.key }) where !f.added.isEmpty { try await tx.addKeys(t, f.added) }
        // A record loads whole or not at all: a row the database refuses (a constraint added by
        // hand, a key) keeps its record parked, moved to the incident of the table that refused
        // it, and the others load again without it.
        var refused: [Int64: (table: String, drift: Drift)] = [:]
        var loadedRows: [String: Int] = [:]
        while true {
            var byTable: [String: (rows: [[SQLValue]], origins: [Int64])] = [:]
            for record in fitting where refused[record.id] == nil {
                for (t, values) in record.rows {
                    byTable[t, default: ([], [])].rows.append(values)
                    byTable[t, default: ([], [])].origins.append(record.id)
                }
            }
            do {
                loadedRows = try await tx.savepoint {
                    var now: [Int64: (table: String, drift: Drift)] = [:]
                    var loaded: [String: Int] = [:]
                    // Parents before their children: their names sort so.
                    for (t, group) in byTable.sorted(by: { $0.key < $1.key }) {
                        guard let columns = schemas[t]?.columns else { continue }
                        for (r, message) in try await tx.session.loadIsolating(table: t, columns: columns, rows: group.rows) {
                            now[group.origins[r]] = (t, Drift.rejectedByDatabase(message))
                        }
                        loaded[t] = group.rows.count
                    }
                    if !now.isEmpty { throw NestedReplayRefusal(records: now) }
                    return loaded
                }
                break
            } catch let e as NestedReplayRefusal {
                refused.merge(e.records) { a, _ in a }
            }
        }
        for (id, why) in refused.sorted(by: { $0.key < $1.key }) {
            try await mover.move(id, table: why.table, [why.drift], reason: Engine.reason(why.table, root: root, [why.drift]), in: tx)
        }
        for (t, n) in loadedRows.sorted(by: { $0.key < $1.key }) where t != root {
            try await tx.addCounters(t, input: n, loaded: n, coerced: 0)
        }
        let loaded = fitting.filter { refused[$0.id] == nil }
        let loadedIDs = loaded.map(\.id)
        let coerced = loaded.reduce(0) { $0 + $1.coerced }
        try await tx.deleteParked(ids: loadedIDs)
        // Conservation counts records: the root table's counter, one per record.
        try await tx.addCounters(root, input: 0, loaded: loadedIDs.count, coerced: coerced)
        r.loaded = Int64(loadedIDs.count)
        return (r, last, Int64(coerced))
    }
}

/// Rows of a replayed chunk the database refused, by parked record: rolled back, and loaded
/// again without those records.
private struct NestedReplayRefusal: Error {
    var records: [Int64: (table: String, drift: Drift)]
}
