import Foundation
import MendCore
import MendStore

/// Records a person sets aside for good: moved from parked to quarantine with the
/// reason, never loaded, never deleted (conservation holds).
extension Engine {
    public struct QuarantineResult: Sendable, Codable, Equatable {
        public var quarantined: Int
        public var stillParked: Int64
        public var resolved: Bool
        /// Ids that were asked for but are not parked records of this incident.
        public var notFound: [Int64]
    }

    /// Moves parked records of an incident to quarantine. `parkedIDs` nil means all of
    /// them. When nothing stays parked the incident is resolved.
    public func quarantine(incidentID: Int64, parkedIDs: [Int64]?, by who: String, reason: String) async throws -> QuarantineResult {
        try await bootstrap()
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw PipelineError.input("a reason is required to quarantine records; it is kept beside each record")
        }
        return try await state.transaction { tx in
            guard let incident = try await tx.incident(incidentID) else {
                throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
            }
            let parked = try await tx.parkedRecords(incidentID: incidentID)
            var chosen = parked
            var missing: [Int64] = []
            if let ids = parkedIDs {
                let wanted = Set(ids)
                chosen = parked.filter { wanted.contains($0.id) }
                let found = Set(chosen.map(\.id))
                missing = ids.filter { !found.contains($0) }
            }
            if !chosen.isEmpty {
                try await tx.quarantineParked(chosen, reason: "quarantined by \(who): \(trimmed)")
                try await tx.recordMinute(table: incident.table, .init(quarantined: Int64(chosen.count)))
            }
            let left = try await tx.parkedCount(incidentID: incidentID)
            let (before, after) = try await Engine.step(
                incidentID: incidentID,
                .quarantined(count: chosen.count, reason: trimmed, parkedIDs: chosen.map(\.id), stillParked: left), by: who, in: tx)
            return QuarantineResult(
                quarantined: chosen.count, stillParked: left, resolved: after == .resolved && before != .resolved, notFound: missing)
        }
    }
}
