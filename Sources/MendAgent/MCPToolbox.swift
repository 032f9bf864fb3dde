import Foundation
public import MCP
import NIOConcurrencyHelpers

/// Mend's tools as the agent reaches them: an MCP client connected (in process) to
/// the same tool registry the MCP server exposes, so the built-in agent and an
/// outside agent pass the same code. Only read-only tools are offered to the model.
public struct MCPToolbox: Sendable {
    public let client: Client
    /// Tools the model may call, when the server offers them.
    public var allowed: Set<String>

    /// Read-only tools: they inspect state or dry-run a plan, and change nothing.
    public static let readOnly: Set<String> = [
        "list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan",
        "query_audit", "pipeline_stats",
    ]
    /// Tools that change state. Never offered, and refused by name if the model asks,
    /// whatever the allow-list says: the model cannot approve or apply its own plan.
    public static let mutating: Set<String> = [
        "apply_plan", "approve_plan", "reject_plan", "quarantine_records", "replay_incident", "repair_incident",
        "ingest", "ingest_records", "set_policy", "submit_plan_for_approval",
    ]

    public init(client: Client, allowed: Set<String> = MCPToolbox.readOnly) {
        self.client = client
        self.allowed = allowed.subtracting(MCPToolbox.mutating)
    }

    /// A toolbox that offers no tools, for a model that cannot call them (MCP sampling in
    /// text mode, see ``SamplingProvider``). Its client is never connected or used.
    public static func none() -> MCPToolbox {
        MCPToolbox(client: Client(name: "mend-no-tools", version: "0"), allowed: [])
    }

    /// Connects a new client to `server` over an in-memory transport and starts the server.
    public static func connect(to server: Server, clientName: String = "mend-agent") async throws -> Client {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverSide)
        let client = Client(name: clientName, version: "0.1")
        _ = try await client.connect(transport: clientSide)
        return client
    }

    /// The allowed tools the server offers, as the model will see them. Listed once per
    /// toolbox: Mend's registry does not change while it runs (listChanged: false).
    public func specs() async throws -> [ToolSpec] {
        // Nothing allowed, nothing to list: such a toolbox's client may never connect (``none()``).
        if allowed.isEmpty { return [] }
        if let cached = cache.withLockedValue({ $0 }) { return cached }
        let listed = try await list()
        cache.withLockedValue { $0 = listed }
        return listed
    }

    private let cache = NIOLockedValueBox<[ToolSpec]?>(nil)

    private func list() async throws -> [ToolSpec] {
        var out: [ToolSpec] = []
        var cursor: String?
        for _ in 0..<20 {  // bounded paging
            let page = try await client.listTools(cursor: cursor)
            for t in page.tools where allowed.contains(t.name) && !MCPToolbox.mutating.contains(t.name) {
                out.append(ToolSpec(name: t.name, description: t.description ?? t.name, inputSchema: t.inputSchema))
            }
            guard let next = page.nextCursor else { break }
            cursor = next
        }
        return out
    }

    /// Calls a tool and returns its text contents and whether it reported an error.
    public func call(_ name: String, arguments: [String: Value], timeout: Duration) async throws -> (texts: [String], isError: Bool) {
        let client = self.client
        let result: (content: [Tool.Content], isError: Bool?) = try await withDeadline(timeout, what: "tool \(name)") {
            try await client.callTool(name: name, arguments: arguments)
        }
        let texts = result.content.compactMap { c -> String? in
            switch c {
            case .text(let t, _, _): t
            case .resource(let r, _, _): r.text
            default: nil
            }
        }
        return (texts, result.isError ?? false)
    }
}
