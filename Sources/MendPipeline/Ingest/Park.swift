import Crypto
import Foundation
import MendCore
import MendStore

/// The park step: where a record that does not fit is parked. It goes beside the
/// table (the dead-letter queue) with its drifts and its exact text, into the incident
/// of its drift signature; a signature with no open incident opens one. Records that
/// are not records at all (not JSON, not an object, discarded by a contract) are
/// quarantined instead, with the reason. Both run in the batch's transaction.
enum Park {
    struct Item: Sendable {
        var drifts: [Drift]
        var record: ParkedRecord
        /// The table whose incident gets the record, when not the one it is parked under: a
        /// record with child tables parks whole under its root table, into the incident of the
        /// child table that drifted (Nested.swift).
        var incidentTable: String? = nil
        var signature: String { Drift.signature(of: drifts) }
    }

    /// Parks `items`; returns how many incidents opened and which incidents got records.
    static func park(_ items: [Item], table: String, actor: String, notifier: Notifier? = nil, in tx: StateTransaction) async throws
        -> (opened: Int64, touched: Set<Int64>)
    {
        guard !items.isEmpty else { return (0, []) }
        // The open incidents of every table this batch parks into (a record with child tables
        // parks into its child table's incident), read once per table.
        var openByTable: [String: [String: Int64]] = [:]
        for t in Set(items.map { $0.incidentTable ?? table }) { openByTable[t] = try await tx.openIncidentIDs(t) }
        // The incidents this batch parks into, locked before any audit entry: one a repair unit
        // resolved meanwhile is not parked into (its replay would never see these records).
        let existing = Set(items.compactMap { openByTable[$0.incidentTable ?? table]?[$0.signature] })
        let stillOpen = try await tx.lockIncidents(Array(existing), exclusive: false)
        for (t, open) in openByTable { openByTable[t] = open.filter { stillOpen.contains($0.value) } }
        var opened: Int64 = 0
        var touched = Set<Int64>()
        var records: [ParkedRecord] = []
        records.reserveCapacity(items.count)
        for item in items {
            var r = item.record
            let signature = item.signature
            let table = item.incidentTable ?? table
            if let id = openByTable[table]?[signature] {
                r.incidentID = id
            } else {
                let id = try await tx.createIncident(table: table, signature: signature, drifts: item.drifts)
                openByTable[table, default: [:]][signature] = id
                opened += 1
                r.incidentID = id
                try await tx.audit(
                    .incidentOpened(
                        incident: id, table: table, signature: signature, kinds: item.drifts.map(\.kind), firstReason: r.reason),
                    actor: actor)
                // Queued, not sent: the notifier reads the incident once this batch has committed.
                notifier?.post(NotifyTrigger(kind: .opened, incident: id, signature: signature))
            }
            touched.insert(r.incidentID)
            records.append(r)
        }
        try await tx.park(records)
        return (opened, touched)
    }

    /// Quarantines a batch's non-records with one audit entry per source; the entry's
    /// digest covers every record's bytes, so the log still pins exactly what was set aside.
    static func quarantine(_ records: [QuarantinedRecord], table: String, actor: String, in tx: StateTransaction) async throws {
        guard !records.isEmpty else { return }
        try await tx.quarantine(records)
        var bySource: [String: [QuarantinedRecord]] = [:]
        for q in records { bySource[q.source, default: []].append(q) }
        for (source, group) in bySource.sorted(by: { $0.key < $1.key }) {
            var h = SHA256()
            for q in group {
                h.update(data: Data(q.raw.utf8))
                h.update(data: Data([0x0A]))
            }
            let digest = h.finalize().map { String(format: "%02x", $0) }.joined()
            try await tx.audit(
                .recordsQuarantinedOnArrival(
                    source: source, table: table, count: group.count, firstLine: group.map(\.line).min() ?? 0,
                    lastLine: group.map(\.line).max() ?? 0, firstReason: group[0].reason, sha256: digest),
                actor: actor)
        }
    }
}
