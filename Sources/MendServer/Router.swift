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
}
