import MCP
import MendPipeline

/// `reject_plan`: rejects the pending plan with a reason; the records stay parked.
enum RejectPlanTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "reject_plan",
            description: """
                Reject the plan waiting on an incident, with a reason for the audit log. The records stay parked; a new \
                plan can be proposed and applied afterwards.
                """,
            inputSchema: ToolSchema.object(
                [
                    "incident_id": ToolSchema.incidentID,
                    "reason": .object(["type": "string", "minLength": 1, "description": "Why (kept in the audit log)."]),
                ], required: ["incident_id", "reason"]),
            annotations: ToolSchema.writes("Reject a plan", destructive: false, idempotent: false),
            outputSchema: OutputSchema.tool(
                "reject_plan", title: "Rejected", ["outcome": OutputSchema.constant("rejected"), "incident_id": OutputSchema.integer()]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let id = try a.incidentID()
        guard let reason = try a.string("reason", required: "why the plan is rejected (kept in the audit log)") else {
            throw ToolError.invalidArgument("reason: required")
        }
        try await context.engine.reject(incidentID: id, by: context.caller.actor, reason: reason)
        return ToolOutcome(
            summary: "rejected; the records of incident #\(id) stay parked. propose_plan and apply_plan can try another plan.",
            value: .object(["outcome": "rejected", "incident_id": .int(Int(id))]))
    }
}
