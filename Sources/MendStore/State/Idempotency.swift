import MendCore

/// HTTP Idempotency-Key answers: the body's digest and, once done, the answer given.
extension StateTransaction {
    public struct IdempotentRequest: Sendable, Equatable {
        public var bodySHA256: String
        /// The stored answer once the request finished; nil while it is under way (or died).
        public var response: String?
    }

    public func idempotentRequest(key: String, table: String) async throws -> IdempotentRequest? {
        try await session.query(
            "SELECT body_sha256, status, response FROM \(t("idempotency")) WHERE key = ? AND tbl = ?", [.text(key), .text(table)]
        ).first.map { IdempotentRequest(bodySHA256: $0[0].string ?? "", response: $0[1].string == "done" ? $0[2].string : nil) }
    }

    public func startIdempotentRequest(key: String, table: String, bodySHA256: String) async throws {
        try await session.execute(
            "INSERT INTO \(t("idempotency")) (key, tbl, body_sha256, status, created_at) VALUES (?, ?, ?, 'started', ?)",
            [.text(key), .text(table), .text(bodySHA256), .double(Self.now())])
    }

    /// Stores the answer and drops the body's source offset: a retry is answered from the
    /// stored response, so the offset would only pile up (one row per request).
    public func finishIdempotentRequest(key: String, table: String, response: String, source: String) async throws {
        try await session.execute(
            "UPDATE \(t("idempotency")) SET status = 'done', response = ? WHERE key = ? AND tbl = ?",
            [.text(response), .text(key), .text(table)])
        try await session.execute("DELETE FROM \(t("offsets")) WHERE source = ? AND tbl = ?", [.text(source), .text(table)])
    }

    /// Forgets keys older than `seconds`: after that a reused key is new data. Returns how many.
    @discardableResult
    public func expireIdempotencyKeys(olderThan seconds: Double) async throws -> Int {
        let cutoff = Self.now() - seconds
        let gone = try await session.query(
            "DELETE FROM \(t("idempotency")) WHERE created_at < ? AND status = 'done' RETURNING key", [.double(cutoff)])
        return gone.count
    }
}
