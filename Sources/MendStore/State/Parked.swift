import Foundation
public import MendCore

/// Where a record is parked (the dead-letter queue beside the table) and quarantined,
/// and how replay reads, moves and deletes parked records.
extension StateTransaction {
    public func park(_ records: [ParkedRecord]) async throws {
        guard !records.isEmpty else { return }
        let now = Self.now()
        var sets: [[SQLValue]] = []
        sets.reserveCapacity(records.count)
        // The records of one batch share a few drift lists: each is encoded once (a
        // JSONEncoder per record was most of the time it took to park a thousand).
        var encoded: [(drifts: [Drift], json: String)] = []
        let encoder = Self.encoder()
        for r in records {
            let drifts: String
            if let hit = encoded.last(where: { $0.drifts == r.drifts }) {
                drifts = hit.json
            } else {
                drifts = try encode(r.drifts, with: encoder)
                if encoded.count < 64 { encoded.append((r.drifts, drifts)) }
            }
            // jsonb cannot hold \u0000: such records keep their exact text in `raw` instead.
            let asRaw = pg && Self.escapesNUL(r.record)
            sets.append([
                .text(r.table), .int(r.incidentID), .text(r.source), .int(r.line), asRaw ? .null : .text(r.record),
                asRaw ? .text(r.record) : .null, .text(drifts),
                .text(r.reason), .double(now),
            ])
        }
        try await session.appendState(
            "parked", columns: ["tbl", "incident_id", "source", "line", "record", "raw", "drifts", "reason", "parked_at"],
            tuple: "(?, ?, ?, ?, \(jp), ?, \(jp), ?, ?)", rows: sets)
    }

    /// Whether the JSON text holds the escape `\u0000`. A byte scan from backslash to
    /// backslash: `String.contains` goes through Foundation's locale-aware search on Linux,
    /// which took a tenth of a drifting batch's park.
    static func escapesNUL(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { b in
            var i = 0
            while let j = b[i...].firstIndex(of: 0x5C) {
                if b.count - j >= 6, b[(j + 1)..<(j + 6)].elementsEqual("u0000".utf8) { return true }
                i = j + 2  // every backslash starts an escape of two bytes or more: `\\u0000` is no NUL
                if i >= b.count { break }
            }
            return false
        }
    }

    public func quarantine(_ records: [QuarantinedRecord]) async throws {
        guard !records.isEmpty else { return }
        let now = Self.now()
        try await session.appendState(
            "quarantine", columns: ["tbl", "source", "line", "raw", "reason", "quarantined_at"], tuple: "(?, ?, ?, ?, ?, ?)",
            rows: records.map { [.text($0.table), .text($0.source), .int($0.line), .text($0.raw), .text($0.reason), .double(now)] })
    }

    public func parkedRecords(incidentID: Int64, limit: Int = 1_000_000, afterID: Int64 = 0) async throws
        -> [ParkedRecord]
    {
        try await parked(where: "incident_id = ? AND id > ? ORDER BY id LIMIT ?", [.int(incidentID), .int(afterID), .int(Int64(limit))])
    }

    /// An incident's parked records as replay needs them: id and exact text only (decoding
    /// every record's drifts cost more than validating it again).
    public func parkedTexts(incidentID: Int64, limit: Int, afterID: Int64) async throws -> [(id: Int64, record: String)] {
        try await session.query(
            "SELECT id, COALESCE(raw, CAST(record AS TEXT)) FROM \(t("parked")) WHERE incident_id = ? AND id > ? ORDER BY id LIMIT ?",
            [.int(incidentID), .int(afterID), .int(Int64(limit))]
        ).map { r in (r[0].int ?? 0, r[1].string ?? "") }
    }

    /// Up to `limit` parked records of each incident, oldest first, in one statement: the
    /// samples a repair unit plans from, read once for all its incidents.
    public func parkedSamples(incidentIDs: [Int64], limit: Int) async throws -> [Int64: [ParkedRecord]] {
        guard !incidentIDs.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: incidentIDs.count).joined(separator: ", ")
        let rows = try await parked(
            from:
                "(SELECT *, ROW_NUMBER() OVER (PARTITION BY incident_id ORDER BY id) AS rn FROM \(t("parked")) WHERE incident_id IN (\(marks))) x",
            where: "rn <= ? ORDER BY id", incidentIDs.map(SQLValue.int) + [.int(Int64(limit))])
        return Dictionary(grouping: rows, by: \.incidentID)
    }

    /// One parked record by its id (the dashboard's full view of a truncated sample).
    public func parkedRecord(id: Int64) async throws -> ParkedRecord? {
        try await parked(where: "id = ?", [.int(id)]).first
    }

    /// The one reader of parked rows: both lookups above share its columns and decoding.
    private func parked(from: String? = nil, where clause: String, _ binds: [SQLValue]) async throws -> [ParkedRecord] {
        try await session.query(
            "SELECT id, tbl, incident_id, source, line, COALESCE(raw, CAST(record AS TEXT)), CAST(drifts AS TEXT), reason FROM \(from ?? t("parked")) WHERE \(clause)",
            binds
        ).map { r in
            ParkedRecord(
                id: r[0].int ?? 0, table: r[1].string ?? "", incidentID: r[2].int ?? 0, source: r[3].string ?? "",
                line: r[4].int ?? 0, record: r[5].string ?? "",
                drifts: (try? decode([Drift].self, r[6].string ?? "[]")) ?? [], reason: r[7].string ?? "")
        }
    }

    public func deleteParked(ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await session.executeForIDs("DELETE FROM \(t("parked")) WHERE id IN", ids)
    }

    public func reassignParked(id: Int64, incidentID: Int64, drifts: [Drift], reason: String) async throws {
        try await session.execute(
            "UPDATE \(t("parked")) SET incident_id = ?, drifts = \(jp), reason = ? WHERE id = ?",
            [.int(incidentID), .text(try encode(drifts)), .text(reason), .int(id)])
    }

    public func parkedCount(incidentID: Int64) async throws -> Int64 {
        try await session.scalarInt("SELECT COUNT(*) FROM \(t("parked")) WHERE incident_id = ?", [.int(incidentID)])
    }

    /// Moves a parked record to quarantine (a plan decided it cannot be loaded).
    public func quarantineParked(_ records: [ParkedRecord], reason: String) async throws {
        try await quarantine(
            records.map {
                QuarantinedRecord(table: $0.table, source: $0.source, line: $0.line, raw: $0.record, reason: reason + ": " + $0.reason)
            })
        try await deleteParked(ids: records.map(\.id))
    }
}
