import Foundation
import MCP
import Testing

@testable import MendAgent

/// The providers over the real AsyncHTTPClient path, against a loopback server that
/// speaks each wire format.
@Suite struct ProviderTests {
    static let key = "sk-test-SECRET-0123456789"

    func request() -> LLMRequest {
        LLMRequest(
            system: "sys",
            messages: [
                .user("hello"),
                ChatMessage(
                    role: .assistant, content: [.text("looking"), .toolUse(id: "t1", name: "get_incident", input: ["incident_id": 1])]),
                ChatMessage(role: .user, content: [.toolResult(id: "t1", content: "<data>{}</data>", isError: false)]),
            ],
            tools: [SubmitPlanTool.tool], maxTokens: 100)
    }

    @Test(arguments: Wire.allCases)
    func speaksTheWireFormat(_ wire: Wire) async throws {
        let fake = try await FakeProvider.start(wire, [.submit([mapClient])])
        defer { Task { await fake.stop() } }
        let provider = try await fake.provider()
        let reply = try await provider.complete(request(), timeout: .seconds(60))
        let use = try #require(reply.toolUses.first)
        #expect(use.name == "submit_plan")
        #expect(use.input.objectValue?["confidence"]?.doubleValue == 0.9)
        #expect(reply.usage == TokenUsage(input: 100, output: 20))
        let r = try #require(await fake.received.first)
        #expect(r.method == "POST")
        switch wire {
        case .anthropic:
            #expect(r.path == "/v1/messages")
            #expect(r.header("x-api-key") == Self.key)
            #expect(r.header("anthropic-version") == "2023-06-01")
            let tool = try #require(r.body.objectValue?["tools"]?.arrayValue?.first?.objectValue)
            #expect(tool["input_schema"]?.objectValue?["required"] != nil)
            let msgs = try #require(r.body.objectValue?["messages"]?.arrayValue)
            #expect(msgs.count == 3)
            let result = try #require(msgs[2].objectValue?["content"]?.arrayValue?.first?.objectValue)
            #expect(result["type"]?.stringValue == "tool_result")
            #expect(result["tool_use_id"]?.stringValue == "t1")
            #expect(msgs[1].objectValue?["content"]?.arrayValue?.last?.objectValue?["type"]?.stringValue == "tool_use")
            #expect(r.body.objectValue?["system"]?.stringValue == "sys")
        case .openai:
            #expect(r.path == "/v1/chat/completions")
            #expect(r.header("authorization") == "Bearer \(Self.key)")
            let tool = try #require(r.body.objectValue?["tools"]?.arrayValue?.first?.objectValue)
            #expect(tool["type"]?.stringValue == "function")
            #expect(tool["function"]?.objectValue?["parameters"]?.objectValue?["required"] != nil)
            let msgs = try #require(r.body.objectValue?["messages"]?.arrayValue)
            #expect(msgs.map { $0.objectValue?["role"]?.stringValue ?? "" } == ["system", "user", "assistant", "tool"])
            let call = try #require(msgs[2].objectValue?["tool_calls"]?.arrayValue?.first?.objectValue)
            #expect(call["function"]?.objectValue?["arguments"]?.stringValue == #"{"incident_id":1}"#)
            #expect(msgs[3].objectValue?["tool_call_id"]?.stringValue == "t1")
            #expect(r.body.objectValue?["max_tokens"]?.intValue == 100)
        }
    }

    @Test(arguments: Wire.allCases)
    func retries429And5xxThenSucceeds(_ wire: Wire) async throws {
        let fake = try await FakeProvider.start(wire, [.status(429, retryAfter: "1"), .status(503), .text("ok")])
        defer { Task { await fake.stop() } }
        let provider = try await fake.provider(retries: 3)
        let start = ContinuousClock.now
        let reply = try await provider.complete(request(), timeout: .seconds(60))
        #expect(reply.content == [.text("ok")])
        #expect(await fake.received.count == 3)
        // Retry-After: 1 was honored (the exponential backoff alone is 20-40 ms here).
        #expect(ContinuousClock.now - start >= .milliseconds(950))
    }

