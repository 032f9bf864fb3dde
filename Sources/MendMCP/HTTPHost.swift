import Foundation
import MCP
import MendPipeline
import NIOCore
import NIOHTTP1
import NIOPosix

/// MCP over Streamable HTTP on a small SwiftNIO server: one endpoint (`/mcp`), one
/// `StatefulHTTPServerTransport` and Mend server per session, and a bearer token on
/// every request. The SDK's transport does the protocol; this only moves bytes.
public actor MendHTTPHost {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var endpoint: String
        /// Every request must carry `Authorization: Bearer <token>`.
        public var token: String
        /// Sessions idle this long are closed.
        public var sessionTimeout: TimeInterval
        public var maxBodyBytes: Int

        public init(
            host: String = "127.0.0.1", port: Int = 8080, endpoint: String = "/mcp", token: String,
            sessionTimeout: TimeInterval = 3600, maxBodyBytes: Int = 4 << 20
        ) {
            self.host = host
            self.port = port
            self.endpoint = endpoint
            self.token = token
            self.sessionTimeout = sessionTimeout
            self.maxBodyBytes = maxBodyBytes
        }
    }

    struct Session {
        let mend: MendMCPServer
        let transport: StatefulHTTPServerTransport
        var lastSeen: Date
    }

    let configuration: Configuration
    let engine: Engine
    let options: MendToolOptions
    private var sessions: [String: Session] = [:]
    private var channel: (any Channel)?
    /// True while mounted in another server (MendServer), which owns the listener.
    private var mounted = false

    public init(configuration: Configuration, engine: Engine, options: MendToolOptions = .init()) {
        self.configuration = configuration
        self.engine = engine
        self.options = options
    }

    /// Binds and returns the address actually bound (port 0 picks a free port).
    public func bind() async throws -> SocketAddress {
        let host = self
        let maxBody = configuration.maxBodyBytes
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(host: host, maxBodyBytes: maxBody))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        self.channel = channel
        Task { await self.expireSessions() }
        guard let address = channel.localAddress else {
            throw ToolError.invalidArgument("the HTTP server bound \(configuration.host):\(configuration.port) but has no local address")
        }
        return address
    }

    /// Serves until the listening channel closes.
    public func run() async throws {
        guard let channel else { throw ToolError.invalidArgument("call bind() before run()") }
        try await channel.closeFuture.get()
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
        try? await channel?.close()
    }

    /// Constant-time comparison, so response timing does not reveal the token prefix.
    nonisolated func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).utf8)
        let want = Array(configuration.token.utf8)
        var diff = given.count ^ want.count
        for i in 0..<want.count { diff |= Int(want[i] ^ (i < given.count ? given[i] : 0)) }
        return diff == 0
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        // Authentication first: without the token nothing else is revealed, not even 404s.
        guard authorized(request.header(HTTPHeaderName.authorization)) else {
            return .error(statusCode: 401, .invalidRequest("Unauthorized"), extraHeaders: ["WWW-Authenticate": "Bearer realm=\"mend\""])
        }
        guard request.path == configuration.endpoint else {
            return .error(statusCode: 404, .invalidRequest("Not Found: MCP is served at \(configuration.endpoint)"))
        }
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard var session = sessions[id] else {
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
        let mend = await MendTools.makeServer(engine: engine, options: options)
        do {
            try await mend.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("could not start an MCP session: \(error)"))
        }
        sessions[id] = Session(mend: mend, transport: transport, lastSeen: Date())
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
        while channel != nil || mounted {
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

/// Collects one HTTP/1.1 request, hands it to the host, writes the answer (a body or
/// an SSE stream) back on the channel's event loop.
final class HTTPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let host: MendHTTPHost
    let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false

    init(host: MendHTTPHost, maxBodyBytes: Int) {
        self.host = host
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = context.channel.allocator.buffer(capacity: 0)
            tooLarge = false
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes { tooLarge = true } else { body?.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            let bytes = body.flatMap { $0.getBytes(at: $0.readerIndex, length: $0.readableBytes) } ?? []
            body = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name] = headers[name].map { $0 + ", " + value } ?? value }
            let request = HTTPRequest(
                method: head.method.rawValue, headers: headers, body: bytes.isEmpty ? nil : Data(bytes),
                path: String(head.uri.split(separator: "?", maxSplits: 1).first ?? Substring(head.uri)))
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let version = head.version
            let keepAlive = head.isKeepAlive
            let host = self.host
            let oversized = tooLarge
            let limit = maxBodyBytes
            Task {
                let response: HTTPResponse
                if oversized {
                    response = .error(statusCode: 413, .invalidRequest("request body larger than \(limit) bytes"))
                } else {
                    response = await host.handle(request)
                }
                await ResponseWriter.write(response, version: version, keepAlive: keepAlive, to: bound, on: loop)
            }
        }
    }

}

/// Writes an answer from any task, hopping to the channel's event loop for each write.
enum ResponseWriter {
    static func write(
        _ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, to bound: NIOLoopBound<ChannelHandlerContext>,
        on loop: any EventLoop
    ) async {
        var head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.statusCode))
        for (name, value) in response.headers { head.headers.add(name: name, value: value) }
        if case .stream(let stream, _) = response {
            loop.execute {
                bound.value.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                bound.value.flush()
            }
            do {
                for try await chunk in stream {
                    loop.execute {
                        let ctx = bound.value
                        ctx.writeAndFlush(
                            NIOAny(HTTPServerResponsePart.body(.byteBuffer(ctx.channel.allocator.buffer(bytes: chunk)))), promise: nil)
                    }
                }
            } catch {
                // The session ended under the stream; close what was sent.
            }
            loop.execute { bound.value.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil) }
            return
        }
        let body = response.bodyData ?? Data()
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        if !keepAlive { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        loop.execute {
            let ctx = bound.value
            ctx.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
            if !body.isEmpty {
                ctx.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ctx.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = ctx.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive { done.whenComplete { _ in ctx.close(promise: nil) } }
        }
    }
}
