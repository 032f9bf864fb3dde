import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore

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

    /// Who sent a request, from its credential (Credentials says which does what).
    enum Principal {
        case ingest
        case agent(String)
        case person(Person)
        case none
    }

    /// An approver, authenticated as themselves.
    struct Person {
        let name: String
        /// How they were authenticated, for the audit: "dashboard", "api" or "proxy".
        let via: String
        /// The token their POST forms must carry; nil for a bearer client, which has no
        /// ambient credential a page on another origin could ride on.
        let csrf: String?
        let sessionID: String?
        var actor: String { "\(name) (\(via))" }
    }

    /// A per-process key for the CSRF tokens of proxy-authenticated people (they have no session).
    /// Bytes, not a SymmetricKey, which is not Sendable.
    let proxyCSRFKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }

    func principal(_ r: ServerRequest) async -> Principal {
        let credentials = configuration.credentials
        if let auth = r.header("authorization"), auth.hasPrefix("Bearer ") {
            switch credentials.role(ofBearer: String(auth.dropFirst("Bearer ".count))) {
            case .ingest: return .ingest
            case .agent(let name): return .agent(name)
            case .approver(let name): return .person(Person(name: name, via: "api", csrf: nil, sessionID: nil))
            case nil: return .none
            }
        }
        if let s = await sessions.find(r.cookies[Self.cookie]) {
            return .person(Person(name: s.user, via: "dashboard", csrf: s.csrf, sessionID: s.id))
        }
        if let header = credentials.trustedUserHeader, let name = credentials.proxiedPerson(header: r.header(header), from: r.peer) {
            let mac = HMAC<SHA256>.authenticationCode(for: Data(("csrf:" + name).utf8), using: SymmetricKey(data: proxyCSRFKey))
            return .person(Person(name: name, via: "proxy", csrf: Data(mac).map { String(format: "%02x", $0) }.joined(), sessionID: nil))
        }
        return .none
    }

    /// What a credential that reached the wrong route is told.
    static func forbidden(_ who: Principal, needs: String) -> ServerResponse {
        let held: String
        switch who {
        case .ingest: held = "an ingest token, which only sends records (POST /v1/ingest/TABLE)"
        case .agent(let name): held = "the agent token of '\(name)', which reaches MCP at /mcp"
        case .person: held = "an approver's credential"
        case .none: held = "no credential"
        }
        return .error(403, "this needs \(needs); the request carries \(held). See docs/security.md, \"Credentials\".")
    }

    public func handle(_ r: ServerRequest) async -> ServerReply {
        let (route, reply) = await dispatch(r)
        let status: Int
        switch reply {
        case .response(let x), .stream(let x, _): status = x.status
        case .mcp(let m): status = m.statusCode
        }
        metrics.httpRequests(route, status)
        return reply
    }

    /// The routes, parsed from the path once.
    enum Route {
        case healthz, readyz, mcp, login, logout, metrics, ingest(String), overview, incident(String), decide(String, approve: Bool), audit
        case schema(String)
        case parked(String)
        case live, liveJSON, liveScript
        case unknown

        init(_ parts: [String]) {
            switch parts.count {
            case 0: self = .overview
            case 1:
                switch parts[0] {
                case "healthz": self = .healthz
                case "readyz": self = .readyz
                case "mcp": self = .mcp
                case "login": self = .login
                case "logout": self = .logout
                case "metrics": self = .metrics
                case "audit": self = .audit
                case "live": self = .live
                case "live.json": self = .liveJSON
                default: self = .unknown
                }
            case 2 where parts[0] == "incidents": self = .incident(parts[1])
            case 2 where parts[0] == "tables": self = .schema(parts[1])
            case 2 where parts[0] == "parked": self = .parked(parts[1])
            case 2 where parts[0] == "static" && parts[1] == "live.js": self = .liveScript
            case 3 where parts[0] == "v1" && parts[1] == "ingest": self = .ingest(parts[2])
            case 3 where parts[0] == "incidents" && (parts[2] == "approve" || parts[2] == "reject"):
                self = .decide(parts[1], approve: parts[2] == "approve")
            default: self = .unknown
            }
        }

        /// Machine clients get JSON errors and 401s; people get pages and the login redirect.
        var isAPI: Bool {
            switch self {
            case .metrics, .ingest, .live, .liveJSON: true
            default: false
            }
        }
    }

    /// Whether a credential reaches a route: the refusal if not, nil if it does. Public
    /// routes (health, login, MCP with its own agent check) are not gated here.
    static func gate(_ route: Route, _ who: Principal, method: String, query: [String: String] = [:]) -> (String, ServerReply)? {
        switch (who, route) {
        case (.none, _):
            if route.isAPI || method != "GET" {
                return (
                    "unauthorized",
                    .response(
                        .error(
                            401, "missing or wrong bearer token: send `Authorization: Bearer $MEND_TOKEN`",
                            headers: [("WWW-Authenticate", "Bearer realm=\"mend\"")]))
                )
            }
            return ("login", .response(.redirect(Self.loginPath(route, query: query))))
        case (.ingest, .ingest):
            return nil
        case (_, .ingest):
            // A session cookie is ambient, so a page on any origin could send records with it
            // (text/plain needs no CORS preflight): ingest takes only its own bearer token.
            return ("forbidden", .response(Self.forbidden(who, needs: "the ingest token (`Authorization: Bearer $MEND_TOKEN`)")))
        case (.person, _):
            return nil
        case (.agent, .metrics):
            return nil  // counters only; agents read the rest over MCP
        default:
            return (
                "forbidden",
                .response(Self.forbidden(who, needs: "an approver: log in at /login with your own token, or send it as the bearer token"))
            )
        }
    }

    static func route(of r: ServerRequest) -> Route {
        Route(r.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init))
    }

    /// Checked on the request head, before any body byte is read: a request whose
    /// credential cannot reach its route is answered (and counted) without its body.
    func refuseBeforeBody(_ head: ServerRequest) async -> ServerReply? {
        let route = Self.route(of: head)
        switch route {
        case .healthz, .readyz, .login: return nil
        case .mcp:
            // The MCP host answers without a body too; only an agent's request is read.
            if mcp.agent(head.header("authorization")) != nil { return nil }
            let reply = ServerReply.mcp(await mcp.handle(head.mcpRequest))
            metrics.httpRequests("mcp", 401)
            return reply
        default:
            guard let (name, reply) = Self.gate(route, await principal(head), method: head.method, query: head.query) else { return nil }
            if case .response(let x) = reply { metrics.httpRequests(name, x.status) }
            return reply
        }
    }

    func dispatch(_ r: ServerRequest) async -> (String, ServerReply) {
        let route = Self.route(of: r)
        // Unauthenticated routes.
        switch (r.method, route) {
        case ("GET", .healthz):
            return ("healthz", .response(healthz()))
        case ("GET", .readyz):
            return ("readyz", .response(await readyz()))
        case (_, .mcp):
            return ("mcp", .mcp(await mcp.handle(r.mcpRequest)))  // the MCP host checks the bearer token itself
        case ("GET", .login):
            return ("login", .response(.html(200, Pages.login(error: nil, next: Self.safeNext(r.query["next"])))))
        case ("POST", .login):
            return ("login", .response(await login(r)))
        default: break
        }
        let who = await principal(r)
        let api = route.isAPI
        if let refusal = Self.gate(route, who, method: r.method, query: r.query) { return refusal }
        do {
            switch (r.method, route) {
            case ("GET", .metrics):
                let text = try await metrics.render(engine: engine)
                return ("metrics", .response(.text(200, text, contentType: "text/plain; version=0.0.4; charset=utf-8")))
            case ("POST", .ingest(let table)):
                return ("ingest", .response(await ingest(r, table: table)))
            case (_, .ingest):
                return ("ingest", .response(.error(405, "use POST to ingest", headers: [("Allow", "POST")])))
            case ("GET", .overview):
                return ("overview", .response(try await overview(who)))
            case ("GET", .incident(let id)):
                guard let id = Int64(id) else { return ("incident", .response(notFound("incident ids are numbers"))) }
                return ("incident", .response(try await incidentPage(id, who, query: r.query)))
            case ("POST", .decide(let id, let approve)):
                guard let id = Int64(id) else { return ("decide", .response(notFound("incident ids are numbers"))) }
                return ("decide", .response(try await decide(r, id: id, approve: approve, who: who)))
            case ("GET", .audit):
                return ("audit", .response(try await auditPage(r, who)))
            case ("GET", .schema(let table)):
                return ("schema", .response(try await schemaPage(table, who)))
            case ("GET", .parked(let id)):
                // The whole parked record, as plain text (never rendered as HTML).
                guard let id = Int64(id), let record = try await engine.parkedRecord(id: id) else {
                    return ("parked", .response(notFound("no parked record with that id (it may have been replayed)")))
                }
                return ("parked", .response(.text(200, record.record, contentType: "text/plain; charset=utf-8")))
            case ("GET", .live):
                return ("live", liveEvents())
            case ("GET", .liveJSON):
                return ("live", .response(try await liveJSON()))
            case ("GET", .liveScript):
                return ("static", .response(Self.liveScript()))
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
            if e.isOutage {
                // The database is away for now: the client retries, as Retry-After says.
                let message =
                    "the database is unavailable (\(e.reason)); nothing of this request was kept unless a later retry says it was replayed: retry after a few seconds"
                let text = message.count > 500 ? String(message.prefix(500)) + "… (truncated)" : message
                return html
                    ? .html(503, Pages.errorPage(status: 503, message: text))
                    : .error(503, text, headers: [("Retry-After", "5")])
            }
            (status, full) = (503, "the database failed: \(e.withoutStatement); check the database, then retry")
        default:
            (status, full) = (500, "internal error: \(error)")
        }
        // An error reply never echoes SQL or a record at length: the log and the audit have the rest.
        let message = full.count > 500 ? String(full.prefix(500)) + "… (truncated)" : full
        return html ? .html(status, Pages.errorPage(status: status, message: message)) : .error(status, message)
    }
}
