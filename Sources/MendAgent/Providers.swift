public import AsyncHTTPClient
import Foundation
import MCP

/// Joins a base URL and an API path, tolerating a base that already ends in `/v1`.
func endpoint(_ base: String, _ path: String) -> String {
    var b = base
    while b.hasSuffix("/") { b.removeLast() }
    return b.hasSuffix("/v1") ? b + "/" + path : b + "/v1/" + path
}

/// The Anthropic Messages API with tool use: POST {base}/v1/messages.
public struct AnthropicProvider: LLMProvider {
    public let model: String
    let url: String
    let poster: JSONPoster
    let key: APIKey

    public init(config: LLMConfig, client: HTTPClient = LLMHTTP.client) throws {
        guard let key = config.apiKey else {
            throw LLMError.configuration("the anthropic provider needs ANTHROPIC_API_KEY in the environment")
        }
        self.model = config.model
        self.url = endpoint(config.baseURL, "messages")
        self.key = key
        self.poster = JSONPoster(client: client, retry: config.retry, key: key)
    }

    public func complete(_ request: LLMRequest, timeout: Duration) async throws -> LLMResponse {
        let messages: [Value] = request.messages.map { m in
            .object([
                "role": .string(m.role.rawValue),
                "content": .array(
                    m.content.map { block in
                        switch block {
                        case .text(let t): .object(["type": "text", "text": .string(t)])
                        case .toolUse(let id, let name, let input):
                            .object([
                                "type": "tool_use", "id": .string(id), "name": .string(name),
                                "input": input.objectValue == nil ? .object([:]) : input,
                            ])
                        case .toolResult(let id, let content, let isError):
                            .object([
                                "type": "tool_result", "tool_use_id": .string(id), "content": .string(content), "is_error": .bool(isError),
                            ])
                        }
                    }),
            ])
        }
        var body: [String: Value] = [
            "model": .string(model), "max_tokens": .int(request.maxTokens), "system": .string(request.system),
            "messages": .array(messages),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map {
                    .object(["name": .string($0.name), "description": .string($0.description), "input_schema": $0.inputSchema])
                })
            // The conversation only ends through submit_plan, so every turn must call a tool.
            body["tool_choice"] = .object(["type": "any"])
        }
        let reply = try await poster.post(
            url: url, headers: [("x-api-key", key.secret), ("anthropic-version", "2023-06-01")], body: .object(body),
            timeout: timeout)
        guard let blocks = reply.objectValue?["content"]?.arrayValue else {
            throw LLMError.badResponse("an Anthropic reply without 'content'")
        }
        var content: [ContentBlock] = []
        for b in blocks {
            guard let o = b.objectValue else { continue }
            switch o["type"]?.stringValue {
            case "text": content.append(.text(o["text"]?.stringValue ?? ""))
            case "tool_use":
                content.append(
                    .toolUse(
                        id: o["id"]?.stringValue ?? "toolu_\(content.count)", name: o["name"]?.stringValue ?? "",
                        input: o["input"] ?? .object([:])))
            default: continue  // thinking and other blocks carry nothing the loop acts on
            }
        }
        let usage = reply.objectValue?["usage"]?.objectValue
        return LLMResponse(
            content: content,
            usage: TokenUsage(input: usage?["input_tokens"]?.intValue ?? 0, output: usage?["output_tokens"]?.intValue ?? 0),
            stopReason: reply.objectValue?["stop_reason"]?.stringValue)
    }
}

/// The OpenAI-compatible chat completions API (OpenAI, Ollama, vLLM, llama.cpp's
/// server): POST {base}/v1/chat/completions, or {base}/chat/completions when the
/// base already ends in /v1.
public struct OpenAIProvider: LLMProvider {
    public let model: String
    let url: String
    let poster: JSONPoster
    let key: APIKey?
    /// api.openai.com wants max_completion_tokens (newer models refuse max_tokens);
    /// compatible servers know max_tokens.
    let usesCompletionTokens: Bool

