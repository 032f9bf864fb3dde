import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore
import NIOCore

/// The route handlers: health, login and logout, webhook ingest, approve and reject.
extension MendRouter {

    /// Liveness: the process answers. It never asks the database, so a supervisor does not
    /// restart a server that is only waiting for its database to come back.
    func healthz() -> ServerResponse { .json(200, ["status": "ok"]) }

    /// Readiness, for load balancers: whether the database answers now, and if not, since
    /// when and why (without secrets).
    func readyz() async -> ServerResponse {
        let warehouse = engine.warehouse
        if await warehouse.probe() { return .json(200, ["status": "ready"]) }
        let h = warehouse.health.snapshot
        var body = ["status": "unavailable", "error": "the database does not answer: \(h.lastError ?? "unknown")"]
        if let since = h.downSince {
            body["down_since"] = ISO8601DateFormatter().string(from: since)
            body["down_seconds"] = String(Int(Date().timeIntervalSince(since)))
        }
        var response = ServerResponse.json(503, body)
        response.headers.append(("Retry-After", "5"))
        return response
    }

    /// An approver logs in with their own token; the session carries their name, which the
    /// audit records for every decision they make.
    func login(_ r: ServerRequest) async -> ServerResponse {
        let form = r.form
        if let wait = await sessions.loginRetryAfter() {
            return .html(
                429, Pages.login(error: "Too many wrong tokens: try again in \(Int(wait.rounded(.up))) seconds."),
                headers: [("Retry-After", String(Int(wait.rounded(.up))))])
        }
        guard case .approver(let user) = configuration.credentials.role(ofBearer: form["token"] ?? "") else {
            await sessions.loginFailed()
            return .html(
                401,
                Pages.login(
                    error: configuration.credentials.approvers.isEmpty
                        ? "No approvers are configured: start mend serve with --approvers FILE (name:token lines) or MEND_APPROVERS."
                        : "That is not an approver's token. Each person logs in with their own; ingest and agent tokens cannot."))
        }
        let s = await sessions.create(user: user)
        // Behind a TLS-terminating proxy the browser speaks HTTPS: the cookie must then never go over HTTP.
        let secure = r.header("x-forwarded-proto")?.lowercased() == "https" ? "; Secure" : ""
        let cookie =
            "\(Self.cookie)=\(s.id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(configuration.sessionLifetime))\(secure)"
        return .redirect(Self.safeNext(form["next"]) ?? "/", headers: [("Set-Cookie", cookie)])
    }

    func logout(_ r: ServerRequest, _ who: Principal) async -> ServerResponse {
        if case .person(let p) = who, let csrf = p.csrf {
            guard constantTimeEquals(r.form["csrf"] ?? "", csrf) else {
                return .error(403, "missing or wrong CSRF token: reload the page")
            }
            if let id = p.sessionID { await sessions.remove(id) }
        }
        return .redirect("/login", headers: [("Set-Cookie", "\(Self.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")])
    }

    static let ingestTypes = [
        "application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "text/plain",
    ]