    @Test(arguments: Wire.allCases)
    func retriesAreBoundedAndTheKeyIsNeverInTheError(_ wire: Wire) async throws {
        // A provider that echoes the key back in its error body.
        let body = #"{"error":"bad key \#(Self.key)"}"#
        let fake = try await FakeProvider.start(wire, Array(repeating: .status(500, body: body), count: 6))
        defer { Task { await fake.stop() } }
        let provider = try await fake.provider(retries: 2)
        let error = await #expect(throws: LLMError.self) { try await provider.complete(request(), timeout: .seconds(60)) }
        #expect(await fake.received.count == 3)
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("HTTP 500 after 3 attempt(s)"))
        #expect(!text.contains(Self.key))
        #expect(text.contains("<redacted>"))
    }

    @Test(arguments: Wire.allCases)
    func clientErrorsAreNotRetried(_ wire: Wire) async throws {
        let fake = try await FakeProvider.start(wire, [.status(401), .text("never")])
        defer { Task { await fake.stop() } }
        let provider = try await fake.provider()
        let error = await #expect(throws: LLMError.self) { try await provider.complete(request(), timeout: .seconds(60)) }
        #expect(await fake.received.count == 1)
        #expect("\(error.map { "\($0)" } ?? "")".contains("check the API key"))
    }

    @Test(arguments: Wire.allCases)
    func aSlowProviderTimesOut(_ wire: Wire) async throws {
        // The fake waits 30 s: far enough past the 500 ms timeout that a machine busy with the
        // whole suite (seconds of scheduling delay seen on 2 cores) still tells the two apart.
        let fake = try await FakeProvider.start(wire, [.delay(.seconds(30), then: .text("late"))])
        defer { Task { await fake.stop() } }
        let provider = try await fake.provider()
        let start = ContinuousClock.now
        do {
            _ = try await provider.complete(request(), timeout: .milliseconds(500))
            Issue.record("expected a timeout")
        } catch let e as LLMError {
            guard case .timedOut = e else {
                Issue.record("expected timedOut, got \(e)")
                return
            }
        }
        // Well under the fake's 30 s delay: the 500 ms timeout ended the call.
        #expect(ContinuousClock.now - start < .seconds(25))
    }

    @Test func anUnreachableProviderSaysSo() async throws {
        // Bind and close to get a port nobody listens on.
        let fake = try await FakeProvider.start(.openai, [])
        await fake.stop()
        let provider = try await fake.provider(retries: 1)
        let start = ContinuousClock.now
        // Refused connections fail fast: well before the 30 s timeout (slack for a loaded CI box).
        defer { #expect(ContinuousClock.now - start < .seconds(25)) }
        do {
            _ = try await provider.complete(request(), timeout: .seconds(30))
            Issue.record("expected an error")
        } catch let e as LLMError {
            guard case .unreachable = e else {
                Issue.record("expected unreachable, got \(e)")
                return
            }
            #expect(!"\(e)".contains(Self.key))
        }
    }

    @Test func configurationFromTheEnvironment() throws {
        #expect(throws: LLMError.self) { try LLMConfig.fromEnvironment(["MEND_LLM_PROVIDER": "anthropic"]) }
        #expect(throws: LLMError.self) { try LLMConfig.fromEnvironment(["MEND_LLM_PROVIDER": "gemini"]) }
        let local = try LLMConfig.fromEnvironment([
            "MEND_LLM_PROVIDER": "openai", "MEND_LLM_BASE_URL": "http://localhost:11434/v1", "MEND_LLM_MODEL": "qwen3",
            "MEND_LLM_MAX_TURNS": "4", "MEND_LLM_TIMEOUT": "30",
        ])
        #expect(local.apiKey == nil)
        #expect(local.limits.maxTurns == 4)
        #expect(local.limits.wallClock == .seconds(30))
        #expect(local.prices.cost(model: "qwen3", usage: TokenUsage(input: 1_000_000, output: 0)) == 0)
        let claude = try LLMConfig.fromEnvironment([
            "ANTHROPIC_API_KEY": Self.key, "MEND_LLM_MODEL": "claude-sonnet-4-5-20250929", "MEND_LLM_PRICE_OUT": "20",
        ])
        #expect("\(claude.apiKey.map { "\($0)" } ?? "")" == "<redacted>")
        var dumped = ""
        dump(claude, to: &dumped)
        #expect(!"\(claude)".contains(Self.key) && !String(reflecting: claude).contains(Self.key) && !dumped.contains(Self.key))
        // The table's input price, the overridden output price.
        #expect(claude.prices.cost(model: claude.model, usage: TokenUsage(input: 1_000_000, output: 1_000_000)) == 23)
        #expect(PriceTable().price(for: "gpt-4o-mini-2024-07-18") == .init(input: 0.15, output: 0.6))
        #expect(endpoint("http://h:1/v1/", "chat/completions") == "http://h:1/v1/chat/completions")
        #expect(endpoint("https://api.anthropic.com", "messages") == "https://api.anthropic.com/v1/messages")
    }
}
