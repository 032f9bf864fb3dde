import ArgumentParser
import Foundation
import MCP
import MendMCP
import MendPipeline
import MendServer
import NIOCore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve webhook ingest, the review dashboard, /metrics and MCP over HTTP, each behind its own credential.",
        discussion: """
            One process on one port: POST /v1/ingest/TABLE (JSON object, array or NDJSON; Idempotency-Key \
            makes retries safe), the dashboard at /, /metrics (Prometheus), /healthz (liveness, no token), /readyz (503 while the database does not answer, no \
            token), and MCP at /mcp. While the database is away, ingest requests get 503 with Retry-After after \
            --retry-for seconds (default 10), and the server reconnects by itself when it is back.

            Three kinds of credential, never interchangeable (docs/security.md):
              MEND_TOKEN          ingest token: only sends records (`Authorization: Bearer $MEND_TOKEN`).
              MEND_AGENT_TOKEN    agent token for MCP at /mcp (read and propose), also --agents FILE.
              --approvers FILE    people who approve: `name:token` lines (mode 600), also MEND_APPROVERS; each \
            logs in to the dashboard with their own token, or sends it as the bearer token to decide over the API.
              --trusted-user-header with --trusted-proxy: a reverse proxy that authenticated the person names them.

            Binds 127.0.0.1 unless --host says otherwise: put a TLS proxy in front before exposing it. Port 0 \
            picks a free port (printed on stderr). See docs/serve.md and docs/mcp.md.
            """)

    @Option(name: .long, help: "Address to bind.") var host = "127.0.0.1"
    @Option(name: .long, help: "Port to bind (0: any free port).") var port = 8080
    @Option(name: .long, help: "Largest request body in MiB; larger requests get 413.") var maxBodyMb = 32
    @Option(name: .long, help: "How long an Idempotency-Key is remembered, in hours; a key reused later is new data.")
    var idempotencyHours: Double = 24
    @Option(name: .long, help: "File of `name:token` lines, one per approver (mode 600).") var approvers: String?
    @Option(name: .long, help: "File of `name:token` lines, one per MCP agent (mode 600).") var agents: String?
    @Option(name: .long, help: "Header naming the person, set by a reverse proxy that authenticated them (e.g. X-Forwarded-User).")
    var trustedUserHeader: String?
    @Option(name: .long, help: "Address of that reverse proxy; the header is ignored from anywhere else (repeatable).")
    var trustedProxy: [String] = []
    @Option(name: .long, help: "Seconds a connection may sit idle between requests before it is closed.") var idleTimeout: Double = 60
    @Option(name: .long, help: "Seconds a client has to send a request's line and headers.") var headerTimeout: Double = 10
    @Option(name: .long, help: "Open connections at most; more wait in the listen backlog.") var maxConnections = 512
    @Option(name: .long, help: "On SIGTERM or SIGINT, seconds to finish requests in flight before exiting (a second signal exits at once).")
    var shutdownTimeout: Double = 30
    @OptionGroup var options: RepairOptions
    @OptionGroup var notify: NotifyOptions

    func credentials() throws -> Credentials {
        let env = ProcessInfo.processInfo.environment
        do {
            var agentTokens = try agents.map(Credentials.readTokenFile) ?? [:]
            if let t = env["MEND_AGENT_TOKEN"] { agentTokens[t] = "agent" }
            var people = try approvers.map(Credentials.readTokenFile) ?? [:]
            if let list = env["MEND_APPROVERS"] {
                people.merge(try Credentials.namedTokens(list, source: "MEND_APPROVERS")) { a, _ in a }
            }
            return try Credentials(
                ingest: env["MEND_TOKEN"].map { [$0] } ?? [], agents: agentTokens, approvers: people,
                trustedUserHeader: trustedUserHeader, trustedProxies: Set(trustedProxy))
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let credentials = try credentials()
        guard maxBodyMb > 0 else { throw ValidationError("--max-body-mb must be at least 1") }
        guard idempotencyHours > 0 else { throw ValidationError("--idempotency-hours must be more than 0") }
        guard idleTimeout > 0, headerTimeout > 0, shutdownTimeout > 0, maxConnections > 0 else {
            throw ValidationError("--idle-timeout, --header-timeout, --shutdown-timeout and --max-connections must be more than 0")
        }
        // Each request retries for --retry-for (10 s by default), then answers 503 with Retry-After.
        let engine = try await options.engine(retryDefault: 10)
        // Links point at --public-url, else at the address bound (when the port is known now).
        try await notify.attach(to: engine, policy: options.policy, serving: port == 0 ? nil : "http://\(host):\(port)")
        try await engine.bootstrap()
        let config = MendServer.Configuration(
            host: host, port: port, credentials: credentials, maxBodyBytes: maxBodyMb << 20,
            idempotencyLifetime: idempotencyHours * 3600, idleTimeout: idleTimeout, headerTimeout: headerTimeout,
            maxConnections: maxConnections, shutdownTimeout: shutdownTimeout)
        let server = await MendServer(configuration: config, engine: engine)
        let address = try await server.bind(signals: true)
        SecondSignal.exitsAtOnce()
        let base = "http://\(host):\(address.port ?? port)"
        // Keep "MCP at URL" on its own line: scripts (Tests/e2e/mcp_http_e2e.py) read the address from it.
        logStderr("mend serve: MCP at \(base)/mcp (database \(options.shownDB))")
        logStderr(
            "mend serve: dashboard \(base)/, ingest \(base)/v1/ingest/TABLE, metrics \(base)/metrics, health \(base)/healthz, readiness \(base)/readyz"
        )
        if credentials.agents.isEmpty { logStderr("mend serve: no agent token (MEND_AGENT_TOKEN or --agents): /mcp refuses every request") }
        if credentials.approvers.isEmpty, credentials.trustedUserHeader == nil {
            logStderr("mend serve: no approvers (--approvers FILE or MEND_APPROVERS): nobody can log in to the dashboard")
        }
        try await server.run()
        logStderr("mend serve: stopped")
    }
}

/// The first SIGTERM or SIGINT starts a graceful shutdown (ServiceLifecycle); a second
/// one, of either kind, exits at once. Nothing committed is lost: every batch commits in
/// one transaction.
final class SecondSignal: @unchecked Sendable {
    private static let shared = SecondSignal()
    private let lock = NSLock()
    private var seen = 0
    private var sources: [any DispatchSourceSignal] = []

    static func exitsAtOnce() { shared.install() }

    private func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for signal in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { [self] in
                if count() >= 2 {
                    logStderr("mend: second signal, exiting now")
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    private func count() -> Int {
        lock.lock()
        defer { lock.unlock() }
        seen += 1
        return seen
    }
}
