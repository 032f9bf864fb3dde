public import Foundation
public import MCP
import MendCore
public import MendPipeline

/// MCP over Streamable HTTP, mounted at `/mcp` by MendServer (which owns the listener): one
/// `StatefulHTTPServerTransport` and Mend server per session, and a bearer token on
/// every request. The SDK's transport does the protocol; this only moves bytes.
public actor MendHTTPHost {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var endpoint: String
        /// Agent tokens and the agent each names: every request must carry one as
        /// `Authorization: Bearer <token>`, and the session acts as that agent.
        public var agents: [String: String]
        /// Sessions idle this long are closed.
        public var sessionTimeout: TimeInterval
        public var maxBodyBytes: Int

        public init(
            host: String = "127.0.0.1", port: Int = 8080, endpoint: String = "/mcp", agents: [String: String],
            sessionTimeout: TimeInterval = 3600, maxBodyBytes: Int = 4 << 20
        ) {
            self.host = host
            self.port = port
            self.endpoint = endpoint
            self.agents = agents
            self.sessionTimeout = sessionTimeout
            self.maxBodyBytes = maxBodyBytes
        }
    }

    struct Session {
        let mend: MendMCPServer
        let transport: StatefulHTTPServerTransport
        /// The agent that opened the session: a request of another agent's token gets 404.
        let agent: String
        var lastSeen: Date
    }

    let configuration: Configuration
    let engine: Engine
    let options: MendToolOptions
    private var sessions: [String: Session] = [:]
    /// True while mounted in another server (MendServer), which owns the listener.
    private var mounted = false

    public init(configuration: Configuration, engine: Engine, options: MendToolOptions = .init()) {
        self.configuration = configuration
        self.engine = engine
        self.options = options
    }

    /// Serves through another HTTP server that passes `/mcp` requests to `handle(_:)`:
    /// no listener of its own, only the idle-session sweeper.
    public func mount() {
        guard !mounted else { return }
        mounted = true
        Task { await self.expireSessions() }
    }

    public func stop() async {
        mounted = false
        for s in sessions.values { await s.mend.stop() }
        sessions = [:]
    }

    /// The agent a bearer token names. Every token is compared, in constant time, so
    /// response timing reveals neither which token nor how much of one matched.
    public nonisolated func agent(_ header: String?) -> String? {
        guard let header, header.hasPrefix("Bearer ") else { return nil }
        let given = String(header.dropFirst("Bearer ".count))
        var found: String?
        for (token, name) in configuration.agents where constantTimeEquals(given, token) { found = name }
        return found
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        // Authentication first: without the token nothing else is revealed, not even 404s.
        guard let agent = agent(request.header(HTTPHeaderName.authorization)) else {
            return .error(statusCode: 401, .invalidRequest("Unauthorized"), extraHeaders: ["WWW-Authenticate": "Bearer realm=\"mend\""])
        }
        guard request.path == configuration.endpoint else {
            return .error(statusCode: 404, .invalidRequest("Not Found: MCP is served at \(configuration.endpoint)"))
        }
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard var session = sessions[id], session.agent == agent else {
                return .error(statusCode: 404, .invalidRequest("Not Found: session expired or unknown; initialize again"))
            }
            session.lastSeen = Date()
            sessions[id] = session
            let response = await session.transport.handleRequest(request)
            if request.method.uppercased() == "DELETE", response.statusCode == 200 {
                sessions.removeValue(forKey: id)
                await session.mend.stop()
            }
            return response
        }
        guard request.method.uppercased() == "POST", let body = request.body, Self.isInitialize(body) else {
            return .error(statusCode: 400, .invalidRequest("Bad Request: missing \(HTTPHeaderName.sessionID); initialize first"))
        }
        let id = UUID().uuidString
        let transport = StatefulHTTPServerTransport(sessionIDGenerator: FixedSessionID(id: id))
        let mend = await MendTools.makeServer(engine: engine, options: options, agent: agent)
        do {
            try await mend.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("could not start an MCP session: \(error)"))
        }
        sessions[id] = Session(mend: mend, transport: transport, agent: agent, lastSeen: Date())
        let response = await transport.handleRequest(request)
        if case .error = response {
            sessions.removeValue(forKey: id)
            await mend.stop()
        }
        return response
    }

    /// Whether a POST body is an `initialize` request (the only one without a session).
    static func isInitialize(_ body: Data) -> Bool {
        struct Probe: Decodable { var method: String?; var id: Value? }
        guard let p = try? JSONDecoder().decode(Probe.self, from: body) else { return false }
        return p.method == "initialize" && p.id != nil
    }

    private func expireSessions() async {
        while mounted {
            try? await Task.sleep(for: .seconds(60))
            let now = Date()
            for (id, s) in sessions where now.timeIntervalSince(s.lastSeen) > configuration.sessionTimeout {
                sessions.removeValue(forKey: id)
                await s.mend.stop()
            }
        }
    }
}

struct FixedSessionID: SessionIDGenerator {
    let id: String
    func generateSessionID() -> String { id }
}
