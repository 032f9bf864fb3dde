import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore

/// The route handlers: health, login and logout, webhook ingest, approve and reject.
extension MendRouter {

    func healthz() async -> ServerResponse {
        do {
            _ = try await engine.stats()
            return .json(200, ["status": "ok"])
        } catch {
            return .json(503, ["status": "unavailable", "error": "the database does not answer: \(error)"])
        }
    }

    func login(_ r: ServerRequest) async -> ServerResponse {
        let form = r.form
        let user = (form["user"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if let wait = await sessions.loginRetryAfter() {
            return .html(
                429, Pages.login(error: "Too many wrong tokens: try again in \(Int(wait.rounded(.up))) seconds."),
                headers: [("Retry-After", String(Int(wait.rounded(.up))))])
        }
        guard constantTimeEquals(form["token"] ?? "", configuration.token) else {
            await sessions.loginFailed()
            return .html(401, Pages.login(error: "That token is not this server's MEND_TOKEN."))
        }
        guard (1...64).contains(user.count), !user.contains(where: { $0.isNewline }) else {
            return .html(400, Pages.login(error: "Enter your name (1 to 64 characters): approvals are audited under it."))
        }
        let s = await sessions.create(user: user)
        // Behind a TLS-terminating proxy the browser speaks HTTPS: the cookie must then never go over HTTP.
        let secure = r.header("x-forwarded-proto")?.lowercased() == "https" ? "; Secure" : ""
        let cookie =
            "\(Self.cookie)=\(s.id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(configuration.sessionLifetime))\(secure)"
        return .redirect("/", headers: [("Set-Cookie", cookie)])
    }

    func logout(_ r: ServerRequest, _ who: Principal) async -> ServerResponse {
        if case .session(let s) = who {
            guard constantTimeEquals(r.form["csrf"] ?? "", s.csrf) else {
                return .error(403, "missing or wrong CSRF token: reload the page")
            }
            await sessions.remove(s.id)
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
            var response = ServerResponse.json(200, IngestResponse(result))
            if result.replayed { response.headers.append(("Idempotent-Replayed", "true")) }
            return response
        } catch {
            return Self.reply(for: error, html: false)
        }
    }

    struct IngestResponse: Encodable {
        var table: String
        var records: Int64
        var loaded: Int64
        var parked: Int64
        var quarantined: Int64
        var coerced: Int64
        var repaired: Int64
        var incidentsOpened: Int64
        var pendingApproval: [Int64]
        var replayed: Bool
        var seconds: Double

        init(_ r: HTTPIngestResult) {
            let s = r.summary
            (table, records, loaded, parked, quarantined, coerced) = (s.table, s.lines, s.loaded, s.parked, s.quarantined, s.coerced)
            (repaired, incidentsOpened, pendingApproval, replayed, seconds) = (
                s.repaired, s.incidentsOpened, s.pendingApproval, r.replayed, s.seconds
            )
        }
    }

    func decide(_ r: ServerRequest, id: Int64, approve: Bool, who: Principal) async throws -> ServerResponse {
        let form = r.form
        let actor: String
        switch who {
        case .session(let s):
            guard constantTimeEquals(form["csrf"] ?? "", s.csrf) else {
                return .html(
                    403, Pages.errorPage(status: 403, message: "Missing or wrong CSRF token: reload the incident page and try again."))
            }
            actor = "\(s.user) (dashboard)"
        case .bearer:
            // Bearer clients are not browsers (no ambient credentials), so no CSRF token; they name the person.
            guard let user = r.header("x-mend-user")?.trimmingCharacters(in: .whitespaces), (1...64).contains(user.count) else {
                return .error(400, "name the person deciding in the X-Mend-User header; it goes into the audit log")
            }
            actor = "\(user) (api)"
        case .none:
            return .error(401, "log in first")
        }
        let note = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if approve {
            _ = try await engine.approve(incidentID: id, by: actor, note: note.isEmpty ? nil : note)
        } else {
            guard !note.isEmpty else {
                if case .bearer = who { return .error(400, "a rejection needs a reason (form field `reason`)") }
                return .html(
                    400, Pages.errorPage(status: 400, message: "A rejection needs a reason: go back and fill in the reason field."))
            }
            try await engine.reject(incidentID: id, by: actor, reason: note)
        }
        if case .bearer = who { return .json(200, ["incident": String(id), "decision": approve ? "approved" : "rejected", "by": actor]) }
        return .redirect("/incidents/\(id)")
    }
}
