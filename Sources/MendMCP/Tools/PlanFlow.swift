import Foundation
import MCP
import MendCore
import MendPipeline
import MendPlanFormat
import MendStore

/// What propose_plan, apply_plan and approve_plan share: how a proposal reads, and
/// the approval step (ask the person through elicitation, or leave the plan pending).
enum PlanFlow {
    static func proposalValue(_ p: Engine.Proposal, dryRun: Bool) -> Value {
        guard case .object(var o) = ToolValue.encoded(ProposalView(p)) else { return .null }
        o["dry_run"] = .bool(dryRun)
        return .object(o)
    }

    /// Guard and policy reasons of a refused plan, in one line an agent can act on.
    static func refusal(_ p: Engine.Proposal) -> String {
        let guardReasons = p.statements.filter { !$0.allowed }.map {
            "the guard forbids \($0.sql) [\($0.rule)]: \($0.reasons.joined(separator: "; "))"
                + ($0.saferAlternative.map { " (safer: \($0))" } ?? "")
        }
        return (guardReasons + p.decision.reasons).joined(separator: "; ")
    }

    /// Incident state after an apply, for the answer.
    static func applied(_ id: Int64, planID: Int64, approvedBy: String?, engine: Engine) async throws -> ToolOutcome {
        let (i, _, plans) = try await engine.incidentDetail(id, samples: 0)
        var value: [String: Value] = [
            "outcome": "applied", "plan_id": .int(Int(planID)), "incident": ToolValue.incident(i),
            "plan": plans.last.map(ToolValue.storedPlan) ?? .null,
        ]
        if let approvedBy { value["approved_by"] = .string(approvedBy) }
        return ToolOutcome(
            summary:
                "plan #\(planID) applied\(approvedBy.map { ", approved by \($0)" } ?? ""); incident #\(id) is \(i.status.rawValue) with \(i.parked) record(s) still parked",
            value: .object(value))
    }

    static func pending(_ stored: StoredPlan, incidentID: Int64, why: String) -> ToolOutcome {
        ToolOutcome(
            summary:
                "plan #\(stored.plan.id) waits for approval: \(why). A person approves it with `mend approve \(incidentID)` (or rejects it with `mend reject \(incidentID) --reason ...`).",
            value: .object([
                "outcome": "pending_approval", "plan_id": .int(Int(stored.plan.id)), "why": .string(why),
                "how_to_approve": .string("mend approve \(incidentID)"),
                "how_to_reject": .string("mend reject \(incidentID) --reason TEXT"),
                "plan": ToolValue.storedPlan(stored),
            ]))
    }

    /// Whether the policy lets this client's answer count as an approval (`mcp_approvers`).
    static func mayApprove(_ context: ToolContext) async -> Bool {
        await context.engine.policy.mcpApprovers.contains(context.caller.identity)
    }

    /// Asks through elicitation. The answer is the client's: it is audited as such, and an
    /// accept approves and applies only when the policy lets this client approve; otherwise
    /// the plan stays pending for a person on the dashboard or at `mend approve`.
    static func seekApproval(_ stored: StoredPlan, incidentID: Int64, _ context: ToolContext) async throws -> ToolOutcome {
        let caller = context.caller
        guard let elicit = caller.elicit else {
            return pending(
                stored, incidentID: incidentID,
                why: "the policy requires a person's approval and this client cannot ask one (no elicitation capability)")
        }
        let counts = await mayApprove(context)
        let sql = stored.verdicts.map { "\($0.sql)  (risk \($0.risk.rawValue))" }
        let message = """
            Mend: approve plan #\(stored.plan.id) for incident #\(incidentID) on table \(stored.plan.table)?
            Operations: \(stored.plan.operations.map(\.summary).joined(separator: "; "))
            \(sql.isEmpty ? "No SQL (changes how future loads map or convert values)." : "SQL: " + sql.joined(separator: "; "))
            Policy: \(stored.decision?.reasons.joined(separator: "; ") ?? "-")
            Planned by \(stored.plan.plannedBy): \(stored.plan.rationale)
            \(counts ? "Accepting applies the plan and replays the parked records." : "Your answer is recorded; a person still approves on Mend's dashboard or with `mend approve \(incidentID)`.")
            """
        let schema = Elicitation.RequestSchema(
            title: "Approve repair plan #\(stored.plan.id)",
            description: "Recorded in Mend's audit log as this client's answer, with the name you give.",
            properties: [
                "approver": .object(["type": "string", "title": "Your name", "description": "Recorded with the answer"]),
                "note": .object(["type": "string", "title": "Note", "description": "Optional, kept in the audit log"]),
            ],
            required: ["approver"])
        let answer: CreateElicitation.Result
        do {
            answer = try await elicit(message, schema)
        } catch {
            return pending(stored, incidentID: incidentID, why: "asking the person failed (\(MendTools.message(error)))")
        }
        let name = answer.content?["approver"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(64)
        let given = name.flatMap { $0.isEmpty ? nil : String($0) }
        let accepted = answer.action == .accept
        try await context.engine.audit(
            .clientAnswered(
                plan: stored.plan.id, incident: incidentID, action: answer.action.rawValue, givenName: given,
                counted: accepted && counts),
            actor: caller.actor)
        switch answer.action {
        case .accept where counts:
            var note = "approved through MCP elicitation by \(caller.actor) (policy mcp_approvers)"
            if let given { note += ", name given: \(given)" }
            if let extra = answer.content?["note"]?.stringValue, !extra.isEmpty { note += ": \(extra)" }
            let done = try await context.engine.approve(incidentID: incidentID, by: caller.actor, note: note)
            return try await applied(incidentID, planID: done.plan.id, approvedBy: caller.actor, engine: context.engine)
        case .accept:
            return pending(
                stored, incidentID: incidentID,
                why:
                    "\(caller.actor) accepted, and that is recorded as the client's answer, not a person's approval: the policy does not list '\(caller.identity)' in mcp_approvers"
            )
        case .decline:
            return pending(stored, incidentID: incidentID, why: "the person declined")
        case .cancel:
            return pending(stored, incidentID: incidentID, why: "the person cancelled the request")
        }
    }
}
