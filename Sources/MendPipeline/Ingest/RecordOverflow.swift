import Foundation
import MendCore
import MendStore

/// Where a load into the overflow column is recorded: the fields that had no column of
/// their own (past the column budget, or nested deeper than the overflow depth) loaded into
/// `_mend_overflow`, and an incident with no parked records says so, one drift per key, so
/// that a person can promote a field later (`promote_field`). A key is recorded once.
extension Engine {
    /// The overflow keys the incidents of `table` record.
    func recordedOverflowKeys(table: String) async throws -> Set<String> {
        if let known = overflowRecorded[table] { return known }
        let incidents = try await state.transaction { tx in try await tx.overflowIncidents(table: table) }
        let known = Set(incidents.flatMap { $0.drifts.map(\.sourceKey) })
        overflowRecorded[table] = known
        return known
    }

    /// The overflow drifts among `drifts` that no incident of `table` records yet.
    func unrecordedOverflow(_ drifts: [String: Drift], table: String) async throws -> [Drift] {
        guard !drifts.isEmpty else { return [] }
        return Engine.unrecorded(drifts, known: try await recordedOverflowKeys(table: table))
    }

    static func unrecorded(_ drifts: [String: Drift], known: Set<String>) -> [Drift] {
        drifts.values.filter { !known.contains($0.sourceKey) }.sorted { $0.sourceKey < $1.sourceKey }
    }

    /// Called once the transaction that recorded `drifts` committed.
    func markOverflowRecorded(_ drifts: [Drift], table: String) {
        guard !drifts.isEmpty else { return }
        overflowRecorded[table, default: []].formUnion(drifts.map(\.sourceKey))
    }

    /// Opens the incident that records `drifts` (at most `Overflow.maxRecordedKeys`), in the caller's transaction.
    static func recordOverflow(_ drifts: [Drift], table: String, actor: String, in tx: StateTransaction) async throws -> Int64? {
        guard !drifts.isEmpty else { return nil }
        let kept = Array(drifts.prefix(Overflow.maxRecordedKeys))
        // Short and unique: no parked record is grouped under it, and it is shown in lists.
        let full = Drift.signature(of: kept)
        let signature = full.utf8.count <= 200 ? full : "overflow:\(kept.count) keys:\(Identifier.fnv1a32Hex(full))"
        let id = try await tx.createIncident(table: table, signature: signature, drifts: kept)
        try await tx.audit(
            .incidentOpened(
                incident: id, table: table, signature: signature, kinds: [.overflow],
                firstReason: "\(kept.count) field\(kept.count == 1 ? "" : "s") loaded into \(Overflow.column): \(kept[0].reason)"),
            actor: actor)
        return id
    }
}
