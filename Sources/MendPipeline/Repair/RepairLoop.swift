import Foundation
public import MendCore
import MendStore

/// The repair loop: plan every open incident of a table that has no live plan.
extension Engine {
    public struct RepairOutcome: Sendable {
        public var applied: Int64 = 0
        public var pending: [Int64] = []
        public var refused: [Int64] = []
        /// Open incidents left alone because a plan of theirs still stands (refused, or
        /// waiting): more records parked into them need no new plan either.
        public var waiting: Set<Int64> = []
    }

    /// Plans every open incident of a table that has no live plan yet, and applies
    /// what the policy lets through. Replays can move records into new incidents, so
    /// it runs until nothing new appears (bounded).
    public func repairOpenIncidents(table: String, by who: String? = nil) async throws -> RepairOutcome {
        var outcome = RepairOutcome()
        for _ in 0..<8 {
            let (candidates, waiting) = try await state.transaction { tx -> ([Int64], Set<Int64>) in
                let open = try await tx.incidents(table: table, status: .open)
                var ids: [Int64] = []
                var waiting = Set(try await tx.incidents(table: table, status: .pendingApproval).map(\.id))
                for i in open where i.parked > 0 {
                    let live = try await tx.plans(incidentID: i.id).filter {
                        [.pendingApproval, .approved, .refused, .proposed].contains($0.plan.status)
                    }
                    if live.isEmpty { ids.append(i.id) } else { waiting.insert(i.id) }
                }
                return (ids, waiting)
            }
            outcome.waiting = waiting
            if candidates.isEmpty { break }
            for id in candidates {
                let r: RepairResult
                do {
                    r = try await repair(incidentID: id, by: who)
                } catch PipelineError.state {
                    // Another worker planned this incident after it was listed here (two
                    // workers met the same drift): its plan and outcome stand.
                    continue
                } catch let error as StoreError where error.isConflict {
                    continue
                }
                switch r {
                case .applied: outcome.applied += 1
                case .pending: outcome.pending.append(id)
                case .refused, .rejected: outcome.refused.append(id)
                }
            }
        }
        return outcome
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
        let facts = ProposedPlan(
            incident: incidentID, plannedBy: stored.plannedBy,
            operations: stored.operations.map(\.summary).joined(separator: "; "), rationale: stored.rationale,
            confidence: stored.confidence, sql: proposal.statements.map(\.sql).joined(separator: ";\n"), risk: proposal.risk,
            decision: proposal.decision.autonomy, reasons: proposal.decision.reasons, usage: usage,
            evidence: (stored.evidence ?? []).map(\.summary))
        let (planID, after) = try await state.transaction { tx -> (Int64, IncidentLifecycle.State) in
            // Only an open incident takes a new plan; checked before the insert, because the
            // new (proposed) plan would otherwise hide one that waits for approval.
            guard let (machine, _, _) = try await tx.lifecycle(incidentID: incidentID) else {
                throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
            }
            guard machine.state == .open else {
                var probe = machine
                if case .illegal(let why) = probe.event(.planned(plan: 0, facts)) { throw PipelineError.state(why) }
                throw PipelineError.state("incident \(incidentID) is not open for a new plan")
            }
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
