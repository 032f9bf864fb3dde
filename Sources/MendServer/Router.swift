import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore

/// Dashboard sessions, in memory: a restart logs everyone out, which is the safe default.
actor SessionStore {
    struct Session: Sendable {
        let id: String
        /// Who logged in, as they named themselves; it goes into the audit log.
        let user: String
        /// Must come back in every POST form (synchronizer-token CSRF protection).
        let csrf: String
        let expires: Date
    }

    private var sessions: [String: Session] = [:]
    private var throttle = LoginThrottle()
    let lifetime: TimeInterval

    /// Nil when a login may be tried, else the seconds until one may.
    func loginRetryAfter() -> TimeInterval? { throttle.retryAfter(now: Date()) }
    func loginFailed() { throttle.failed(now: Date()) }

    init(lifetime: TimeInterval) { self.lifetime = lifetime }

    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    func create(user: String) -> Session {
        let now = Date()
        sessions = sessions.filter { $0.value.expires > now }
        let s = Session(id: Self.random(), user: user, csrf: Self.random(), expires: now.addingTimeInterval(lifetime))
        sessions[s.id] = s
        return s
    }

    func find(_ id: String?) -> Session? {
        guard let id, let s = sessions[id], s.expires > Date() else { return nil }
        return s
    }

    func remove(_ id: String) { sessions.removeValue(forKey: id) }
}

