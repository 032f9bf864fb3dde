public import MCP
import MendPipeline

/// One MCP tool: what tools/list shows (name, description, input schema, annotations)
/// and what tools/call runs, in one type. A new tool is a new file here and one line in
/// ``MendTools/registry``.
protocol MendTool: Sendable {
    static var definition: Tool { get }
    static func call(_ arguments: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome
}

extension MendTool {
    static var name: String { definition.name }
}

/// What a handler may use: the engine, the server's options, and who is calling.
struct ToolContext: Sendable {
    var engine: Engine
    var options: MendToolOptions
    var caller: ToolCaller
}

/// What a handler hands back: a short summary for people, structured JSON for agents
/// (in the shape of the tool's output schema, or of ``OutputSchema/error`` for a failure).
struct ToolOutcome {
    var summary: String
    var value: Value
    private(set) var isError = false

    init(summary: String, value: Value) {
        self.summary = summary
        self.value = value
    }

    /// A result with `isError: true`: the message, also as `{"error": message}`.
    static func failure(_ message: String) -> ToolOutcome {
        var o = ToolOutcome(summary: message, value: .object(["error": .string(message)]))
        o.isError = true
        return o
    }
}

extension MendTools {
    /// Every tool Mend serves, in the order tools/list shows them.
    static let registry: [any MendTool.Type] = [
        ListIncidentsTool.self,
        GetIncidentTool.self,
        GetTableSchemaTool.self,
        SampleRecordsTool.self,
        ProposePlanTool.self,
        ApplyPlanTool.self,
        ApprovePlanTool.self,
        RejectPlanTool.self,
        ReplayIncidentTool.self,
        QuarantineRecordsTool.self,
        QueryAuditTool.self,
        PipelineStatsTool.self,
    ]

    /// Looked up by name once, not per call.
    static let byName: [String: any MendTool.Type] = Dictionary(uniqueKeysWithValues: registry.map { ($0.name, $0) })

    /// Mend's tools, with input schemas and honest annotations.
    public static var definitions: [Tool] { registry.map { $0.definition } }
}
