import Foundation
public import MendCore
import MendStore

/// The repair loop's outcome, and planning one incident on request (the unit of work that
/// plans a whole table after a batch is RepairUnit.swift).
extension Engine {
    public struct RepairOutcome: Sendable {
        public var applied: Int64 = 0
        public var pending: [Int64] = []
        public var refused: [Int64] = []
        /// Open incidents left alone because a plan of theirs still stands (refused, or
        /// waiting): more records parked into them need no new plan either.
        public var waiting: Set<Int64> = []
        /// Parked records the repairs' replays loaded and quarantined.
        public var replayedLoaded: Int64 = 0
        public var replayedQuarantined: Int64 = 0
        /// The table's schema after the repairs, when one changed it.
        public var schema: TableSchema?

        mutating func add(_ o: RepairOutcome) {
            applied += o.applied
            pending += o.pending
            refused += o.refused
            waiting = o.waiting
            replayedLoaded += o.replayedLoaded
            replayedQuarantined += o.replayedQuarantined
        }
    }

    /// Plans one incident (or takes the given plan) and applies it when the policy
    /// says auto. Kept for callers that mean "plan it now"; `advance` is the entry point.
    @discardableResult
    public func repair(incidentID: Int64, plan given: Plan? = nil, by: String? = nil) async throws -> RepairResult {
        try await storePlan(incidentID: incidentID, plan: given, by: by ?? actor)
    }

    /// Stores a plan with its verdicts and the policy's decision, as the lifecycle's
    /// `.planned` event, in one transaction; then runs it when the decision is auto.
    func storePlan(incidentID: Int64, plan given: Plan?, by actor: String) async throws -> RepairResult {
        let (proposal, usage) = try await proposeMetered(incidentID: incidentID, plan: given)
        var plan = proposal.plan
        plan.status = .proposed
        let stored = plan
        let facts = Engine.facts(proposal, usage: usage, incident: incidentID)
        let (planID, after) = try await state.transaction { tx -> (Int64, IncidentLifecycle.State) in
            // Only an open incident takes a new plan; checked before the insert, because the
            // new (proposed) plan would otherwise hide one that waits for approval.
            guard let (machine, _, _) = try await tx.lifecycle(incidentID: incidentID) else {
                throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
            }
            if let why = machine.refusesPlan { throw PipelineError.state(why) }
            let id = try await tx.insertPlan(stored, decision: proposal.decision, verdicts: proposal.statements)
            if let usage {
                // Tokens spent on this plan (also when the rules planner stood in for a failed model).
                try await tx.recordUsage(
                    planID: id, model: usage.model, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, cost: usage.cost)
            }
            return (id, try await Engine.step(incidentID: incidentID, .planned(plan: id, facts), by: actor, in: tx).after)
        }
        switch after {
        case .approved:
            try await applyAndNotify(planID: planID, incidentID: incidentID, by: actor)
            return .applied(planID: planID)
        case .awaitingApproval:
            notifier?.post(NotifyTrigger(kind: .awaitingApproval, incident: incidentID, plan: planID))
            return .pending(planID: planID)
        default:
            let reason = proposal.decision.reasons.joined(separator: "; ")
            notifier?.post(NotifyTrigger(kind: .refused, incident: incidentID, plan: planID, reason: reason))
            return .refused(planID: planID, reason: reason)
        }
    }
}