    public init(config: LLMConfig, client: HTTPClient = LLMHTTP.client) {
        self.model = config.model
        self.url = endpoint(config.baseURL, "chat/completions")
        self.key = config.apiKey
        self.poster = JSONPoster(client: client, retry: config.retry, key: config.apiKey)
        self.usesCompletionTokens = URL(string: config.baseURL)?.host == "api.openai.com"
    }

    public func complete(_ request: LLMRequest, timeout: Duration) async throws -> LLMResponse {
        var messages: [Value] = [.object(["role": "system", "content": .string(request.system)])]
        for m in request.messages {
            switch m.role {
            case .user:
                // Tool results are messages of their own in this format; text stays a user message.
                var text: [String] = []
                for block in m.content {
                    switch block {
                    case .toolResult(let id, let content, let isError):
                        messages.append(
                            .object([
                                "role": "tool", "tool_call_id": .string(id), "content": .string(isError ? "ERROR: " + content : content),
                            ]))
                    case .text(let t): text.append(t)
                    case .toolUse: continue
                    }
                }
                if !text.isEmpty { messages.append(.object(["role": "user", "content": .string(text.joined(separator: "\n\n"))])) }
            case .assistant:
                var text: [String] = []
                var calls: [Value] = []
                for block in m.content {
                    switch block {
                    case .text(let t): text.append(t)
                    case .toolUse(let id, let name, let input):
                        calls.append(
                            .object([
                                "id": .string(id), "type": "function",
                                "function": .object(["name": .string(name), "arguments": .string(Self.json(input))]),
                            ]))
                    case .toolResult: continue
                    }
                }
                var msg: [String: Value] = ["role": "assistant", "content": text.isEmpty ? .null : .string(text.joined(separator: "\n"))]
                if !calls.isEmpty { msg["tool_calls"] = .array(calls) }
                messages.append(.object(msg))
            }
        }
        var body: [String: Value] = ["model": .string(model), "messages": .array(messages)]
        body[usesCompletionTokens ? "max_completion_tokens" : "max_tokens"] = .int(request.maxTokens)
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map {
                    .object([
                        "type": "function",
                        "function": .object([
                            "name": .string($0.name), "description": .string($0.description), "parameters": $0.inputSchema,
                        ]),
                    ])
                })
        }
        var headers: [(String, String)] = []
        if let key { headers.append(("authorization", "Bearer \(key.secret)")) }
        let reply = try await poster.post(url: url, headers: headers, body: .object(body), timeout: timeout)
        guard let choice = reply.objectValue?["choices"]?.arrayValue?.first?.objectValue,
            let message = choice["message"]?.objectValue
        else {
            throw LLMError.badResponse("a chat completion without choices[0].message")
        }
        var content: [ContentBlock] = []
        if let t = message["content"]?.stringValue, !t.isEmpty { content.append(.text(t)) }
        for (i, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let c = call.objectValue, let f = c["function"]?.objectValue else { continue }
            let raw = f["arguments"]
            // Arguments arrive as a JSON string (some servers send an object). Text that is
            // not JSON is kept as a string, and the loop tells the model so.
            let input: Value
            if let s = raw?.stringValue {
                input = (try? JSONDecoder().decode(Value.self, from: Data(s.utf8))) ?? .string(s)
            } else {
                input = raw ?? .object([:])
            }
            content.append(.toolUse(id: c["id"]?.stringValue ?? "call_\(i)", name: f["name"]?.stringValue ?? "", input: input))
        }
        let usage = reply.objectValue?["usage"]?.objectValue
        return LLMResponse(
            content: content,
            usage: TokenUsage(input: usage?["prompt_tokens"]?.intValue ?? 0, output: usage?["completion_tokens"]?.intValue ?? 0),
            stopReason: choice["finish_reason"]?.stringValue)
    }

    static func json(_ v: Value) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension LLMConfig {
    /// The provider this configuration names.
    public func makeProvider(client: HTTPClient = LLMHTTP.client) throws -> any LLMProvider {
        switch provider {
        case .anthropic: try AnthropicProvider(config: self, client: client)
        case .openai: OpenAIProvider(config: self, client: client)
        }
    }
}
