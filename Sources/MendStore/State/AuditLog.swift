import Foundation
public import MendCore

/// The audit writer: one hash-chained entry per state change.
extension StateTransaction {

    /// Appends one hash-chained entry. Callers hold the transaction; on PostgreSQL an
    /// advisory lock keeps two writers from chaining onto the same previous entry.
    @discardableResult
    public func audit(_ event: AuditEvent, actor: String) async throws -> AuditEntry {
        try await audit([(event, actor)])[0]
    }

    /// Appends entries in order, in one statement. The chain's head is read once per
    /// transaction (under the lock, which is held until commit) and then carried: the
    /// entries of a unit of work cost one INSERT each call, not a read and an INSERT each.
    /// Each entry's hash still covers the one before, so the chain verifies entry by entry.
    @discardableResult
    public func audit(_ events: [(AuditEvent, String)]) async throws -> [AuditEntry] {
        guard !events.isEmpty else { return [] }
        var (seq, prev) = try await chainHead()
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var entries: [AuditEntry] = []
        for (event, actor) in events {
            seq += 1
            let at = Self.iso(Self.now())
            let detail = String(decoding: try enc.encode(event.detail), as: UTF8.self)
            let hash = AuditEntry.digest(
                seq: seq, at: at, kind: event.kind, subject: event.subject, actor: actor, detail: detail, prevHash: prev)
            entries.append(
                AuditEntry(
                    seq: seq, at: at, kind: event.kind, subject: event.subject, actor: actor, detail: detail, prevHash: prev, hash: hash))
            prev = hash
        }
        try await session.insertMany(
            "INSERT INTO \(t("audit")) (seq, at, kind, subject, actor, detail, prev_hash, hash) VALUES", tuple: "(?, ?, ?, ?, ?, ?, ?, ?)",
            entries.map {
                [
                    .int($0.seq), .text($0.at), .text($0.kind), .text($0.subject), .text($0.actor), .text($0.detail), .text($0.prevHash),
                    .text($0.hash),
                ]
            })
        chain.set(seq: seq, hash: prev)
        return entries
    }

    /// The last entry's sequence and hash: read (under the chain's lock) the first time this
    /// transaction appends, carried after that.
    private func chainHead() async throws -> (Int64, String) {
        if let head = chain.head { return head }
        // One chain per state schema: the lock key names it, so pipelines in other
        // schemas of the same database never wait on each other.
        if pg { try await session.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [.text("mend:audit:" + t("audit"))]) }
        let last = try await session.query("SELECT seq, hash FROM \(t("audit")) ORDER BY seq DESC LIMIT 1", [])
        return (last.first?[0].int ?? 0, last.first?[1].string ?? String(repeating: "0", count: 64))
    }

    public func auditEntries(limit: Int? = nil) async throws -> [AuditEntry] {
        guard let limit else {
            return try await auditRows("SELECT \(Self.auditColumns) FROM \(t("audit")) ORDER BY seq", [])
        }
        return try await auditEntries(before: nil, limit: limit)
    }

    /// One page, newest first: up to `limit` entries before `seq` (nil: the newest).
    public func auditEntries(before seq: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await auditRows(
            "SELECT \(Self.auditColumns) FROM (SELECT * FROM \(t("audit")) WHERE seq < ? ORDER BY seq DESC LIMIT ?) x ORDER BY seq",
            [.int(seq ?? Int64.max), .int(Int64(limit))])
    }

    /// Entries after `seq`, oldest first: what incremental verification reads.
    public func auditEntries(after seq: Int64, limit: Int) async throws -> [AuditEntry] {
        try await auditRows(
            "SELECT \(Self.auditColumns) FROM \(t("audit")) WHERE seq > ? ORDER BY seq LIMIT ?", [.int(seq), .int(Int64(limit))])
    }

    public func auditEntry(seq: Int64) async throws -> AuditEntry? {
        try await auditRows("SELECT \(Self.auditColumns) FROM \(t("audit")) WHERE seq = ?", [.int(seq)]).first
    }

    /// The last entry a verification walked to: the next one starts from here.
    public func auditCheckpoint() async throws -> (seq: Int64, hash: String)? {
        try await session.query("SELECT seq, hash FROM \(t("audit_checkpoint")) WHERE id = 1", []).first.map {
            ($0[0].int ?? 0, $0[1].string ?? "")
        }
    }

    public func setAuditCheckpoint(seq: Int64, hash: String) async throws {
        try await session.execute(
            "INSERT INTO \(t("audit_checkpoint")) (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [.int(seq), .text(hash)])
    }

    static let auditColumns = "seq, at, kind, subject, actor, detail, prev_hash, hash"

    private func auditRows(_ sql: String, _ params: [SQLValue]) async throws -> [AuditEntry] {
        try await session.query(sql, params).map {
            AuditEntry(
                seq: $0[0].int ?? 0, at: $0[1].string ?? "", kind: $0[2].string ?? "", subject: $0[3].string ?? "",
                actor: $0[4].string ?? "", detail: $0[5].string ?? "", prevHash: $0[6].string ?? "", hash: $0[7].string ?? "")
        }
    }
}
