import MCP
import MendCore
import MendPipeline

/// `list_incidents`: the starting point, optionally filtered by status or table.
enum ListIncidentsTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "list_incidents",
            description: """
                List drift incidents: records of one table that did not fit, grouped by the same problem (signature). \
                Start here. Each has an id, its table, status (open, pending_approval, resolved, rejected), the drift \
                kinds, how many records are parked, and the first reason.
                """,
            inputSchema: ToolSchema.object([
                "status": .object([
                    "type": "string", "enum": ["open", "pending_approval", "resolved", "rejected"], "description": "Only this status.",
                ]),
                "table": .object(["type": "string", "description": "Only this table."]),
            ]),
            annotations: ToolSchema.readOnly("List incidents"),
            outputSchema: OutputSchema.tool(
                "list_incidents", title: "Incidents",
                ["incidents": OutputSchema.array(OutputSchema.incident()), "count": OutputSchema.integer("How many are listed.")]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let status = try a.string("status")
        if let status, IncidentStatus(rawValue: status) == nil {
            throw ToolError.invalidArgument("status: '\(status)' is not a status; use open, pending_approval, resolved or rejected")
        }
        let table = try a.string("table")
        let list = try await context.engine.incidents().filter {
            (status == nil || $0.status.rawValue == status) && (table == nil || $0.table == table)
        }
        let open = list.filter(\.status.isOpen).count
        return ToolOutcome(
            summary: list.isEmpty ? "no incidents" : "\(list.count) incident(s), \(open) not resolved",
            value: .object(["incidents": .array(list.map(ToolValue.incident)), "count": .int(list.count)]))
    }
}
