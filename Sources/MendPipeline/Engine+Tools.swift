import Crypto
import Foundation
import MendCore
import MendStore

/// What the MCP tools (and the built-in agent, which uses the same registry) need from
/// the engine beyond the CLI's verbs. Kept apart from Engine.swift so the tool surface
/// can grow without touching the load and repair loops.
extension Engine {
    /// Appends one entry to the hash-chained audit log in its own transaction.
    public func audit(kind: String, subject: String, actor: String, detail: [String: String]) async throws {
        try await bootstrap()
        let state = self.state
        try await warehouse.transaction { s in
            _ = try await state.audit(s, kind: kind, subject: subject, actor: actor, detail: detail)
        }
    }

    /// Lowercase hex SHA-256, for audit entries that must identify a payload without storing it.
    public nonisolated static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The tables Mend loads (and may repair).
    public func managedTables() async throws -> [String] {
        try await bootstrap()
        let state = self.state
        return try await warehouse.transaction { s in try await state.managedTables(s) }
    }

    public struct QuarantineResult: Sendable, Codable, Equatable {
        public var quarantined: Int
        public var stillParked: Int64
        public var resolved: Bool
        /// Ids that were asked for but are not parked records of this incident.
        public var notFound: [Int64]
    }

    /// Moves parked records of an incident to quarantine: kept with the reason, never
    /// loaded, never deleted (conservation holds). `parkedIDs` nil means all of them.
    /// When nothing stays parked the incident is resolved.
    public func quarantine(incidentID: Int64, parkedIDs: [Int64]?, by who: String, reason: String) async throws -> QuarantineResult {
        try await bootstrap()
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw PipelineError.input("a reason is required to quarantine records; it is kept beside each record")
        }
        let state = self.state
        return try await warehouse.transaction { s in
            guard let incident = try await state.incident(s, incidentID) else {
                throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
            }
            let parked = try await state.parkedRecords(s, incidentID: incidentID)
            var chosen = parked
            var missing: [Int64] = []
            if let ids = parkedIDs {
                let wanted = Set(ids)
                chosen = parked.filter { wanted.contains($0.id) }
                let found = Set(chosen.map(\.id))
                missing = ids.filter { !found.contains($0) }
            }
            if !chosen.isEmpty {
                try await state.quarantineParked(s, chosen, reason: "quarantined by \(who): \(trimmed)")
                try await state.audit(
                    s, kind: "records.quarantined", subject: "incident:\(incidentID)", actor: who,
                    detail: [
                        "table": incident.table, "count": String(chosen.count), "reason": trimmed,
                        "parked_ids": chosen.map { String($0.id) }.joined(separator: ","),
                    ])
            }
            let left = try await state.parkedCount(s, incidentID: incidentID)
            var resolved = false
            if left == 0, !chosen.isEmpty, incident.status != .resolved {
                try await state.setIncidentStatus(s, incidentID, .resolved)
                try await state.audit(
                    s, kind: "incident.resolved", subject: "incident:\(incidentID)", actor: who,
                    detail: ["table": incident.table, "by": "quarantine"])
                resolved = true
            }
            return QuarantineResult(quarantined: chosen.count, stillParked: left, resolved: resolved, notFound: missing)
        }
    }

    /// Up to `limit` loaded rows of a managed table, every value as text (or nil), in
    /// column order. Text keeps the adapters simple; callers re-type with the schema.
    public func sampleRows(table: String, limit: Int) async throws -> (columns: [Column], rows: [[String?]]) {
        try await bootstrap()
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        let state = self.state
        let w = warehouse
        let n = max(1, min(limit, 100))
        return try await warehouse.transaction { s in
            // Only tables Mend manages: the sample tool is not a way to read arbitrary tables.
            guard try await state.managedTables(s).contains(table), let cols = try await w.catalog(table: table, in: s) else {
                throw PipelineError.notFound("no table \(table) managed by Mend; `mend stats` lists them")
            }
            let list = cols.map { "CAST(\(Identifier.quote($0.name)) AS TEXT)" }.joined(separator: ", ")
            let rows = try await s.query(
                "SELECT \(list) FROM \(Identifier.qualified(w.targetSchema, table)) LIMIT ?", [.int(Int64(n))])
            return (cols, rows.map { $0.map(\.textForm) })
        }
    }

    /// Retires a plan that waits for approval because a new plan replaces it, so that
    /// at most one plan of an incident is ever pending. The incident is open again.
    public func supersedePendingPlan(incidentID: Int64, by who: String, reason: String) async throws -> Int64? {
        try await bootstrap()
        let state = self.state
        return try await warehouse.transaction { s -> Int64? in
            guard let current = try await state.plans(s, incidentID: incidentID).last, current.plan.status == .pendingApproval else {
                return nil
            }
            try await state.updatePlanStatus(s, current.plan.id, .rejected, by: who, note: "superseded: \(reason)")
            try await state.setIncidentStatus(s, incidentID, .open)
            try await state.audit(
                s, kind: "plan.superseded", subject: "plan:\(current.plan.id)", actor: who,
                detail: ["incident": String(incidentID), "reason": reason])
            return current.plan.id
        }
    }
}
