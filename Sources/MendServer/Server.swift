public import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import MCP
public import MendMCP
public import MendPipeline
public import NIOCore
import NIOHTTPTypes
import ServiceLifecycle
import UnixSignals

/// `mend serve`: one process, one port — webhook ingest, the review dashboard,
/// `/metrics`, `/healthz`, and MCP at `/mcp` (the MendMCP host, mounted). Hummingbird
/// carries the HTTP (timeouts, a connection cap, streamed bodies, graceful shutdown);
/// `MendResponder` authenticates on the request head and hands requests to `MendRouter`
/// (docs/decisions.md D8, D13).
public actor MendServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Who may do what: ingest, agent and approver credentials (every route but /healthz needs one).
        public var credentials: Credentials
        /// Largest request body accepted (ingest batches included); larger gets 413.
        public var maxBodyBytes: Int
        /// Dashboard sessions last this long.
        public var sessionLifetime: TimeInterval
        /// Idempotency keys are remembered this long; a key reused later is new data.
        public var idempotencyLifetime: TimeInterval
        /// A connection with no request in flight is closed after this long.
        public var idleTimeout: TimeInterval
        /// A request head (line and headers) must arrive in full within this long.
        public var headerTimeout: TimeInterval
        /// Open connections at most; more wait in the listen backlog instead of using up descriptors.
        public var maxConnections: Int
        /// On shutdown, requests in flight get this long to finish.
        public var shutdownTimeout: TimeInterval

        public init(
            host: String = "127.0.0.1", port: Int = 8080, credentials: Credentials, maxBodyBytes: Int = 32 << 20,
            sessionLifetime: TimeInterval = 8 * 3600, idempotencyLifetime: TimeInterval = 24 * 3600, idleTimeout: TimeInterval = 60,
            headerTimeout: TimeInterval = 10, maxConnections: Int = 512, shutdownTimeout: TimeInterval = 30
        ) {
            self.host = host
            self.port = port
            self.credentials = credentials
            self.maxBodyBytes = maxBodyBytes
            self.sessionLifetime = sessionLifetime
            self.idempotencyLifetime = idempotencyLifetime
            self.idleTimeout = idleTimeout
            self.headerTimeout = headerTimeout
            self.maxConnections = maxConnections
            self.shutdownTimeout = shutdownTimeout
        }
    }

    public nonisolated let router: MendRouter
    let configuration: Configuration
    let mcp: MendHTTPHost
    private var group: ServiceGroup?
    private var running: Task<Void, any Error>?

    public init(configuration: Configuration, engine: Engine, options: MendToolOptions = .init()) async {
        self.configuration = configuration
        let mcp = MendHTTPHost(
            configuration: .init(host: configuration.host, port: configuration.port, agents: configuration.credentials.agents),
            engine: engine, options: options)
        self.mcp = mcp
        self.router = await MendRouter(configuration: configuration, engine: engine, mcp: mcp)
    }

    /// Binds and returns the address actually bound (port 0 picks a free port). With
    /// `signals`, SIGTERM and SIGINT shut the server down gracefully.
    public func bind(signals: Bool = false) async throws -> SocketAddress {
        await mcp.mount()
        let c = configuration
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Result<SocketAddress, any Error>.self)
        var quiet = Logger(label: "mend.serve")
        quiet.logLevel = .critical
        let headerTimeout = TimeAmount.nanoseconds(Int64(c.headerTimeout * 1e9))
        let app = Application(
            responder: MendResponder(router: router, maxBodyBytes: c.maxBodyBytes),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ConnectionRulesHandler(headTimeout: headerTimeout)],
                    idleTimeout: .nanoseconds(Int64(c.idleTimeout * 1e9)))),
            configuration: .init(
                address: .hostname(c.host, port: c.port), serverName: nil, backlog: 256, reuseAddress: true,
                availableConnectionsDelegate: MaximumAvailableConnections(c.maxConnections)),
            onServerRunning: { channel in
                if let address = channel.localAddress {
                    boundContinuation.yield(.success(address))
                } else {
                    boundContinuation.yield(.failure(PipelineError.input("the HTTP server bound \(c.host):\(c.port) but has no address")))
                }
            },
            logger: quiet)
        var groupConfig = ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [], logger: quiet)
        groupConfig.maximumGracefulShutdownDuration = Duration.milliseconds(Int64(c.shutdownTimeout * 1000))
        let group = ServiceGroup(configuration: groupConfig)
        self.group = group
        running = Task {
            do {
                try await group.run()
                boundContinuation.finish()
            } catch {
                boundContinuation.yield(.failure(error))
                boundContinuation.finish()
                throw error
            }
        }
        for await result in bound {
            return try result.get()
        }
        throw PipelineError.input("could not bind \(c.host):\(c.port): the server stopped before it listened")
    }

    /// Serves until shut down (a signal, or `stop()`).
    public func run() async throws {
        guard let running else { throw PipelineError.input("call bind() before run()") }
        try await running.value
        await mcp.stop()
    }

    /// Stops taking connections, lets requests in flight finish (within the shutdown
    /// timeout), then closes.
    public func stop() async {
        await group?.triggerGracefulShutdown()
        _ = try? await running?.value
        await mcp.stop()
        group = nil
        running = nil
    }
}

