import Foundation
import MCP
import MendAgent
import MendCore
import MendMCP
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// A policy under which the judgement operations apply on their own (so a test can
/// see the whole repair), everything else as by default.
let autoJudgement = Policy(autonomy: ["map_field": .auto, "convert_value": .auto], maxAutoRisk: .medium)

/// An Engine on a fresh SQLite file, with the real MendMCP server attached in process
/// and an LLMPlanner whose provider is the fake.
struct Harness {
    let engine: Engine
    let fake: FakeProvider
    let transcripts: TranscriptLog

    static func make(
        _ wire: Wire, _ turns: [Turn], policy: Policy = .default, limits: AgentLimits = AgentLimits(wallClock: .seconds(20)),
        prices: PriceTable = PriceTable(override: .init(input: 3, output: 15)), retries: Int = 2
    ) async throws -> Harness {
        let url = "sqlite:" + Paths.tempDir().appendingPathComponent("t.db").path
        let w = try await WarehouseFactory.open(url: url)
        await KeepAlive.shared.add(w)
        let engine = Engine(warehouse: w, policy: policy, judge: ParserJudge(), actor: "test")
        let fake = try await FakeProvider.start(wire, turns)
        let mend = await MendTools.makeServer(engine: engine)
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        try await mend.start(transport: serverSide)
        let client = Client(name: "mend-agent", version: "test")
        _ = try await client.connect(transport: clientSide)
        await KeepAlive.shared.add(mend)
        await KeepAlive.shared.add(client)
        let log = TranscriptLog()
        let toolbox = MCPToolbox(client: client)
        // Listed once up front (the toolbox caches it), so that the conversation's
        // budget in timing tests is spent on the provider, not on a loaded CI box.
        _ = try await toolbox.specs()
        let planner = LLMPlanner(
            provider: try await fake.provider(retries: retries), toolbox: toolbox, limits: limits, prices: prices,
            onTranscript: { t in log.add(t) })
        await engine.setPlanner(planner)
        return Harness(engine: engine, fake: fake, transcripts: log)
    }

    func rows(_ sql: String) async throws -> [[SQLValue]] {
        try await engine.warehouse.transaction { s in try await s.query(sql, []) }
    }

    func columns(_ table: String) async throws -> [String] {
        try await engine.schema(table: table)?.0.columns.map(\.name) ?? []
    }

    func audit() async throws -> [AuditEntry] { try await engine.auditEntries() }

    func plans(_ incident: Int64) async throws -> [StoredPlan] { try await engine.incidentDetail(incident).2 }
}

/// Collects transcripts synchronously, so a test reads them as soon as planning returns.
final class TranscriptLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [AgentTranscript] = []
    func add(_ t: AgentTranscript) {
        lock.lock()
        items.append(t)
        lock.unlock()
    }
    var all: [AgentTranscript] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

/// The base table: three orders keyed by customer_id, with ISO timestamps.
let baseOrders = [
    #"{"order_id": 1, "customer_id": 10, "amount": 5, "ts": "2024-01-01T10:00:00Z", "note": "first"}"#,
    #"{"order_id": 2, "customer_id": 11, "amount": 7, "ts": "2024-01-02T10:00:00Z", "note": "second"}"#,
    #"{"order_id": 3, "customer_id": 12, "amount": 9, "ts": "2024-01-03T10:00:00Z", "note": "third"}"#,
]

/// The same source after a release renamed customer_id to client_id.
func renamed(note: String = "renamed") -> [String] {
    (4...5).map { i in
        let n = String(decoding: (try? JSONEncoder().encode(note)) ?? Data("\"\"".utf8), as: UTF8.self)
        return #"{"order_id": \#(i), "client_id": \#(20 + i), "amount": 3, "ts": "2024-02-0\#(i)T10:00:00Z", "note": \#(n)}"#
    }
}

let mapClient: Value = ["kind": "map_field", "source": "client_id", "column": "customer_id"]
