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
            annotations: ToolSchema.writes("Replay parked records", destructive: false, idempotent: true),
            outputSchema: OutputSchema.tool(
                "replay_incident", title: "Replay result",
                [
                    "incident_id": OutputSchema.integer(), "loaded": OutputSchema.integer("Records that fit now and were loaded."),
                    "still_parked": OutputSchema.integer("Records that still drift (possibly in a new incident)."),
                    "quarantined": OutputSchema.integer("Records set aside by a quarantine plan."),
                    "resolved": OutputSchema.boolean("Whether the incident is resolved now."),
                ]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let id = try a.incidentID()
        let r = try await context.engine.replay(incidentID: id, by: context.caller.actor)
        return ToolOutcome(
            summary:
                "replayed incident #\(id): \(r.loaded) loaded, \(r.quarantined) quarantined, \(r.stillParked) still parked\(r.resolved ? "; resolved" : "")",
            // Written out, not encoded from the engine's type: the output schema is a promise.
            value: .object([
                "incident_id": .int(Int(id)), "loaded": .int(Int(r.loaded)), "still_parked": .int(Int(r.stillParked)),
                "quarantined": .int(Int(r.quarantined)), "resolved": .bool(r.resolved),
            ]))
    }
}
