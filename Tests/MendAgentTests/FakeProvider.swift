import Foundation
import MCP
import MendAgent
import NIOCore
import NIOHTTP1
import NIOPosix

/// Which provider wire format the fake speaks.
enum Wire: String, CaseIterable, Sendable, CustomStringConvertible {
    case anthropic, openai
    var description: String { rawValue }
}

/// One scripted model turn, in provider-neutral form; rendered in either wire format.
indirect enum Turn: Sendable {
    /// The model calls tools (id, name, input). Several calls may share a turn.
    case tools([(name: String, input: Value)])
    /// The model answers in prose and calls nothing.
    case text(String)
    /// An HTTP error with optional Retry-After header and body.
    case status(Int, retryAfter: String? = nil, body: String = "{\"error\":\"scripted\"}")
    /// Waits before answering with the next turn (a slow or hung provider).
    case delay(Duration, then: Turn)
    /// OpenAI only: tool-call arguments that are not JSON.
    case rawArguments(name: String, arguments: String)

    static func tool(_ name: String, _ input: Value) -> Turn { .tools([(name, input)]) }
    static func submit(_ ops: [Value], rationale: String = "scripted", confidence: Double = 0.9) -> Turn {
        .tool("submit_plan", ["operations": .array(ops), "rationale": .string(rationale), "confidence": .double(confidence)])
    }
}

/// A request the fake received, for assertions.
struct Received: Sendable {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: Value
    var rawBody: String

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    /// The tool names the request offered the model.
    var toolNames: [String] {
        (body.objectValue?["tools"]?.arrayValue ?? []).compactMap {
            $0.objectValue?["name"]?.stringValue ?? $0.objectValue?["function"]?.objectValue?["name"]?.stringValue
        }
    }
}

/// The scripted conversation: replies in order; records every request.
actor Script {
    private var turns: [Turn]
    private(set) var received: [Received] = []
    private var callCounter = 0
    let wire: Wire

    init(_ wire: Wire, _ turns: [Turn]) {
        self.wire = wire
        self.turns = turns
    }

    func next(_ r: Received) -> (Turn?, Int) {
        received.append(r)
        callCounter += 1
        return (turns.isEmpty ? nil : turns.removeFirst(), callCounter)
    }

    var remaining: Int { turns.count }

    /// The HTTP status, headers and body for a turn.
    static func render(_ turn: Turn?, wire: Wire, n: Int) -> (Int, [(String, String)], String) {
        guard let turn else { return (500, [], "{\"error\":\"script exhausted\"}") }
        let usage = (input: 100, output: 20)
        switch turn {
        case .status(let code, let retryAfter, let body):
            return (code, retryAfter.map { [("retry-after", $0)] } ?? [], body)
        case .delay(_, let then):
            return render(then, wire: wire, n: n)
        case .text(let t):
            switch wire {
            case .anthropic:
                return ok([
                    "id": "msg_\(n)", "type": "message", "role": "assistant", "model": "fake",
                    "content": [["type": "text", "text": .string(t)]], "stop_reason": "end_turn",
                    "usage": ["input_tokens": .int(usage.input), "output_tokens": .int(usage.output)],
                ])
            case .openai:
                return ok([
                    "id": "chatcmpl-\(n)", "object": "chat.completion", "model": "fake",
                    "choices": [["index": 0, "message": ["role": "assistant", "content": .string(t)], "finish_reason": "stop"]],
                    "usage": ["prompt_tokens": .int(usage.input), "completion_tokens": .int(usage.output), "total_tokens": 120],
                ])
            }
        case .tools(let calls):
            switch wire {
            case .anthropic:
                let blocks: [Value] =
                    [["type": "text", "text": "Let me look."]]
                    + calls.enumerated().map { i, c in
                        ["type": "tool_use", "id": .string("toolu_\(n)_\(i)"), "name": .string(c.name), "input": c.input]
                    }
                return ok([
                    "id": "msg_\(n)", "type": "message", "role": "assistant", "model": "fake", "content": .array(blocks),
                    "stop_reason": "tool_use", "usage": ["input_tokens": .int(usage.input), "output_tokens": .int(usage.output)],
                ])
            case .openai:
                let toolCalls: [Value] = calls.enumerated().map { i, c in
                    [
                        "id": .string("call_\(n)_\(i)"), "type": "function",
                        "function": ["name": .string(c.name), "arguments": .string(json(c.input))],
                    ]
                }
                return ok([
                    "id": "chatcmpl-\(n)", "object": "chat.completion", "model": "fake",
                    "choices": [
                        [
                            "index": 0, "message": ["role": "assistant", "content": .null, "tool_calls": .array(toolCalls)],
                            "finish_reason": "tool_calls",
                        ]
                    ],
                    "usage": ["prompt_tokens": .int(usage.input), "completion_tokens": .int(usage.output), "total_tokens": 120],
                ])
            }
        case .rawArguments(let name, let arguments):
            return ok([
                "choices": [
                    [
                        "index": 0,
                        "message": [
                            "role": "assistant", "content": .null,
                            "tool_calls": [
                                [
                                    "id": .string("call_\(n)"), "type": "function",
                                    "function": ["name": .string(name), "arguments": .string(arguments)],
                                ]
                            ],
                        ], "finish_reason": "tool_calls",
                    ]
                ],
                "usage": ["prompt_tokens": 10, "completion_tokens": 5],
            ])
        }
    }

    static func ok(_ v: Value) -> (Int, [(String, String)], String) { (200, [], json(v)) }
}

