public import Foundation
import MCP
public import MendMCP
public import MendPipeline
public import NIOCore
import NIOHTTP1
import NIOPosix

/// `mend serve`: one process, one port — webhook ingest, the review dashboard,
/// `/metrics`, `/healthz`, and MCP at `/mcp` (the MendMCP host, mounted). A small
/// SwiftNIO listener reads whole requests and hands them to `MendRouter` (docs/decisions.md D8).
public actor MendServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Every route but /healthz needs `Authorization: Bearer <token>` or a dashboard session.
        public var token: String
        /// Largest request body accepted (ingest batches included); larger gets 413.
        public var maxBodyBytes: Int
        /// Dashboard sessions last this long.
        public var sessionLifetime: TimeInterval
        /// Idempotency keys are remembered this long; a key reused later is new data.
        public var idempotencyLifetime: TimeInterval

        public init(
            host: String = "127.0.0.1", port: Int = 8080, token: String, maxBodyBytes: Int = 32 << 20,
            sessionLifetime: TimeInterval = 8 * 3600, idempotencyLifetime: TimeInterval = 24 * 3600
        ) {
            self.host = host
            self.port = port
            self.token = token
            self.maxBodyBytes = maxBodyBytes
            self.sessionLifetime = sessionLifetime
            self.idempotencyLifetime = idempotencyLifetime
        }
    }

    public nonisolated let router: MendRouter
    let configuration: Configuration
    let mcp: MendHTTPHost
    private var channel: (any Channel)?

    public init(configuration: Configuration, engine: Engine, options: MendToolOptions = .init()) async {
        self.configuration = configuration
        let mcp = MendHTTPHost(
            configuration: .init(host: configuration.host, port: configuration.port, token: configuration.token), engine: engine,
            options: options)
        self.mcp = mcp
        self.router = await MendRouter(configuration: configuration, engine: engine, mcp: mcp)
    }

    /// Binds and returns the address actually bound (port 0 picks a free port).
    public func bind() async throws -> SocketAddress {
        await mcp.mount()
        let router = self.router
        let maxBody = configuration.maxBodyBytes
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(router: router, maxBodyBytes: maxBody))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        self.channel = channel
        guard let address = channel.localAddress else {
            throw PipelineError.input("the HTTP server bound \(configuration.host):\(configuration.port) but has no local address")
        }
        return address
    }

    /// Serves until the listening channel closes.
    public func run() async throws {
        guard let channel else { throw PipelineError.input("call bind() before run()") }
        try await channel.closeFuture.get()
    }

    public func stop() async {
        await mcp.stop()
        try? await channel?.close()
        channel = nil
    }
}

/// Collects one HTTP/1.1 request, asks the router, writes the answer back on the
/// channel's event loop. Bodies past the limit are dropped as they arrive (never
/// buffered) and answered 413.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: MendRouter
    let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false

    init(router: MendRouter, maxBodyBytes: Int) {
        self.router = router
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            tooLarge = false
            // A declared length past the limit is refused before any body is read.
            if let declared = h.headers.first(name: "Content-Length").flatMap(Int.init), declared > maxBodyBytes { tooLarge = true }
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var chunk):
            if tooLarge { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes {
                tooLarge = true
                body = nil
            } else {
                body?.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let bytes = body.flatMap { $0.getBytes(at: $0.readerIndex, length: $0.readableBytes) } ?? []
            body = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name] = headers[name].map { $0 + ", " + value } ?? value }
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts.first ?? Substring(head.uri)).removingPercentEncoding ?? String(parts.first ?? "")
            let query = parts.count > 1 ? ServerRequest.decodeForm(String(parts[1])) : [:]
            let request = ServerRequest(method: head.method.rawValue, path: path, query: query, headers: headers, body: Data(bytes))
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let version = head.version
            let oversized = tooLarge
            // After a refused body the connection closes: the client may still be sending it.
            let keepAlive = head.isKeepAlive && !oversized
            let router = self.router
            let limit = maxBodyBytes
            Task {
                let reply: ServerReply
                if oversized {
                    reply = .response(
                        .error(
                            413, "request body larger than \(limit) bytes: send smaller batches (mend serve --max-body-mb raises the limit)"
                        ))
                } else {
                    reply = await router.handle(request)
                }
                await Writer.write(reply, version: version, keepAlive: keepAlive, to: bound, on: loop)
            }
        }
    }
}

/// Writes an answer from any task, hopping to the channel's event loop for each write.
enum Writer {
    static func write(
        _ reply: ServerReply, version: HTTPVersion, keepAlive: Bool, to bound: NIOLoopBound<ChannelHandlerContext>, on loop: any EventLoop
    ) async {
        let status: Int
        let headers: [(String, String)]
        let body: Data
        switch reply {
        case .response(let r):
            (status, headers, body) = (r.status, r.headers, r.body)
        case .mcp(let m):
            if case .stream(let stream, _) = m {
                var streamHead = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: m.statusCode))
                for (name, value) in m.headers { streamHead.headers.add(name: name, value: value) }
                let head = streamHead  // a constant: the closure runs on the event loop
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
                    // The MCP session ended under the stream; close what was sent.
                }
                loop.execute { bound.value.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil) }
                return
            }
            (status, headers, body) = (m.statusCode, m.headers.map { ($0.key, $0.value) }, m.bodyData ?? Data())
        }
        var responseHead = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status))
        for (name, value) in headers { responseHead.headers.add(name: name, value: value) }
        responseHead.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        if !keepAlive { responseHead.headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = responseHead  // a constant: the closure runs on the event loop
        loop.execute {
            let ctx = bound.value
            ctx.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
            if !body.isEmpty {
                ctx.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ctx.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = ctx.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive { done.whenComplete { _ in bound.value.close(promise: nil) } }
        }
    }
}
