import Foundation
public import MendCore

/// Incidents: opened by the park step, advanced by the lifecycle.
extension StateTransaction {

    /// `status IN (…)` for the open incidents (`IncidentStatus.isOpen`), as SQL literals:
    /// the statuses are Mend's own constants, never input.
    static var openStatusList: String { IncidentStatus.openCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") }

    /// Locks the incidents among `ids` that are still open or waiting, in id order, and returns
    /// them: a batch parks into them under a shared lock, a repair unit replays them under an
    /// exclusive one, so a batch never parks into an incident a unit resolves without having
    /// seen its records (it waits, then opens a new incident). Both lock before any audit
    /// entry (the chain's lock), so the two never wait on each other in turn. SQLite
    /// serializes whole transactions: nothing to lock there.
    public func lockIncidents(_ ids: [Int64], exclusive: Bool) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        let rows = try await session.query(
            "SELECT id FROM \(t("incidents")) WHERE id IN (\(marks)) AND status IN (\(Self.openStatusList)) ORDER BY id"
                + (pg ? (exclusive ? " FOR UPDATE" : " FOR SHARE") : ""),
            ids.map(SQLValue.int))
        return Set(rows.compactMap { $0[0].int })
    }

    /// Open incidents of a table by signature.
    public func openIncidentIDs(_ table: String) async throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for r in try await session.query(
            "SELECT signature, id FROM \(t("incidents")) WHERE tbl = ? AND status IN (\(Self.openStatusList))", [.text(table)])
        {
            out[r[0].string ?? ""] = r[1].int ?? 0
        }
        return out
    }

    public func createIncident(table: String, signature: String, drifts: [Drift]) async throws -> Int64 {
        let kinds = Array(Set(drifts.map(\.kind))).sorted().map(\.rawValue).joined(separator: ",")
        let now = Self.now()
        let rows = try await session.query(
            "INSERT INTO \(t("incidents")) (tbl, signature, kinds, status, opened_at, first_parked_at, drifts) VALUES (?, ?, ?, 'open', ?, ?, \(jp)) RETURNING id",
            [.text(table), .text(signature), .text(kinds), .double(now), .double(now), .text(try encode(drifts))])
        return rows.first?.first?.int ?? 0
    }

    /// Moves an incident from one status to another, only if it still has the first:
    /// the loser of a race between two approvers or two workers gets `StoreError.conflict`.
    public func setStatus(_ change: IncidentLifecycle.StatusChange<IncidentStatus>) async throws {
        let resolved: SQLValue = change.to == .resolved ? .double(Self.now()) : .null
        let won = try await session.query(
            "UPDATE \(t("incidents")) SET status = ?, resolved_at = ? WHERE id = ? AND status = ? RETURNING id",
            [.text(change.to.rawValue), resolved, .int(change.id), .text(change.from.rawValue)])
        guard !won.isEmpty else {
            throw StoreError.conflict(
                "incident \(change.id) is no longer \(change.from.rawValue) (someone else changed it first); `mend show \(change.id)` shows where it is now"
            )
        }
    }

    public func markReplayed(_ id: Int64) async throws {
        try await session.execute("UPDATE \(t("incidents")) SET last_replayed_at = ? WHERE id = ?", [.double(Self.now()), .int(id)])
    }

    public func incident(_ id: Int64) async throws -> Incident? {
        try await incidents(where: "i.id = ?", [.int(id)]).first
    }

    /// Incidents, oldest first, of one table and in one status when given.
    public func incidents(table: String? = nil, status: IncidentStatus? = nil) async throws -> [Incident] {
        var clauses = ["1 = 1"]
        var binds: [SQLValue] = []
        if let table {
            clauses.append("i.tbl = ?")
            binds.append(.text(table))
        }
        if let status {
            clauses.append("i.status = ?")
            binds.append(.text(status.rawValue))
        }
        return try await incidents(where: clauses.joined(separator: " AND "), binds)
    }

    /// The incidents of `table` that record only fields loaded into the overflow column:
    /// one indexed read that finds none on a table without one.
    public func overflowIncidents(table: String) async throws -> [Incident] {
        try await incidents(where: "i.tbl = ? AND i.kinds = ?", [.text(table), .text(DriftKind.overflow.rawValue)])
    }

    func incidents(where clause: String, _ binds: [SQLValue]) async throws -> [Incident] {
        let rows = try await session.query(
            "SELECT i.id, i.tbl, i.signature, i.kinds, i.status, i.opened_at, i.resolved_at, CAST(i.drifts AS TEXT), (SELECT COUNT(*) FROM \(t("parked")) p WHERE p.incident_id = i.id) FROM \(t("incidents")) i WHERE \(clause) ORDER BY i.id",
            binds)
        return rows.map { r in
            Incident(
                id: r[0].int ?? 0, table: r[1].string ?? "", signature: r[2].string ?? "",
                kinds: (r[3].string ?? "").split(separator: ",").compactMap { DriftKind(rawValue: String($0)) },
                status: IncidentStatus(rawValue: r[4].string ?? "") ?? .open, parked: Int(r[8].int ?? 0),
                openedAt: Date(timeIntervalSince1970: r[5].double ?? 0),
                resolvedAt: r[6].double.map { Date(timeIntervalSince1970: $0) },
                drifts: (try? decode([Drift].self, r[7].string ?? "[]")) ?? [])
        }
    }

    /// Seconds from the first parked record to the last replayed one, per resolved incident.
    public func repairTimes() async throws -> [(Int64, String, Double)] {
        try await session.query(
            "SELECT id, tbl, last_replayed_at - first_parked_at FROM \(t("incidents")) WHERE status = 'resolved' AND last_replayed_at IS NOT NULL ORDER BY id",
            []
        ).map { ($0[0].int ?? 0, $0[1].string ?? "", $0[2].double ?? 0) }
    }
}
