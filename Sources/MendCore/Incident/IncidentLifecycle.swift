/// An incident's life as a pure state machine, in the manner of postgres-nio's
/// connection state machines: the engine feeds it events and carries out the action it
/// returns. It does no I/O, so every transition, legal or not, is tested without a
/// database; the engine persists each `.persist` change in one transaction with a
/// compare-and-set on the stored statuses, so two approvers or two workers cannot both win.
public struct IncidentLifecycle: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Records are parked and no plan is live: none yet, or the last one was refused,
        /// failed, superseded or ran without fixing every record.
        case open
        /// A stored plan waits for a person.
        case awaitingApproval(plan: Int64)
        /// A plan may run: the policy let it through or a person approved it.
        case approved(plan: Int64)
        /// Nothing is parked any more.
        case resolved
        /// A person rejected the plan; the records stay parked.
        case rejected
    }

    public enum Event: Sendable, Equatable {
        /// A plan was stored (as `proposed`) with the policy's decision on it.
        case planned(plan: Int64, ProposedPlan)
        case approve(by: String, note: String?)
        case reject(by: String, reason: String)
        /// A new plan replaces the one waiting for approval.
        case supersede(by: String, reason: String)
        /// "What happens next?": the one question the CLI, MCP and HTTP ask.
        case advance
        case ran(AppliedPlan)
        case runFailed(error: String)
        case replayed(loaded: Int64, quarantined: Int64, stillParked: Int64)
        case quarantined(count: Int, reason: String, parkedIDs: [Int64], stillParked: Int64)
    }

    /// A status write guarded by the status it expects to replace.
    public struct StatusChange<Status: Sendable & Equatable>: Sendable, Equatable {
        public var id: Int64
        public var from: Status
        public var to: Status
        /// Kept with a plan's status (why it was rejected, who approved it and how).
        public var note: String?

        public init(id: Int64, from: Status, to: Status, note: String? = nil) {
            self.id = id
            self.from = from
            self.to = to
            self.note = note
        }
    }

    /// What one transaction writes.
    public struct Change: Sendable, Equatable {
        public var plan: StatusChange<PlanStatus>?
        public var incident: StatusChange<IncidentStatus>?
        public var audit: [AuditEvent]
    }

    public enum Action: Sendable, Equatable {
        /// Write the change; the stored statuses must still be the `from` values.
        case persist(Change)
        /// Ask the planner, then feed `.planned`.
        case proposePlan
        /// Run the approved plan, then feed `.ran` or `.runFailed`.
        case runPlan(plan: Int64)
        /// A person decides next; nothing to write.
        case awaitApproval(plan: Int64)
        /// The event is not legal in this state; nothing changes.
        case illegal(String)
    }

    public let incident: Int64
    public let table: String
    public private(set) var state: State
    /// The incident status as stored: the `from` of the next compare-and-set. Kept apart
    /// from `state` because data written before this machine existed may pair a state
    /// with another status (an applied plan under a `pending_approval` incident).
    public private(set) var storedStatus: IncidentStatus
    /// The latest plan's stored status, carried along as the machine writes it: whether a
    /// plan still stands (`hasLivePlan`) is a rule of this machine, not of its callers.
    public private(set) var latestPlanStatus: PlanStatus?
    /// The waiting plan was refused by the guard or the policy (decision deny, or a
    /// statement the guard does not allow): nobody may approve it.
    public private(set) var refusedByJudge: Bool
    /// Records parked in the incident when it was read.
    public private(set) var parked: Int

    public init(incident: Int64, table: String, state: State, refusedByJudge: Bool = false) {
        self.incident = incident
        self.table = table
        self.state = state
        storedStatus = Self.stored(state)
        latestPlanStatus = nil
        self.refusedByJudge = refusedByJudge
        parked = 0
    }

    /// The state as stored: the incident's status and its latest plan's.
    public init(incident: Incident, latestPlan: (id: Int64, status: PlanStatus)?, refusedByJudge: Bool = false) {
        self.incident = incident.id
        self.table = incident.table
        storedStatus = incident.status
        latestPlanStatus = latestPlan?.status
        self.refusedByJudge = refusedByJudge
        parked = incident.parked
        switch (incident.status, latestPlan?.status) {
        case (.resolved, _): state = .resolved
        case (.rejected, _): state = .rejected
        case (_, .pendingApproval?): state = .awaitingApproval(plan: latestPlan?.id ?? 0)
        case (_, .approved?): state = .approved(plan: latestPlan?.id ?? 0)
        default: state = .open
        }
    }

    /// A plan that still stands: it waits, may run, was just stored, or was refused (a
    /// refused plan stands until a person or a new agent plan replaces it; records parked
    /// into its incident need no new plan). Failed, rejected, superseded and applied plans
    /// do not.
    public static func isLive(_ status: PlanStatus) -> Bool {
        switch status {
        case .pendingApproval, .approved, .refused, .proposed: true
        default: false
        }
    }

    /// Whether the latest plan still stands.
    public var hasLivePlan: Bool { latestPlanStatus.map(Self.isLive) ?? false }

    /// The incident is open: it may take a new plan.
    public var isOpen: Bool { state == .open }

    /// What the repair loop plans: open, with parked records, and no plan that stands.
    public var needsPlan: Bool { isOpen && parked > 0 && !hasLivePlan }

    /// Why a new plan may not be stored now, or nil when it may (only an open incident
    /// takes one; a new proposed plan would otherwise hide one that waits).
    public var refusesPlan: String? {
        if isOpen { return nil }
        var probe = self
        if case .illegal(let why) = probe.event(.planned(plan: 0, Self.probePlan(incident))) { return why }
        return "incident \(incident) is not open for a new plan"
    }

    private static func probePlan(_ incident: Int64) -> ProposedPlan {
        ProposedPlan(
            incident: incident, plannedBy: "", operations: "", rationale: "", confidence: 0, sql: "", risk: .low, decision: .approve,
            reasons: [], usage: nil)
    }

    /// Why the waiting plan cannot be approved, or nil when it can be.
    public var refusesApproval: String? {
        guard case .awaitingApproval(let p) = state, refusedByJudge else { return nil }
        return "plan \(p) is refused by the guard or the policy; it cannot be approved"
    }

    /// The incident status that goes with a state.
    static func stored(_ s: State) -> IncidentStatus {
        switch s {
        case .open, .approved: .open
        case .awaitingApproval: .pendingApproval
        case .resolved: .resolved
        case .rejected: .rejected
        }
    }

    public mutating func event(_ event: Event) -> Action {
        let before = state
        switch (state, event) {
        case (.open, .advance):
            return .proposePlan
        case (.awaitingApproval(let p), .advance):
            return .awaitApproval(plan: p)
        case (.approved(let p), .advance):
            return .runPlan(plan: p)

        case (.open, .planned(let id, let proposal)):
            let to: PlanStatus
            switch proposal.decision {
            case .auto:
                to = .approved
                state = .approved(plan: id)
            case .approve:
                to = .pendingApproval
                state = .awaitingApproval(plan: id)
            case .deny:
                to = .refused
            }
            return persist(
                before, plan: .init(id: id, from: .proposed, to: to),
                [.planProposed(plan: id, proposal), .policyDecided(plan: id, decision: proposal.decision, reasons: proposal.reasons)])

        case (.awaitingApproval, .approve) where refusedByJudge:
            return .illegal(refusesApproval ?? "this plan cannot be approved")
        case (.awaitingApproval(let p), .approve(let by, let note)):
            state = .approved(plan: p)
            return persist(
                before, plan: .init(id: p, from: .pendingApproval, to: .approved, note: note ?? "approved by \(by)"),
                [.planApproved(plan: p, incident: incident, note: note)])
        case (.awaitingApproval(let p), .reject(_, let reason)):
            state = .rejected
            return persist(
                before, plan: .init(id: p, from: .pendingApproval, to: .rejected, note: reason),
                [.planRejected(plan: p, incident: incident, reason: reason)])
        case (.awaitingApproval(let p), .supersede(_, let reason)):
            state = .open
            return persist(
                before, plan: .init(id: p, from: .pendingApproval, to: .rejected, note: "superseded: \(reason)"),
                [.planSuperseded(plan: p, incident: incident, reason: reason)])

        case (.approved(let p), .ran(let applied)):
            state = .open  // replay decides whether it is resolved
            return persist(before, plan: .init(id: p, from: .approved, to: .applied), [.planApplied(plan: p, applied)])
        case (.approved(let p), .runFailed(let error)):
            state = .open
            return persist(
                before, plan: .init(id: p, from: .approved, to: .failed, note: error),
                [.planFailed(plan: p, incident: incident, error: error)])

        case (_, .replayed(let loaded, let quarantined, let left)):
            var audit: [AuditEvent] = [
                .incidentReplayed(incident: incident, loaded: loaded, quarantined: quarantined, stillParked: left)
            ]
            if left == 0, state != .resolved {
                state = .resolved
                audit.append(.incidentResolved(incident: incident, table: table, by: .replay))
            }
            return persist(before, plan: retiredPlan(before), audit)
        case (.resolved, .quarantined(let count, _, _, _)) where count > 0:
            return .illegal("incident #\(incident) is resolved: nothing is parked")
        case (_, .quarantined(let count, let reason, let ids, let left)):
            var audit: [AuditEvent] = []
            if count > 0 {
                audit.append(.recordsQuarantined(incident: incident, table: table, count: count, reason: reason, parkedIDs: ids))
            }
            if left == 0, count > 0 {
                state = .resolved
                audit.append(.incidentResolved(incident: incident, table: table, by: .quarantine))
            }
            return persist(before, plan: retiredPlan(before), audit)

        case (.resolved, _):
            return .illegal("incident #\(incident) is already resolved; `mend incidents` lists the open ones")
        case (.rejected, _):
            return .illegal(
                "incident #\(incident) was rejected; its records stay parked (new records with this drift open a new incident)")
        case (.awaitingApproval(let p), .planned):
            return .illegal("plan #\(p) of incident #\(incident) waits for approval; supersede or reject it before planning again")
        case (.approved(let p), .planned), (.approved(let p), .approve), (.approved(let p), .reject), (.approved(let p), .supersede):
            return .illegal("plan #\(p) of incident #\(incident) is already approved and about to run")
        case (.open, .approve), (.open, .reject), (.open, .supersede):
            return .illegal("incident #\(incident) has no plan waiting for approval; `mend show \(incident)` shows its plans")
        case (.open, .ran), (.open, .runFailed), (.awaitingApproval, .ran), (.awaitingApproval, .runFailed):
            return .illegal("incident #\(incident) has no approved plan to run")
        }
    }

    /// A plan that waits for approval is retired when the incident resolves under it.
    private func retiredPlan(_ before: State) -> StatusChange<PlanStatus>? {
        guard state == .resolved, case .awaitingApproval(let p) = before else { return nil }
        return .init(id: p, from: .pendingApproval, to: .rejected, note: "superseded: nothing is parked any more")
    }

    private mutating func persist(_ before: State, plan: StatusChange<PlanStatus>?, _ audit: [AuditEvent]) -> Action {
        if let plan {
            latestPlanStatus = plan.to
            if plan.to != .pendingApproval { refusedByJudge = false }
        }
        if state == .resolved { parked = 0 }
        let from = storedStatus
        let to = Self.stored(state)
        storedStatus = to
        return .persist(Change(plan: plan, incident: from == to ? nil : .init(id: incident, from: from, to: to), audit: audit))
    }
}
