import Foundation
public import MCP

/// One piece of a conversation turn, in a provider-neutral shape. Each provider maps
/// it to its own wire format (Anthropic content blocks, OpenAI messages and tool_calls).
public enum ContentBlock: Sendable, Equatable {
    case text(String)
    /// The model asks to call a tool. `input` is the parsed JSON object it wrote.
    case toolUse(id: String, name: String, input: Value)
    /// Mend's answer to a tool call.
    case toolResult(id: String, content: String, isError: Bool)
}

public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case user, assistant }
    public var role: Role
    public var content: [ContentBlock]

    public init(role: Role, content: [ContentBlock]) {
        self.role = role
        self.content = content
    }

    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: [.text(text)]) }
}

/// A tool as the model sees it: a name, what it does, and a JSON Schema for its input.
public struct ToolSpec: Sendable, Equatable {
    public var name: String
    public var description: String
    public var inputSchema: Value

    public init(name: String, description: String, inputSchema: Value) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
    }
}

public struct LLMRequest: Sendable {
    public var system: String
    public var messages: [ChatMessage]
    public var tools: [ToolSpec]
    /// Upper bound on the reply's tokens.
    public var maxTokens: Int

    public init(system: String, messages: [ChatMessage], tools: [ToolSpec], maxTokens: Int) {
        self.system = system
        self.messages = messages
        self.tools = tools
        self.maxTokens = maxTokens
    }
}

public struct TokenUsage: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public init(input: Int = 0, output: Int = 0) {
        self.input = input
        self.output = output
    }
    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage { .init(input: a.input + b.input, output: a.output + b.output) }
    public var total: Int { input + output }
}

public struct LLMResponse: Sendable, Equatable {
    /// Text and tool calls, in the order the model wrote them.
    public var content: [ContentBlock]
    public var usage: TokenUsage
    /// The provider's reason for stopping (`tool_use`, `end_turn`, `tool_calls`, `stop`, ...).
    public var stopReason: String?

    public init(content: [ContentBlock], usage: TokenUsage, stopReason: String?) {
        self.content = content
        self.usage = usage
        self.stopReason = stopReason
    }

    public var toolUses: [(id: String, name: String, input: Value)] {
        content.compactMap {
            if case .toolUse(let id, let name, let input) = $0 { return (id, name, input) }
            return nil
        }
    }
}

/// A chat model that can call tools.
public protocol LLMProvider: Sendable {
    /// The model name, as stored with plans (`llm:<model>`) and priced.
    var model: String { get }
    /// The planner's name, stored as the plan's `plannedBy` and as the audit actor of a
    /// fallback. Default `llm:<model>`; MCP sampling says `mcp-sampling:<model>`.
    var plannerName: String { get }
    /// One round trip. Retries transient failures (429, 5xx) itself, within `timeout`.
    func complete(_ request: LLMRequest, timeout: Duration) async throws -> LLMResponse
}

extension LLMProvider {
    public var plannerName: String { "llm:\(model)" }
}

/// Why a provider call failed. Messages never contain the API key.
public enum LLMError: Error, CustomStringConvertible, Sendable, Equatable {
    case configuration(String)
    case unreachable(url: String, reason: String)
    case timedOut(url: String, after: Duration)
    case http(status: Int, url: String, body: String, attempts: Int)
    case badResponse(String)

    public var description: String {
        switch self {
        case .configuration(let m): m
        case .unreachable(let url, let reason):
            "the LLM provider at \(url) is unreachable (\(reason)); check MEND_LLM_BASE_URL and the network"
        case .timedOut(let url, let after): "the LLM provider at \(url) did not answer within \(after)"
        case .http(let status, let url, let body, let attempts):
            "the LLM provider at \(url) answered HTTP \(status) after \(attempts) attempt(s): \(body)"
                + (status == 401 || status == 403 ? " (check the API key variable for MEND_LLM_PROVIDER)" : "")
                + (status == 404 ? " (check MEND_LLM_BASE_URL and MEND_LLM_MODEL)" : "")
        case .badResponse(let m): "the LLM provider's answer could not be read: \(m)"
        }
    }
}
