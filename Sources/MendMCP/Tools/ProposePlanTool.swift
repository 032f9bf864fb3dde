import MCP
import MendCore
import MendPipeline
import MendPlanFormat

/// `propose_plan`: a dry run of the agent's plan (or the rules planner's), changing nothing.
enum ProposePlanTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "propose_plan",
            description: """
                Dry run, changes nothing. Give a typed repair plan (schema below and in resource mend://schemas/plan) or \
                omit 'plan' to get the rules planner's. The answer holds the compiled SQL, the guard's verdict and risk \
                (low/medium/high/forbidden) per statement, and the policy decision: auto (apply_plan applies it), approve \
                (a person must approve) or deny (refused). Raw SQL is never accepted. Invalid plans come back as errors \
                naming each wrong field.
                """,
            inputSchema: ToolSchema.object(["incident_id": ToolSchema.incidentID, "plan": PlanFormat.schema], required: ["incident_id"]),
            annotations: ToolSchema.readOnly("Dry-run a repair plan"),
            outputSchema: OutputSchema.tool("propose_plan", title: "Dry run of a repair plan", OutputSchema.proposal))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let id = try a.incidentID()
        let given = try a.plan(plannedBy: context.caller.actor)
        let p = try await context.engine.propose(incidentID: id, plan: given)
        let value = PlanFlow.proposalValue(p, dryRun: true)
        if let problem = p.problem {
            return .failure("the plan is invalid: \(problem)")
        }
        let sql = p.statements.map(\.sql).joined(separator: "; ")
        switch p.decision.autonomy {
        case .deny:
            return ToolOutcome(summary: "dry run: this plan would be REFUSED: \(PlanFlow.refusal(p))", value: value)
        case .approve:
            return ToolOutcome(
                summary:
                    "dry run: risk \(p.risk.rawValue); would wait for a person's approval (\(p.decision.reasons.joined(separator: "; ")))\(sql.isEmpty ? "" : "; SQL: \(sql)")",
                value: value)
        case .auto:
            return ToolOutcome(
                summary: "dry run: risk \(p.risk.rawValue); would apply automatically\(sql.isEmpty ? "" : "; SQL: \(sql)")", value: value)
        }
    }
}
