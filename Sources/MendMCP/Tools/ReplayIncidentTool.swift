import MCP
import MendPipeline

/// `replay_incident`: parked records through validation again; only adds rows.
enum ReplayIncidentTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "replay_incident",
            description: """
                Run an incident's parked records through validation again (after a repair, or after someone fixed the \
                table by hand). Records that now fit are loaded; those that still drift stay parked, possibly in a new \
                incident. Only adds rows.
                """,
            inputSchema: ToolSchema.object(["incident_id": ToolSchema.incidentID], required: ["incident_id"]),
            annotations: ToolSchema.writes("Replay parked records", destructive: false, idempotent: true))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let id = try a.incidentID()
        let r = try await context.engine.replay(incidentID: id, by: context.caller.actor)
        return ToolOutcome(
            summary:
                "replayed incident #\(id): \(r.loaded) loaded, \(r.quarantined) quarantined, \(r.stillParked) still parked\(r.resolved ? "; resolved" : "")",
            value: try JSON.value(r))
    }
}
