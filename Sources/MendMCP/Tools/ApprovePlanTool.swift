import MCP
import MendCore
import MendPipeline
import MendStore

/// `approve_plan`: a person's approval of the pending plan, asked through elicitation;
/// an agent cannot approve its own plan unless the operator allowed it.
enum ApprovePlanTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "approve_plan",
            description: """
                Approve the plan waiting on an incident, then apply it and replay the records. Approval is a person's \
                decision: Mend asks through the client (elicitation) and records the answer as this client's. It \
                counts as an approval only for clients the policy lists in mcp_approvers; otherwise the plan waits for a \
                person on the dashboard or at `mend approve ID`. Only call this when the person asked for it.
                """,
            inputSchema: ToolSchema.object(
                [
                    "incident_id": ToolSchema.incidentID,
                    "note": .object(["type": "string", "description": "Kept in the audit log."]),
                ], required: ["incident_id"]),
            annotations: ToolSchema.writes("Approve and apply a plan", destructive: true, idempotent: false),
            outputSchema: OutputSchema.repairOutcome("approve_plan", title: "Applied, or waiting for a person"))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let caller = context.caller
        let id = try a.incidentID()
        guard let stored = try await context.engine.currentPlan(incidentID: id), stored.plan.status == .pendingApproval else {
            throw ToolError.refused("incident #\(id) has no plan waiting for approval; get_incident shows its plans")
        }
        if caller.elicit != nil { return try await PlanFlow.seekApproval(stored, incidentID: id, context) }
        guard await PlanFlow.mayApprove(context) else {
            throw ToolError.refused(
                "approving needs a person: this client cannot ask one (no elicitation capability) and the policy does not list '\(caller.identity)' in mcp_approvers. "
                    + "A person approves on the dashboard or runs `mend approve \(id)` (or `mend reject \(id) --reason ...`).")
        }
        let done = try await context.engine.approve(
            incidentID: id, by: caller.actor,
            note: try a.string("note") ?? "approved through MCP by \(caller.actor) (policy mcp_approvers)")
        return try await PlanFlow.applied(id, planID: done.plan.id, approvedBy: caller.actor, engine: context.engine)
    }
}