/// The one seam between Hummingbird and Mend: authenticate on the head, then read (or
/// stream) the body, then ask the router.
struct MendResponder: HTTPResponder {
    typealias Context = MendRequestContext
    let router: MendRouter
    let maxBodyBytes: Int

    func respond(to request: Request, context: MendRequestContext) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            headers[field.name.canonicalName] = headers[field.name.canonicalName].map { $0 + ", " + field.value } ?? field.value
        }
        let path = request.uri.path.removingPercentEncoding ?? request.uri.path
        let query = request.uri.query.map(ServerRequest.decodeForm) ?? [:]
        var head = ServerRequest(
            method: request.method.rawValue, path: path, query: query, headers: headers, peer: context.remoteAddress?.ipAddress)
        // Nothing of the body is read before the credential is known to reach the route.
        if let refusal = await router.refuseBeforeBody(head) { return Self.closing(refusal, context) }
        if router.streamsBody(head) {
            return Self.response(.response(await router.ingestStream(head, body: request.body, maxBytes: maxBodyBytes)))
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > maxBodyBytes {
            return Self.closing(.response(tooLarge), context)
        }
        do {
            head.body = Data(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            return Self.closing(.response(tooLarge), context)
        }
        return Self.response(await router.handle(head))
    }

    /// Answers with `Connection: close`: Hummingbird would otherwise read (and discard) the
    /// rest of a body the client may still be sending; ConnectionRulesHandler closes once
    /// the answer is written.
    static func closing(_ reply: ServerReply, _ context: MendRequestContext) -> Response {
        response(reply, close: true)
    }

    var tooLarge: ServerResponse {
        .error(413, "request body larger than \(maxBodyBytes) bytes: send smaller batches (mend serve --max-body-mb raises the limit)")
    }

    static func response(_ reply: ServerReply, close: Bool = false) -> Response {
        var fields = HTTPFields()
        // After a refused body the connection closes: the client may still be sending it.
        if close { fields[.connection] = "close" }
        switch reply {
        case .response(let r):
            for (name, value) in r.headers { if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) } }
            return Response(status: .init(code: r.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: r.body)))
        case .stream(let head, let produce):
            for (name, value) in head.headers { if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) } }
            return Response(
                status: .init(code: head.status), headers: fields,
                body: ResponseBody { writer in
                    // The producer runs beside the writer; a failed write (the client left)
                    // cancels it, and its end finishes the body.
                    let (chunks, sink) = AsyncStream.makeStream(of: Data.self, bufferingPolicy: .bufferingNewest(64))
                    let producer = Task {
                        await produce { data in
                            if case .terminated = sink.yield(data) { throw CancellationError() }
                        }
                        sink.finish()
                    }
                    do {
                        for await chunk in chunks { try await writer.write(ByteBuffer(bytes: chunk)) }
                    } catch {
                        producer.cancel()
                        sink.finish()
                    }
                    producer.cancel()
                    try await writer.finish(nil)
                })
        case .mcp(let m):
            for (name, value) in m.headers { if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) } }
            let status = HTTPResponse.Status(code: m.statusCode)
            if case .stream(let stream, _) = m {
                return Response(
                    status: status, headers: fields,
                    body: ResponseBody { writer in
                        do {
                            for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                        } catch {
                            // The MCP session ended under the stream; close what was sent.
                        }
                        try await writer.finish(nil)
                    })
            }
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: m.bodyData ?? Data())))
        }
    }
}

/// Hummingbird's request context, plus the peer's address (a trusted proxy is known by it).
struct MendRequestContext: Hummingbird.RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    var remoteAddress: SocketAddress? { channel.remoteAddress }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Two rules per connection that Hummingbird's HTTP/1 channel does not have:
/// - a request head (line and headers) must arrive in full within the timeout, so a client
///   that sends a header byte every few seconds is cut off (the idle timeout only catches one
///   that sends nothing); it re-arms after each response, for the next request;
/// - an answer that says `Connection: close` closes the connection once it is written, so a
///   body the client is still sending after a refusal is never read.
final class ConnectionRulesHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var closeAfterResponse = false

    init(headTimeout: TimeAmount) { self.timeout = headTimeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            closeAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end:
            guard closeAfterResponse else {
                arm(context)
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise()
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
            context.writeAndFlush(data, promise: written)
        case .body:
            context.write(data, promise: promise)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { bound.value.close(promise: nil) }
    }
}
