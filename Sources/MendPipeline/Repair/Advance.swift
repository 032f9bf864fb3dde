import Foundation
public import MendCore
public import MendStore

/// The one way an incident moves: the CLI, MCP and HTTP all call `advance`, which
/// asks the incident's `IncidentLifecycle` what the command means in its current
/// state and carries out the answer, one transaction per step.
extension Engine {
    /// What a person or an agent asks of an incident.
    public enum IncidentCommand: Sendable, Equatable {
        /// Whatever comes next: plan it, run its approved plan, or report that it waits.
        case next
        /// Store this plan (from an agent) instead of asking the planner; a plan that
        /// waits for approval is superseded by it.
        case plan(Plan)
        case approve(note: String?)
        case reject(reason: String)
    }

    public enum RepairResult: Sendable, Equatable {
        case applied(planID: Int64)
        case pending(planID: Int64)
        case refused(planID: Int64, reason: String)
        case rejected(planID: Int64)
    }

    public func advance(incidentID: Int64, _ command: IncidentCommand, by who: String) async throws -> RepairResult {
        try await bootstrap()
        switch command {
        case .next:
            let (machine, _, _) = try await lifecycle(incidentID)
            var m = machine
            switch m.event(.advance) {
            case .proposePlan: return try await storePlan(incidentID: incidentID, plan: nil, by: who)
            case .runPlan(let p):
                try await applyAndNotify(planID: p, incidentID: incidentID, by: who)
                return .applied(planID: p)
            case .awaitApproval(let p): return .pending(planID: p)
            case .illegal(let why): throw PipelineError.state(why)
            case .persist: throw PipelineError.state("incident \(incidentID): advancing wrote nothing")
            }
        case .plan(let given):
            _ = try await supersedePendingPlan(incidentID: incidentID, by: who, reason: "replaced by a plan from \(who)")
            return try await storePlan(incidentID: incidentID, plan: given, by: who)
        case .approve(let note):
            return try await approve(incidentID: incidentID, note: note, expecting: nil, by: who)
        case .reject(let reason):
            let planID = try await state.transaction { tx -> Int64 in
                let plan = try await tx.currentPlan(incidentID: incidentID)
                try await Engine.step(incidentID: incidentID, .reject(by: who, reason: reason), by: who, in: tx)
                return plan?.plan.id ?? 0
            }
            notifier?.post(NotifyTrigger(kind: .refused, incident: incidentID, plan: planID, reason: "rejected by \(who): \(reason)"))
            return .rejected(planID: planID)
        }
    }

    /// Approves the pending plan and applies it. With `expecting`, only if that plan is
    /// still the one waiting (a signed link approves the plan it was sent for, nothing else).
    func approve(incidentID: Int64, note: String?, expecting: Int64?, by who: String) async throws -> RepairResult {
        let planID = try await state.transaction { tx -> Int64 in
            guard let (machine, _, stored) = try await tx.lifecycle(incidentID: incidentID) else {
                throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
            }
            if let expecting, machine.state != .awaitingApproval(plan: expecting) {
                throw PipelineError.state(
                    "plan #\(expecting) no longer waits for approval (incident #\(incidentID) has moved on): nothing was approved; review the incident page again"
                )
            }
            // The lifecycle's rule; checked first so the refusal keeps its own error kind.
            if let why = machine.refusesApproval { throw PipelineError.refused(why) }
            try await Engine.step(incidentID: incidentID, .approve(by: who, note: note), by: who, in: tx)
            return stored?.plan.id ?? 0
        }
        try await applyAndNotify(planID: planID, incidentID: incidentID, by: who)
        return .applied(planID: planID)
    }

    /// The incident's lifecycle as stored, in its own transaction.
    func lifecycle(_ incidentID: Int64) async throws -> (IncidentLifecycle, Incident, StoredPlan?) {
        guard let found = try await state.transaction({ tx in try await tx.lifecycle(incidentID: incidentID) }) else {
            throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
        }
        return found
    }

    /// Feeds one event to the incident's lifecycle inside `tx` and writes what it
    /// decides; an illegal event throws and the transaction rolls back.
    /// Returns the state before and after, so callers can tell what the event changed
    /// (resolved by this replay, or already resolved) without reading the incident again.
    @discardableResult
    static func step(
        incidentID: Int64, _ event: IncidentLifecycle.Event, by who: String, in tx: StateTransaction
    ) async throws -> (before: IncidentLifecycle.State, after: IncidentLifecycle.State) {
        guard var (machine, _, _) = try await tx.lifecycle(incidentID: incidentID) else {
            throw PipelineError.notFound("no incident \(incidentID); run `mend incidents` to list them")
        }
        let before = machine.state
        switch machine.event(event) {
        case .persist(let change): try await tx.persist(change, actor: who)
        case .illegal(let why): throw PipelineError.state(why)
        case .proposePlan, .runPlan, .awaitApproval: break
        }
        return (before, machine.state)
    }

    /// Retires a plan that waits for approval because a new plan replaces it, so that
    /// at most one plan of an incident is ever pending. The incident is open again.
    public func supersedePendingPlan(incidentID: Int64, by who: String, reason: String) async throws -> Int64? {
        try await bootstrap()
        return try await state.transaction { tx -> Int64? in
            guard let current = try await tx.currentPlan(incidentID: incidentID), current.plan.status == .pendingApproval else {
                return nil
            }
            try await Engine.step(incidentID: incidentID, .supersede(by: who, reason: reason), by: who, in: tx)
            return current.plan.id
        }
    }

    /// The incident's current plan, if any.
    public func currentPlan(incidentID: Int64) async throws -> StoredPlan? {
        try await state.transaction { tx in try await tx.currentPlan(incidentID: incidentID) }
    }

    /// A person approves the pending plan of an incident; it is then applied.
    @discardableResult
    public func approve(incidentID: Int64, by approver: String, note: String? = nil, plan expected: Int64? = nil) async throws
        -> StoredPlan
    {
        try await bootstrap()
        _ = try await approve(incidentID: incidentID, note: note, expecting: expected, by: approver)
        guard let stored = try await currentPlan(incidentID: incidentID) else {
            throw PipelineError.state("incident \(incidentID) lost its plan; `mend show \(incidentID)` shows its state")
        }
        return stored
    }

    public func reject(incidentID: Int64, by who: String, reason: String) async throws {
        _ = try await advance(incidentID: incidentID, .reject(reason: reason), by: who)
    }
}

extension StoreError {
    var isConflict: Bool {
        if case .conflict = self { return true }
        return false
    }
}
