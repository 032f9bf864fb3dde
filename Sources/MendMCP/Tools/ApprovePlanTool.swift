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
                decision: Mend asks the person through the client (elicitation) and records their name; a client \
                without elicitation is refused and told to have a person run `mend approve ID`. Only call this when \
                the person asked for it.
                """,
            inputSchema: ToolSchema.object(
                [
                    "incident_id": ToolSchema.incidentID,
                    "approver": .object([
                        "type": "string",
                        "description": "Who approves (used only where the server allows approval without elicitation).",
                    ]),
                    "note": .object(["type": "string", "description": "Kept in the audit log."]),
                ], required: ["incident_id"]),
            annotations: ToolSchema.writes("Approve and apply a plan", destructive: true, idempotent: false))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let caller = context.caller
        let id = try a.incidentID()
        guard let stored = try await context.engine.currentPlan(incidentID: id), stored.plan.status == .pendingApproval else {
            throw ToolError.refused("incident #\(id) has no plan waiting for approval; get_incident shows its plans")
        }
        if caller.elicit != nil { return try await PlanFlow.seekApproval(stored, incidentID: id, context) }
        guard context.options.allowApprovalWithoutElicitation else {
            throw ToolError.refused(
                "approving needs a person, and this client did not declare the elicitation capability, so Mend cannot ask one. "
                    + "A person runs `mend approve \(id)` (or `mend reject \(id) --reason ...`).")
        }
        let who = try a.string("approver") ?? caller.actor
        let done = try await context.engine.approve(
            incidentID: id, by: who, note: try a.string("note") ?? "approved through MCP by \(caller.actor) without elicitation")
        return try await PlanFlow.applied(id, planID: done.plan.id, approvedBy: who, engine: context.engine)
    }
}
