import Foundation
public import MendCore

/// The audit writer: one hash-chained entry per state change.
extension StateTransaction {

    /// Appends one hash-chained entry. Callers hold the transaction; on PostgreSQL an
    /// advisory lock keeps two writers from chaining onto the same previous entry.
    @discardableResult
    public func audit(_ event: AuditEvent, actor: String) async throws -> AuditEntry {
        try await append(kind: event.kind, subject: event.subject, actor: actor, detail: event.detail)
    }

    private func append(kind: String, subject: String, actor: String, detail: [String: String]) async throws -> AuditEntry {
        // One chain per state schema: the lock key names it, so pipelines in other
        // schemas of the same database never wait on each other.
        if pg { try await session.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [.text("mend:audit:" + t("audit"))]) }
        let last = try await session.query("SELECT seq, hash FROM \(t("audit")) ORDER BY seq DESC LIMIT 1", [])
        let seq = (last.first?[0].int ?? 0) + 1
        let prev = last.first?[1].string ?? String(repeating: "0", count: 64)
        let at = Self.iso(Self.now())
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let detailText = String(decoding: try enc.encode(detail), as: UTF8.self)
        let hash = AuditEntry.digest(seq: seq, at: at, kind: kind, subject: subject, actor: actor, detail: detailText, prevHash: prev)
        try await session.execute(
            "INSERT INTO \(t("audit")) (seq, at, kind, subject, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [.int(seq), .text(at), .text(kind), .text(subject), .text(actor), .text(detailText), .text(prev), .text(hash)])
        return AuditEntry(seq: seq, at: at, kind: kind, subject: subject, actor: actor, detail: detailText, prevHash: prev, hash: hash)
    }

    public func auditEntries(limit: Int? = nil) async throws -> [AuditEntry] {
        let sql: String
        if let limit {
            sql =
                "SELECT seq, at, kind, subject, actor, detail, prev_hash, hash FROM (SELECT * FROM \(t("audit")) ORDER BY seq DESC LIMIT \(limit)) x ORDER BY seq"
        } else {
            sql = "SELECT seq, at, kind, subject, actor, detail, prev_hash, hash FROM \(t("audit")) ORDER BY seq"
        }
        return try await session.query(sql, []).map {
            AuditEntry(
                seq: $0[0].int ?? 0, at: $0[1].string ?? "", kind: $0[2].string ?? "", subject: $0[3].string ?? "",
                actor: $0[4].string ?? "", detail: $0[5].string ?? "", prevHash: $0[6].string ?? "", hash: $0[7].string ?? "")
        }
    }
}
