import Foundation
import MCP
import MendAgent

/// A tiny MCP server with fake tools, for testing the loop without an Engine: three
/// read-only tools and two mutating ones that count the calls they receive.
actor FakeToolLog {
    var calls: [String] = []
    func add(_ n: String) { calls.append(n) }
}

struct FakeTools {
    let server: Server
    let client: Client
    let log: FakeToolLog

    /// `records` are what get_incident returns as parked samples (injection payloads go here).
    static func start(records: [Value] = [], hangOn: String? = nil) async throws -> FakeTools {
        let log = FakeToolLog()
        let server = Server(name: "fake-mend", version: "0", capabilities: .init(tools: .init(listChanged: false)))
        let schema: Value = ["type": "object", "properties": ["incident_id": ["type": "integer"]]]
        let tools = [
            Tool(name: "get_incident", description: "incident", inputSchema: schema),
            Tool(
                name: "get_table_schema", description: "schema",
                inputSchema: ["type": "object", "properties": ["table": ["type": "string"]]]),
            Tool(name: "list_incidents", description: "list", inputSchema: ["type": "object"]),
            Tool(name: "apply_plan", description: "applies", inputSchema: schema),
            Tool(name: "approve_plan", description: "approves", inputSchema: schema),
        ]
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { p in
            await log.add(p.name)
            if p.name == hangOn { try await Task.sleep(for: .seconds(30)) }
            switch p.name {
            case "get_incident":
                let v: Value = [
                    "id": 1, "table": "orders", "samples": .array(records.map { ["record": .string(json($0)), "reason": "new field"] }),
                ]
                return CallTool.Result(content: [
                    .text(text: "incident 1 on orders", annotations: nil, _meta: nil), .text(text: json(v), annotations: nil, _meta: nil),
                ])
            case "get_table_schema":
                return CallTool.Result(content: [
                    .text(text: json(["columns": [["name": "customer_id", "type": "bigint"]]]), annotations: nil, _meta: nil)
                ])
            case "list_incidents":
                return CallTool.Result(content: [.text(text: "[]", annotations: nil, _meta: nil)])
            default:
                return CallTool.Result(content: [.text(text: "DONE: \(p.name) executed", annotations: nil, _meta: nil)])
            }
        }
        let client = try await MCPToolbox.connect(to: server)
        return FakeTools(server: server, client: client, log: log)
    }
}