    func ingest(_ r: ServerRequest, table: String) async -> ServerResponse {
        if let type = r.header("content-type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased(),
            !Self.ingestTypes.contains(type)
        {
            return .error(415, "Content-Type \(type) is not accepted: send application/json (object or array) or application/x-ndjson")
        }
        if let why = Identifier.validateUserName(table) { return .error(400, "invalid table name '\(table)': \(why)") }
        let key = r.header("idempotency-key")
        if let key, key.isEmpty || key.count > 255 || !key.allSatisfy({ $0.isASCII && !$0.isNewline && $0 != "\u{0}" }) {
            return .error(400, "Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is a good choice)")
        }
        if let key {
            // A retry racing the original would both see "not done": answer it to retry later.
            guard await keyLocks.tryAcquire(table + "\u{0}" + key) else {
                return .error(
                    409, "a request with this Idempotency-Key is still being processed; retry after it finishes",
                    headers: [("Retry-After", "1")])
            }
        }
        // One load per table at a time: batches of one table commit in order, as from one file.
        await tableLocks.acquire(table)
        defer {
            Task {
                await tableLocks.release(table)
                if let key { await keyLocks.release(table + "\u{0}" + key) }
            }
        }
        do {
            let result = try await engine.ingest(
                body: r.body, table: table, idempotencyKey: key, keyLifetime: configuration.idempotencyLifetime)
            var response = ServerResponse.json(200, IngestReport(result.summary, replayed: result.replayed))
            if result.replayed { response.headers.append(("Idempotent-Replayed", "true")) }
            return response
        } catch {
            return Self.reply(for: error, html: false)
        }
    }

    static let streamedTypes: Set<String> = ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"]
    /// Streamed NDJSON is loaded in pieces of about this size, cut at line ends.
    static let streamChunkBytes = 4 << 20

    func contentType(_ r: ServerRequest) -> String? {
        r.header("content-type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// NDJSON without an Idempotency-Key is streamed: memory stays at a few MiB whatever
    /// the body's size. A keyed body is read whole, because its digest decides whether
    /// it is a retry; JSON arrays are read whole, because they are one text.
    func streamsBody(_ head: ServerRequest) -> Bool {
        guard head.method == "POST", case .ingest = Self.route(of: head), head.header("idempotency-key") == nil else { return false }
        return contentType(head).map(Self.streamedTypes.contains) ?? false
    }

    /// Loads a streamed NDJSON body piece by piece, each piece committed as a batch of its
    /// own under the table's lock; one answer adds them up. A line longer than `maxBytes`
    /// is refused with 413 (what came before it is loaded, and the answer says so).
    func ingestStream<Body: AsyncSequence & Sendable>(_ head: ServerRequest, body: Body, maxBytes: Int) async -> ServerResponse
    where Body.Element == ByteBuffer {
        guard case .ingest(let table) = Self.route(of: head) else { return notFound("no such ingest route") }
        if let why = Identifier.validateUserName(table) { return .error(400, "invalid table name '\(table)': \(why)") }
        await tableLocks.acquire(table)
        defer { Task { await tableLocks.release(table) } }
        var total = IngestSummary(table: Identifier.canonical(table))
        var pending = Data()
        func load(_ piece: Data) async throws {
            guard piece.contains(where: { $0 > 32 }) else { return }
            total.add(
                try await engine.ingest(
                    body: piece, table: table, idempotencyKey: nil, keyLifetime: configuration.idempotencyLifetime
                ).summary)
        }
        do {
            for try await buffer in body {
                pending.append(contentsOf: buffer.readableBytesView)
                guard pending.count >= Self.streamChunkBytes else { continue }
                guard let cut = pending.lastIndex(of: UInt8(ascii: "\n")) else {
                    if pending.count > maxBytes {
                        return .error(
                            413, "a line of the body is longer than \(maxBytes) bytes; \(total.loaded) records before it were loaded")
                    }
                    continue
                }
                let piece = pending[pending.startIndex...cut]
                pending = Data(pending[pending.index(after: cut)...])
                try await load(Data(piece))
            }
            if !pending.isEmpty { try await load(pending) }
        } catch {
            return Self.reply(for: error, html: false)
        }
        guard total.lines > 0 || total.quarantined > 0 else { return Self.reply(for: IngestBodyError.empty, html: false) }
        return .json(200, IngestReport(total, replayed: false))
    }

    func decide(_ r: ServerRequest, id: Int64, approve: Bool, who: Principal) async throws -> ServerResponse {
        let form = r.form
        guard case .person(let person) = who else {
            return Self.forbidden(who, needs: "an approver: log in at /login with your own token")
        }
        let browser = person.csrf != nil
        if let csrf = person.csrf, !constantTimeEquals(form["csrf"] ?? "", csrf) {
            return .html(403, Pages.errorPage(status: 403, message: "Missing or wrong CSRF token: reload the incident page and try again."))
        }
        let note = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if approve {
            // The form names the plan it showed: a plan that changed since is not approved.
            _ = try await engine.approve(
                incidentID: id, by: person.actor, note: note.isEmpty ? nil : note, plan: form["plan"].flatMap { Int64($0) })
        } else {
            guard !note.isEmpty else {
                if !browser { return .error(400, "a rejection needs a reason (form field `reason`)") }
                return .html(
                    400, Pages.errorPage(status: 400, message: "A rejection needs a reason: go back and fill in the reason field."))
            }
            try await engine.reject(incidentID: id, by: person.actor, reason: note)
        }
        if !browser {
            return .json(200, ["incident": String(id), "decision": approve ? "approved" : "rejected", "by": person.actor])
        }
        return .redirect("/incidents/\(id)")
    }
}
