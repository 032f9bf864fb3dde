import Foundation
public import MCP
import NIOConcurrencyHelpers

/// An ``LLMProvider`` backed by MCP sampling: when Mend runs as an MCP server
/// (`mend mcp --planner sampling`), each model turn is a `sampling/createMessage`
/// request to the connected client, which answers with its own model. The
/// ``LLMPlanner`` loop, its limits, the strict plan reader, data fencing and the
/// Engine's fallback to the rules planner all apply unchanged.
///
/// Text mode: swift-sdk 0.12.1's `Server.requestSampling` cannot send tool definitions
/// (`CreateSamplingMessage.Parameters.tools` exists, but the public request API drops it,
/// and the generic sender is private). So the model cannot call Mend's tools or
/// `submit_plan`. Instead the system prompt asks for `submit_plan`'s input as one JSON
/// object in the reply; the first JSON object in the reply text becomes a `submit_plan`
/// call, which ``SubmitPlanTool/read(_:incident:schema:plannedBy:)`` checks as strictly
/// as a real tool call. Use it with ``MCPToolbox/none()``: the brief then offers no
/// read-only tools, and any tool call the client's model fabricates is refused.
///
/// Sampling reports no token counts, so usage is 0 tokens; the model name is the one
/// the client reports, as `mcp-sampling:<model>`.
public struct SamplingProvider: LLMProvider {
    public typealias Sample = @Sendable (CreateSamplingMessage.Parameters) async throws -> CreateSamplingMessage.Result

    /// Limits for a conversation through the client: few turns (each may be shown to a
    /// person) and longer waits (the client may ask the person before sampling).
    public static let limits = AgentLimits(maxTurns: 4, wallClock: .seconds(300), requestTimeout: .seconds(120))

    let sample: Sample
    /// The model the client last reported. Shared by copies of the provider.
    /// The last model name the client reported (planning may run concurrently).
    private let reported = NIOLockedValueBox<String?>(nil)

    public init(sample: @escaping Sample) {
        self.sample = sample
    }

    public var model: String { reported.withLockedValue { $0 }.map { "mcp-sampling:\($0)" } ?? "mcp-sampling" }
    public var plannerName: String { model }

    public func complete(_ request: LLMRequest, timeout: Duration) async throws -> LLMResponse {
        let params = CreateSamplingMessage.Parameters(
            messages: request.messages.map(Self.message),
            systemPrompt: request.system + "\n\n" + Self.textMode,
            includeContext: Sampling.ContextInclusion.none,
            maxTokens: request.maxTokens)
        let sample = self.sample
        let result: CreateSamplingMessage.Result
        do {
            result = try await withDeadline(timeout, what: "sampling/createMessage") { try await sample(params) }
        } catch is DeadlineExceeded {
            throw LLMError.timedOut(url: Self.endpoint, after: timeout)
        } catch let e as LLMError {
            throw e
        } catch {
            throw LLMError.configuration("MCP sampling failed (--planner sampling): \(error)")
        }
        let name = Self.modelName(result.model)
        reported.withLockedValue { $0 = name }
        var content: [ContentBlock] = []
        var submitted = false
        for (i, block) in result.content.asArray.enumerated() {
            switch block {
            case .text(let text):
                content.append(.text(text))
                if !submitted, let input = Self.firstJSONObject(in: text) {
                    submitted = true
                    content.append(.toolUse(id: "sampling-\(i)", name: SubmitPlanTool.toolName, input: input))
                }
            case .toolUse(let use):
                // Not asked for (no tools were sent); the planner refuses anything but submit_plan.
                content.append(.toolUse(id: use.id, name: use.name, input: .object(use.input)))
            case .image, .audio, .toolResult:
                content.append(.text("[non-text content omitted]"))
            }
        }
        return LLMResponse(content: content, usage: TokenUsage(), stopReason: result.stopReason?.rawValue)
    }

    /// How errors name the far end: there is no URL, the client is the provider.
    static let endpoint = "the MCP client (sampling/createMessage)"

    static var textMode: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let schema = (try? e.encode(SubmitPlanTool.inputSchema)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return """
            Reply format: this conversation runs over MCP sampling, which cannot carry tools, so no tool \
            can be called and none are offered. Calling submit_plan means replying with its input as one \
            JSON object, for example {"operations": [{"kind": "add_column", "column": "coupon", "type": "text"}], \
            "rationale": "...", "confidence": 0.8}. Mend reads the first JSON object in your reply, with the \
            same strict checks as the tool; write no other JSON before it. Its JSON Schema: \(schema)
            """
    }

    /// A conversation turn as one text message: sampling here carries no tool blocks.
    static func message(_ m: ChatMessage) -> Sampling.Message {
        let hasText = m.content.contains { if case .text = $0 { true } else { false } }
        let parts: [String] = m.content.compactMap { block in
            switch block {
            case .text(let t): return t
            case .toolUse(_, let name, let input):
                // The reply's text already holds the JSON it came from.
                return hasText ? nil : "\(name): \(DataFence.encode(input))"
            case .toolResult(_, let content, let isError): return (isError ? "Mend (error): " : "Mend: ") + content
            }
        }
        let text = Sampling.Message.Content.text(parts.joined(separator: "\n\n"))
        return m.role == .user ? .user(text) : .assistant(text)
    }

    /// The client's model name, safe for plan metadata and the audit log.
    static func modelName(_ raw: String) -> String? {
        let clean = String(raw.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.map(Character.init))
            .trimmingCharacters(in: .whitespaces)
        return clean.isEmpty ? nil : DataFence.capString(clean, 100)
    }

    /// The first balanced `{...}` in `text` that parses as a JSON object (models often
    /// wrap it in prose or a code fence). Bounded: at most 50 candidate openings.
    static func firstJSONObject(in text: String) -> Value? {
        let bytes = Array(text.utf8)
        var attempts = 0
        var start = bytes.firstIndex(of: UInt8(ascii: "{"))
        while let s = start, attempts < 50 {
            attempts += 1
            var depth = 0
            var inString = false
            var escaped = false
            var end: Int?
            scan: for j in s..<bytes.count {
                let c = bytes[j]
                if inString {
                    if escaped {
                        escaped = false
                    } else if c == UInt8(ascii: "\\") {
                        escaped = true
                    } else if c == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 {
                        end = j
                        break scan
                    }
                default: break
                }
            }
            if let end, let v = try? JSONDecoder().decode(Value.self, from: Data(bytes[s...end])), v.objectValue != nil {
                return v
            }
            start = bytes[(s + 1)...].firstIndex(of: UInt8(ascii: "{"))
        }
        return nil
    }
}

extension LLMPlanner {
    /// The planner of `--planner sampling`: the client's model through `sample`, no tools.
    public static func sampling(limits: AgentLimits = SamplingProvider.limits, sample: @escaping SamplingProvider.Sample) -> LLMPlanner {
        LLMPlanner(provider: SamplingProvider(sample: sample), toolbox: .none(), limits: limits)
    }
}
