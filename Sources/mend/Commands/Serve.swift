import ArgumentParser
import Foundation
import MCP
import MendMCP
import MendPipeline
import MendServer
import NIOCore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve webhook ingest, the review dashboard, /metrics and MCP over HTTP, behind a bearer token (MEND_TOKEN).",
        discussion: """
            One process on one port: POST /v1/ingest/TABLE (JSON object, array or NDJSON; Idempotency-Key \
            makes retries safe), the dashboard at / (log in with the token and your name), /metrics \
            (Prometheus), /healthz (no token), and MCP at /mcp. Everything but /healthz needs \
            `Authorization: Bearer $MEND_TOKEN` or a dashboard session. Binds 127.0.0.1 unless --host says \
            otherwise: put a TLS proxy in front before exposing it. Port 0 picks a free port (printed on stderr). \
            See docs/serve.md and docs/mcp.md.
            """)

    @Option(name: .long, help: "Address to bind.") var host = "127.0.0.1"
    @Option(name: .long, help: "Port to bind (0: any free port).") var port = 8080
    @Option(name: .long, help: "Largest request body in MiB; larger requests get 413.") var maxBodyMb = 32
    @Option(name: .long, help: "How long an Idempotency-Key is remembered, in hours; a key reused later is new data.")
    var idempotencyHours: Double = 24
    @OptionGroup var options: RepairOptions
    @OptionGroup var mcp: MCPOptions

    func run() async throws {
        guard let token = ProcessInfo.processInfo.environment["MEND_TOKEN"], token.count >= 16 else {
            throw ValidationError(
                "set MEND_TOKEN to a secret of at least 16 characters (for example `export MEND_TOKEN=$(openssl rand -hex 24)`); clients send it as `Authorization: Bearer $MEND_TOKEN`"
            )
        }
        guard maxBodyMb > 0 else { throw ValidationError("--max-body-mb must be at least 1") }
        let engine = try await options.engine()
        try await engine.bootstrap()
        guard idempotencyHours > 0 else { throw ValidationError("--idempotency-hours must be more than 0") }
        let config = MendServer.Configuration(
            host: host, port: port, token: token, maxBodyBytes: maxBodyMb << 20, idempotencyLifetime: idempotencyHours * 3600)
        let server = await MendServer(configuration: config, engine: engine, options: mcp.toolOptions)
        let address = try await server.bind()
        let base = "http://\(host):\(address.port ?? port)"
        // Keep "MCP at URL" on its own line: scripts (Tests/e2e/mcp_http_e2e.py) read the address from it.
        logStderr("mend serve: MCP at \(base)/mcp (database \(options.db))")
        logStderr("mend serve: dashboard \(base)/, ingest \(base)/v1/ingest/TABLE, metrics \(base)/metrics, health \(base)/healthz")
        try await server.run()
    }
}
