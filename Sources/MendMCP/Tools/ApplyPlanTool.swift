import MCP
import MendCore
import MendPipeline
import MendPlanFormat

/// `apply_plan`: repairs an incident with the given plan, the pending one, or the rules
/// planner's; the guard and the policy decide again, and approval goes to a person.
enum ApplyPlanTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "apply_plan",
            description: """
                Repair an incident. With 'plan', that typed plan; without it, the incident's plan waiting for approval, \
                or else the rules planner's. Runs the guard and the policy again: 'auto' applies the DDL under a lock and \
                replays the parked records; 'approve' asks through the client (elicitation) when it can; the answer \
                approves only for clients the policy lists in mcp_approvers, otherwise the plan stays pending for a \
                person (dashboard or `mend approve ID`); 'deny' is refused with the reasons. Changes the \
                table's schema (adds columns, widens types); no data is deleted, but Mend does not undo schema changes.
                """,
            inputSchema: ToolSchema.object(["incident_id": ToolSchema.incidentID, "plan": PlanFormat.schema], required: ["incident_id"]),
            annotations: ToolSchema.writes("Apply a repair plan", destructive: true, idempotent: false),
            outputSchema: OutputSchema.repairOutcome("apply_plan", title: "Applied, or waiting for a person"))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let engine = context.engine
        let caller = context.caller
        let id = try a.incidentID()
        let given = try a.plan(plannedBy: caller.actor)
        let (incident, _, _) = try await engine.incidentDetail(id, samples: 0)
        if incident.status == .resolved {
            throw ToolError.refused("incident #\(id) is already resolved; list_incidents shows the open ones")
        }
        let result: Engine.RepairResult
        if let given {
            // Dry run first: a refused plan must not replace a plan that waits for a person.
            let p = try await engine.propose(incidentID: id, plan: given)
            if p.problem != nil || p.decision.autonomy == .deny {
                let why = p.problem.map { "the plan is invalid: \($0)" } ?? PlanFlow.refusal(p)
                try await engine.audit(
                    .planRefused(
                        incident: id, operations: given.operations.map(\.summary).joined(separator: "; "), reasons: why,
                        sql: p.statements.map(\.sql).joined(separator: ";\n"), risk: p.risk),
                    actor: caller.actor)
                // The verdicts and decision are propose_plan's answer; the error says why in one line.
                return .failure("refused: \(why)")
            }
            result = try await engine.advance(incidentID: id, .plan(given), by: caller.actor)
        } else {
            result = try await engine.advance(incidentID: id, .next, by: caller.actor)
        }
        switch result {
        case .applied(let planID):
            return try await PlanFlow.applied(id, planID: planID, approvedBy: nil, engine: engine)
        case .pending:
            guard let stored = try await engine.currentPlan(incidentID: id) else {
                throw PipelineError.state("incident \(id) lost its plan; get_incident shows its state")
            }
            return try await PlanFlow.seekApproval(stored, incidentID: id, context)
        case .refused(let planID, let reason):
            return .failure("plan #\(planID) refused: \(reason); get_incident shows the plan with its verdicts")
        case .rejected(let planID):
            return .failure("plan #\(planID) was rejected; propose_plan and apply_plan can try another plan")
        }
    }
}