func json(_ v: Value) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? e.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
}

/// A real HTTP/1.1 server on 127.0.0.1 that replays a Script, so that the provider's
/// real AsyncHTTPClient path (headers, JSON, status codes, timeouts) is what gets tested.
final class FakeProvider: Sendable {
    let script: Script
    let port: Int
    let channel: any Channel

    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func start(_ wire: Wire, _ turns: [Turn]) async throws -> FakeProvider {
        let script = Script(wire, turns)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let port = server.channel.localAddress?.port ?? 0
        let channel = server.channel
        Task {
            try? await server.executeThenClose { connections in
                for try await connection in connections {
                    Task { try? await FakeProvider.serve(connection, script: script) }
                }
            }
        }
        return FakeProvider(script: script, port: port, channel: channel)
    }

    private init(script: Script, port: Int, channel: any Channel) {
        self.script = script
        self.port = port
        self.channel = channel
    }

    func stop() async { try? await channel.close() }

    var received: [Received] { get async { await script.received } }

    static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, script: Script) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var b):
                    body.writeBuffer(&b)
                case .end:
                    let text = String(buffer: body)
                    let parsed = (try? JSONDecoder().decode(Value.self, from: Data(text.utf8))) ?? .null
                    let r = Received(
                        method: head?.method.rawValue ?? "", path: head?.uri ?? "",
                        headers: head?.headers.map { ($0.name, $0.value) } ?? [],
                        body: parsed, rawBody: text)
                    let (turn, n) = await script.next(r)
                    if case .delay(let d, _) = turn { try await Task.sleep(for: d) }
                    let (status, extra, payload) = Script.render(turn, wire: script.wire, n: n)
                    var headers = HTTPHeaders()
                    headers.add(name: "content-type", value: "application/json")
                    headers.add(name: "content-length", value: String(payload.utf8.count))
                    for (k, v) in extra { headers.add(name: k, value: v) }
                    try await outbound.write(
                        .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: payload))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

extension FakeProvider {
    /// A provider pointed at this fake, with a test key and quick retries.
    func provider(model: String = "fake-model", key: String = "sk-test-SECRET-0123456789", retries: Int = 2) async throws -> any LLMProvider
    {
        try await config(model: model, key: key, retries: retries).makeProvider()
    }

    func config(model: String = "fake-model", key: String = "sk-test-SECRET-0123456789", retries: Int = 2) async -> LLMConfig {
        let wire = script.wire
        return LLMConfig(
            provider: wire == .anthropic ? .anthropic : .openai, baseURL: wire == .anthropic ? baseURL : baseURL + "/v1", model: model,
            apiKey: APIKey(key), retry: RetryPolicy(maxRetries: retries, baseDelay: .milliseconds(20), maxDelay: .seconds(2)))
    }
}