/// Lets one request at a time hold a key (a table, an idempotency key).
actor KeyedLocks {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ key: String) async {
        if !held.contains(key) {
            held.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    func tryAcquire(_ key: String) -> Bool {
        held.insert(key).inserted
    }

    func release(_ key: String) {
        if var w = waiters[key], !w.isEmpty {
            let next = w.removeFirst()
            waiters[key] = w.isEmpty ? nil : w
            next.resume()  // ownership passes on; the key stays held
        } else {
            held.remove(key)
        }
    }
}

/// Routes, authentication and the handlers. Pure request → reply, so it is tested
/// through the real listener and reasoned about without NIO.
public final class MendRouter: Sendable {
    let configuration: MendServer.Configuration
    let engine: Engine
    let mcp: MendHTTPHost
    public let metrics: ServerMetrics
    let sessions: SessionStore
    let tableLocks = KeyedLocks()
    let keyLocks = KeyedLocks()
    static let cookie = "mend_session"

    init(configuration: MendServer.Configuration, engine: Engine, mcp: MendHTTPHost) async {
        self.configuration = configuration
        self.engine = engine
        self.mcp = mcp
        self.metrics = ServerMetrics()
        self.sessions = SessionStore(lifetime: configuration.sessionLifetime)
        let planner = await engine.planner
        if !(planner is TimedPlanner) { await engine.setPlanner(TimedPlanner(inner: planner, metrics: metrics)) }
    }

    enum Principal {
        case bearer
        case session(SessionStore.Session)
        case none
    }

    func principal(_ r: ServerRequest) async -> Principal {
        if let auth = r.header("authorization"), auth.hasPrefix("Bearer "),
            constantTimeEquals(String(auth.dropFirst("Bearer ".count)), configuration.token)
        {
            return .bearer
        }
        if let s = await sessions.find(r.cookies[Self.cookie]) { return .session(s) }
        return .none
    }

    public func handle(_ r: ServerRequest) async -> ServerReply {
        let (route, reply) = await dispatch(r)
        let status: Int
        switch reply {
        case .response(let x): status = x.status
        case .mcp(let m): status = m.statusCode
        }
        metrics.httpRequests(route, status)
        return reply
    }

    /// The routes, parsed from the path once.
    enum Route {
        case healthz, mcp, login, logout, metrics, ingest(String), overview, incident(String), decide(String, approve: Bool), audit
        case schema(String)
        case parked(String)
        case unknown

        init(_ parts: [String]) {
            switch parts.count {
            case 0: self = .overview
            case 1:
                switch parts[0] {
                case "healthz": self = .healthz
                case "mcp": self = .mcp
                case "login": self = .login
                case "logout": self = .logout
                case "metrics": self = .metrics
                case "audit": self = .audit
                default: self = .unknown
                }
            case 2 where parts[0] == "incidents": self = .incident(parts[1])
            case 2 where parts[0] == "tables": self = .schema(parts[1])
            case 2 where parts[0] == "parked": self = .parked(parts[1])
            case 3 where parts[0] == "v1" && parts[1] == "ingest": self = .ingest(parts[2])
            case 3 where parts[0] == "incidents" && (parts[2] == "approve" || parts[2] == "reject"):
                self = .decide(parts[1], approve: parts[2] == "approve")
            default: self = .unknown
            }
        }

        /// Machine clients get JSON errors and 401s; people get pages and the login redirect.
        var isAPI: Bool {
            switch self {
            case .metrics, .ingest: true
            default: false
            }
        }
    }

    func dispatch(_ r: ServerRequest) async -> (String, ServerReply) {
        let route = Route(r.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init))
        // Unauthenticated routes.
        switch (r.method, route) {
        case ("GET", .healthz):
            return ("healthz", .response(await healthz()))
        case (_, .mcp):
            return ("mcp", .mcp(await mcp.handle(r.mcpRequest)))  // the MCP host checks the bearer token itself
        case ("GET", .login):
            return ("login", .response(.html(200, Pages.login(error: nil))))
        case ("POST", .login):
            return ("login", .response(await login(r)))
        default: break
        }
        let who = await principal(r)
        let api = route.isAPI
        if case .none = who {
            if api || r.method != "GET" {
                return (
                    "unauthorized",
                    .response(
                        .error(
                            401, "missing or wrong bearer token: send `Authorization: Bearer $MEND_TOKEN`",
                            headers: [("WWW-Authenticate", "Bearer realm=\"mend\"")]))
                )
            }
            return ("login", .response(.redirect("/login")))
        }
        do {
            switch (r.method, route) {
            case ("GET", .metrics):
                let text = try await metrics.render(engine: engine)
                return ("metrics", .response(.text(200, text, contentType: "text/plain; version=0.0.4; charset=utf-8")))
            case ("POST", .ingest(let table)):
                // Bearer only: a browser's session cookie is ambient, so a page on any origin
                // could otherwise send records with it (text/plain needs no CORS preflight).
                guard case .bearer = who else {
                    return (
                        "unauthorized",
                        .response(
                            .error(
                                401, "ingest takes the bearer token, not a dashboard session: send `Authorization: Bearer $MEND_TOKEN`",
                                headers: [("WWW-Authenticate", "Bearer realm=\"mend\"")]))
                    )
                }
                return ("ingest", .response(await ingest(r, table: table)))
            case (_, .ingest):
                return ("ingest", .response(.error(405, "use POST to ingest", headers: [("Allow", "POST")])))
            case ("GET", .overview):
                return ("overview", .response(try await overview(who)))
            case ("GET", .incident(let id)):
                guard let id = Int64(id) else { return ("incident", .response(notFound("incident ids are numbers"))) }
                return ("incident", .response(try await incidentPage(id, who)))
            case ("POST", .decide(let id, let approve)):
                guard let id = Int64(id) else { return ("decide", .response(notFound("incident ids are numbers"))) }
                return ("decide", .response(try await decide(r, id: id, approve: approve, who: who)))
            case ("GET", .audit):
                return ("audit", .response(try await auditPage(who)))
            case ("GET", .schema(let table)):
                return ("schema", .response(try await schemaPage(table, who)))
            case ("GET", .parked(let id)):
                // The whole parked record, as plain text (never rendered as HTML).
                guard let id = Int64(id), let record = try await engine.parkedRecord(id: id) else {
                    return ("parked", .response(notFound("no parked record with that id (it may have been replayed)")))
                }
                return ("parked", .response(.text(200, record.record, contentType: "text/plain; charset=utf-8")))
            case ("POST", .logout):
                return ("logout", .response(await logout(r, who)))
            case (_, .unknown):
                return ("unknown", .response(notFound("no route \(r.path): see docs/serve.md")))
            default:
                return ("method", .response(.error(405, "\(r.method) is not allowed on \(r.path)")))
            }
        } catch {
            return ("error", .response(Self.reply(for: error, html: !api)))
        }
    }

    func notFound(_ message: String) -> ServerResponse { .error(404, message) }

    /// Maps what the pipeline throws to a status: the caller's mistakes are 4xx; only
    /// failures of Mend or its database are 5xx.
    static func reply(for error: any Error, html: Bool) -> ServerResponse {
        let (status, full): (Int, String)
        switch error {
        case let e as PipelineError:
            switch e {
            case .notFound: (status, full) = (404, e.description)
            case .state, .refused: (status, full) = (409, e.description)
            case .input, .invalidTable, .policy: (status, full) = (400, e.description)
            }
        case let e as IngestBodyError:
            if case .keyReused = e { (status, full) = (422, e.description) } else { (status, full) = (400, e.description) }
        case let e as StoreError:
            (status, full) = (503, "the database failed: \(e.withoutStatement); check the database, then retry")
        default:
            (status, full) = (500, "internal error: \(error)")
        }
        // An error reply never echoes SQL or a record at length: the log and the audit have the rest.
        let message = full.count > 500 ? String(full.prefix(500)) + "… (truncated)" : full
        return html ? .html(status, Pages.errorPage(status: status, message: message)) : .error(status, message)
    }

    // MARK: - routes

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

    // MARK: - pages

    func csrf(_ who: Principal) -> String? {
        if case .session(let s) = who { return s.csrf }
        return nil
    }

    func user(_ who: Principal) -> String? {
        if case .session(let s) = who { return s.user }
        return nil
    }

    func overview(_ who: Principal) async throws -> ServerResponse {
        let stats = try await engine.stats()
        let incidents = try await engine.incidents()
        let times = try await engine.repairTimes().map(\.2)
        return .html(200, Pages.overview(stats: stats, incidents: incidents, repairSeconds: times, user: user(who), csrf: csrf(who)))
    }

    func incidentPage(_ id: Int64, _ who: Principal) async throws -> ServerResponse {
        let (incident, samples, plans) = try await engine.incidentDetail(id, samples: 5)
        return .html(200, Pages.incident(incident, samples: samples, plans: plans, user: user(who), csrf: csrf(who)))
    }

    func auditPage(_ who: Principal) async throws -> ServerResponse {
        let entries = try await engine.auditEntries()
        let report = AuditVerifier.verify(entries)
        return .html(200, Pages.audit(entries: entries, report: report, user: user(who), csrf: csrf(who)))
    }

    func schemaPage(_ table: String, _ who: Principal) async throws -> ServerResponse {
        guard let (schema, keys, history) = try await engine.schema(table: table) else {
            return .html(404, Pages.errorPage(status: 404, message: "No table \(table) is managed by Mend."))
        }
        return .html(200, Pages.schema(schema, sourceKeys: keys, history: history, user: user(who), csrf: csrf(who)))
    }
}
