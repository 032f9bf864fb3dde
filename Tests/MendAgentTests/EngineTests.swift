import Foundation
import MCP
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

@testable import MendAgent

/// The LLM planner inside a real Engine on a temp SQLite file, reaching Mend's tools
/// through the real MendMCP server over an in-process MCP client.
@Suite struct EngineTests {
    @Test(arguments: Wire.allCases)
    func renameBecomesMapField(_ wire: Wire) async throws {
        let h = try await Harness.make(
            wire,
            [
                .tool("get_incident", ["incident_id": 1, "samples": 2]),
                .tool("get_table_schema", ["table": "orders"]),
                .tool("propose_plan", ["incident_id": 1, "plan": ["operations": [mapClient], "rationale": "dry run", "confidence": 0.8]]),
                .submit(
                    [mapClient], rationale: "client_id carries customer ids since the release; customer_id stopped arriving",
                    confidence: 0.85),
            ], policy: autoJudgement)
        defer { Task { await h.fake.stop() } }
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        let s = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
        #expect(s.parked == 2)
        #expect(s.repaired == 1)
        #expect(try await h.columns("orders") == ["order_id", "customer_id", "amount", "ts", "note"])
        let ids = try await h.rows("SELECT customer_id FROM orders ORDER BY order_id").map { $0[0] }
        #expect(ids == [.int(10), .int(11), .int(12), .int(24), .int(25)])
        let plan = try #require(try await h.plans(1).last)
        #expect(plan.plan.plannedBy == "llm:fake-model")
        #expect(plan.plan.status == .applied)
        #expect(plan.plan.confidence == 0.85)
        #expect(plan.plan.rationale.hasPrefix("client_id carries customer ids"))
        // 4 turns of 100 in / 20 out at $3 / $15 per million.
        let usage = try await h.engine.usage()
        #expect(usage.tokensIn == 400 && usage.tokensOut == 80)
        #expect(abs(usage.cost - (400 * 3 + 80 * 15) / 1_000_000) < 1e-9)
        let audit = try await h.audit()
        let proposed = try #require(audit.first { $0.kind == "plan.proposed" })
        #expect(proposed.actor == "llm:fake-model")
        #expect(proposed.detail.contains("tokens_in"))
        // The agent's tool calls went through the MCP server and are audited there.
        #expect(
            audit.filter { $0.kind == "mcp.tool_call" }.map(\.subject) == [
                "tool:get_incident", "tool:get_table_schema", "tool:propose_plan",
            ])
        #expect(!audit.contains { $0.kind == "planner.fallback" })
        #expect(AuditVerifier.verify(audit).ok)
    }

    @Test(arguments: Wire.allCases)
    func epochSecondsBecomeTimestamps(_ wire: Wire) async throws {
        let h = try await Harness.make(
            wire,
            [
                .submit(
                    [["kind": "convert_value", "column": "ts", "conversion": "epoch_seconds_to_timestamptz"]],
                    rationale: "ts switched to epoch seconds")
            ],
            policy: autoJudgement)
        defer { Task { await h.fake.stop() } }
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        let epoch = [
            #"{"order_id": 6, "customer_id": 13, "amount": 1, "ts": 1706781600, "note": "epoch"}"#,
            #"{"order_id": 7, "customer_id": 14, "amount": 1, "ts": 1706868000, "note": "epoch"}"#,
        ]
        let s = try await h.engine.ingest(path: writeLines(epoch), table: "orders")
        #expect(s.parked == 2 && s.repaired == 1)
        let schema = try #require(try await h.engine.schema(table: "orders")?.0)
        #expect(schema.conversions["ts"] == .epochSecondsToTimestamp)
        #expect(schema.column(named: "ts")?.type == .timestamptz)
        #expect(try await h.rows("SELECT COUNT(*) FROM orders").first?.first == .int(5))
        let ts = try await h.rows("SELECT ts FROM orders WHERE order_id = 6").first?.first?.textForm ?? ""
        #expect(ts.hasPrefix("2024-02-01"))
        // From now on the loader converts on its own: no new incident.
        let later = try await h.engine.ingest(
            path: writeLines([#"{"order_id": 8, "customer_id": 15, "amount": 1, "ts": 1706954400, "note": "later"}"#]), table: "orders")
        #expect(later.loaded == 1 && later.parked == 0)
    }

    @Test(arguments: Wire.allCases)
    func invalidThenValid(_ wire: Wire) async throws {
        let h = try await Harness.make(
            wire,
            [.submit([["kind": "map_field", "source": "client_id", "column": "client"]]), .submit([mapClient])], policy: autoJudgement)
        defer { Task { await h.fake.stop() } }
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        _ = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
        #expect(try await h.plans(1).last?.plan.plannedBy == "llm:fake-model")
        #expect(try await h.plans(1).last?.plan.status == .applied)
        #expect(
            try #require(await h.fake.received.last).rawBody.contains(
                "invalid plan: operation 1: map_field's target column client does not exist"))
    }

    /// Each way the provider can fail ends in the rules planner's plan, with the reason in the audit.
    @Test(arguments: Wire.allCases)
    func failuresFallBackToRulesAndTheAuditSaysWhy(_ wire: Wire) async throws {
        let cases: [(String, [Turn], AgentLimits, String)] = [
            // Tools are listed before the clock starts (Harness.make); 4 s is well short of the 20 s delay.
            ("timeout", [.delay(.seconds(20), then: .submit([mapClient]))], AgentLimits(wallClock: .seconds(4)), "MEND_LLM_TIMEOUT"),
            (
                "invalid twice",
                [
                    .submit([["kind": "map_field", "source": "client_id"]]),
                    .submit([["kind": "quarantine", "sql": "DELETE FROM orders"]]),
                ],
                AgentLimits(), "invalid plan twice"
            ),
            ("server errors", Array(repeating: .status(503), count: 4), AgentLimits(), "HTTP 503 after 3 attempt(s)"),
        ]
        for (name, turns, limits, reason) in cases {
            let h = try await Harness.make(wire, turns, limits: limits)
            _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
            let s = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
            await h.fake.stop()
            let plan = try #require(try await h.plans(1).last, "\(name)")
            #expect(plan.plan.plannedBy == "rules", "\(name)")
            #expect(plan.plan.status == .applied, "\(name)")  // the rules plan: add nullable column client_id
            #expect(s.repaired == 1, "\(name)")
            #expect(try await h.columns("orders").contains("client_id"), "\(name)")
            let fallback = try #require(try await h.audit().first { $0.kind == "planner.fallback" }, "\(name)")
            #expect(fallback.actor == "llm:fake-model")
            #expect(fallback.detail.contains(reason), "\(name): \(fallback.detail)")
            #expect(!fallback.detail.contains("sk-test-SECRET"))
        }
    }

    @Test(arguments: Wire.allCases)
    func anUnreachableProviderFallsBack(_ wire: Wire) async throws {
        let h = try await Harness.make(wire, [], retries: 1)
        await h.fake.stop()
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        _ = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
        #expect(try await h.plans(1).last?.plan.plannedBy == "rules")
        let fallback = try #require(try await h.audit().first { $0.kind == "planner.fallback" })
        #expect(fallback.detail.contains("unreachable"))
    }

    @Test(arguments: Wire.allCases)
    func a429ThenSuccess(_ wire: Wire) async throws {
        let h = try await Harness.make(wire, [.status(429, retryAfter: "0"), .submit([mapClient])], policy: autoJudgement)
        defer { Task { await h.fake.stop() } }
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        _ = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
        #expect(try await h.plans(1).last?.plan.plannedBy == "llm:fake-model")
        #expect(await h.fake.received.count == 2)
    }

    @Test(arguments: Wire.allCases)
    func judgementWaitsForAPersonByDefault(_ wire: Wire) async throws {
        let h = try await Harness.make(wire, [.submit([mapClient])])
        defer { Task { await h.fake.stop() } }
        _ = try await h.engine.ingest(path: writeLines(baseOrders), table: "orders")
        let s = try await h.engine.ingest(path: writeLines(renamed()), table: "orders")
        #expect(s.pendingApproval == [1])
        #expect(try await h.plans(1).last?.plan.status == .pendingApproval)
        _ = try await h.engine.approve(incidentID: 1, by: "alice")
        #expect(try await h.rows("SELECT COUNT(*) FROM orders WHERE customer_id IN (24, 25)").first?.first == .int(2))
    }
}
