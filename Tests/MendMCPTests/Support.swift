import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Forbids adding a column named `ssn` with its own rule and reason, as a stricter
/// guard would. Mend's typed plans compile only to statements the real guard allows
/// or rates by risk, so the refusal path is exercised through this seam.
struct PIIGuard: StatementJudge {
    let inner = ParserJudge()
    func judge(_ sql: String, context: JudgeContext) -> GuardVerdict {
        if sql.contains("\"ssn\"") {
            return GuardVerdict(
                sql: sql, rule: "pii-column", risk: .forbidden, reason: "a column named ssn would store national identifiers",
                saferAlternative: "quarantine the records")
        }
        return inner.judge(sql, context: context)
    }
}

/// A SQLite engine with table `events` (id, kind, amount) and incidents from `drifts`
/// lines, ingested under `ingestPolicy`; the engine then runs under `policy`.
func engineWithIncidents(
    _ drifts: [String], ingestPolicy: Policy = Policy(autonomy: ["add_column": .approve]), policy: Policy = .default,
    judge: any StatementJudge = ParserJudge()
) async throws -> Engine {
    let dir = Paths.tempDir()
    let w = try await WarehouseFactory.open(url: "sqlite:" + dir.appendingPathComponent("t.db").path)
    await KeepAlive.shared.add(w)
    let engine = Engine(warehouse: w, policy: ingestPolicy, judge: judge)
    let base = (1...5).map { #"{"id": \#($0), "kind": "click", "amount": 10}"# }
    _ = try await engine.ingest(path: writeLines(base, in: dir, name: "base.jsonl"), table: "events")
    if !drifts.isEmpty { _ = try await engine.ingest(path: writeLines(drifts, in: dir, name: "drift.jsonl"), table: "events") }
    await engine.setPolicy(policy)
    return engine
}

/// A Mend server and an MCP client connected in process.
struct Connected {
    let client: Client
    let server: MendMCPServer

    static func make(
        _ engine: Engine, name: String = "swift-test", options: MendToolOptions = .init(),
        elicitation: (@Sendable (CreateElicitation.Parameters) async throws -> CreateElicitation.Result)? = nil
    ) async throws -> Connected {
        let server = await MendTools.makeServer(engine: engine, options: options)
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverSide)
        let client = Client(
            name: name, version: "1", capabilities: .init(elicitation: elicitation == nil ? nil : .init()))
        if let elicitation { await client.withElicitationHandler(elicitation) }
        try await client.connect(transport: clientSide)
        return Connected(client: client, server: server)
    }

    func call(_ name: String, _ arguments: [String: Value] = [:]) async throws -> CallTool.Result {
        let context: RequestContext<CallTool.Result> = try await client.callTool(name: name, arguments: arguments)
        return try await context.value
    }

    func close() async {
        await client.disconnect()
        await server.stop()
    }
}

extension CallTool.Result {
    var text: String {
        content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined(separator: "\n")
    }
    var object: [String: Value] { structuredContent?.objectValue ?? [:] }
}
