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
        var signature: String { Drift.signature(of: drifts) }
    }

    /// Parks `items`; returns how many incidents opened and which incidents got records.
    static func park(_ items: [Item], table: String, actor: String, in tx: StateTransaction) async throws
        -> (opened: Int64, touched: Set<Int64>)
    {
        guard !items.isEmpty else { return (0, []) }
        var open = try await tx.openIncidentIDs(table)
        var opened: Int64 = 0
        var touched = Set<Int64>()
        var records: [ParkedRecord] = []
        records.reserveCapacity(items.count)
        for item in items {
            var r = item.record
            let signature = item.signature
            if let id = open[signature] {
                r.incidentID = id
            } else {
                let id = try await tx.createIncident(table: table, signature: signature, drifts: item.drifts)
                open[signature] = id
                opened += 1
                r.incidentID = id
                try await tx.audit(
                    .incidentOpened(
                        incident: id, table: table, signature: signature, kinds: item.drifts.map(\.kind), firstReason: r.reason),
                    actor: actor)
            }
            touched.insert(r.incidentID)
            records.append(r)
        }
        try await tx.park(records)
        return (opened, touched)
    }

    static func quarantine(_ records: [QuarantinedRecord], table: String, actor: String, in tx: StateTransaction) async throws {
        try await tx.quarantine(records)
        for q in records {
            try await tx.audit(.recordQuarantined(source: q.source, line: q.line, table: table, reason: q.reason), actor: actor)
        }
    }
}
