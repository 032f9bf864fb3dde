import Foundation
import MendCore
import Testing

/// The lifecycle without a database: every state meets every event.
@Suite struct IncidentLifecycleTests {
    typealias L = IncidentLifecycle

    static func proposal(_ decision: Autonomy) -> ProposedPlan {
        ProposedPlan(
            incident: 1, plannedBy: "rules", operations: "add nullable column c text", rationale: "r", confidence: 0.9,
            sql: "ALTER TABLE t ADD COLUMN c text", risk: .low, decision: decision, reasons: ["why"], usage: nil)
    }
    static let applied = AppliedPlan(
        incident: 1, sql: "ALTER", schemaVersion: 2, risk: .low, rules: ["r"], reasons: [], skippedAlreadyApplied: 0)

    static let states: [L.State] = [.open, .awaitingApproval(plan: 7), .approved(plan: 7), .resolved, .rejected]
    static let events: [L.Event] = [
        .planned(plan: 8, proposal(.auto)), .planned(plan: 8, proposal(.approve)), .planned(plan: 8, proposal(.deny)),
        .approve(by: "ann", note: nil), .reject(by: "ann", reason: "no"), .supersede(by: "agent", reason: "better"), .advance,
        .ran(applied), .runFailed(error: "boom"), .replayed(loaded: 3, quarantined: 0, stillParked: 0),
        .replayed(loaded: 1, quarantined: 0, stillParked: 2),
        .quarantined(count: 2, reason: "bad", parkedIDs: [1, 2], stillParked: 0),
        .quarantined(count: 1, reason: "bad", parkedIDs: [1], stillParked: 1),
        .quarantined(count: 0, reason: "none", parkedIDs: [], stillParked: 1),
    ]

    static func machine(_ s: L.State) -> L { L(incident: 1, table: "t", state: s) }

    /// The table of legal transitions: (state, event index) -> state after. Everything
    /// not listed must be `.illegal` and leave the state alone (or, for advance, not persist).
    static let legal: [String: L.State] = [
        "open/0": .approved(plan: 8), "open/1": .awaitingApproval(plan: 8), "open/2": .open,
        "open/9": .resolved, "open/10": .open, "open/11": .resolved, "open/12": .open, "open/13": .open,
        "awaiting/3": .approved(plan: 7), "awaiting/4": .rejected, "awaiting/5": .open,
        "awaiting/9": .resolved, "awaiting/10": .awaitingApproval(plan: 7), "awaiting/11": .resolved,
        "awaiting/12": .awaitingApproval(plan: 7), "awaiting/13": .awaitingApproval(plan: 7),
        "approved/7": .open, "approved/8": .open, "approved/9": .resolved, "approved/10": .approved(plan: 7),
        "approved/11": .resolved, "approved/12": .approved(plan: 7), "approved/13": .approved(plan: 7),
        "resolved/9": .resolved, "resolved/10": .resolved, "resolved/13": .resolved,
        "rejected/9": .resolved, "rejected/10": .rejected, "rejected/11": .resolved, "rejected/12": .rejected,
        "rejected/13": .rejected,
    ]

    static func key(_ s: L.State) -> String {
        switch s {
        case .open: "open"
        case .awaitingApproval: "awaiting"
        case .approved: "approved"
        case .resolved: "resolved"
        case .rejected: "rejected"
        }
    }

    @Test(arguments: states)
    func everyEventInEveryState(_ start: L.State) {
        for (i, event) in Self.events.enumerated() where event != .advance {
            var m = Self.machine(start)
            let action = m.event(event)
            let k = "\(Self.key(start))/\(i)"
            if let after = Self.legal[k] {
                guard case .persist = action else {
                    Issue.record("\(k): expected a write, got \(action)")
                    continue
                }
                #expect(m.state == after, "\(k)")
            } else {
                guard case .illegal(let why) = action else {
                    Issue.record("\(k): expected illegal, got \(action)")
                    continue
                }
                #expect(!why.isEmpty)
                #expect(m.state == start, "an illegal event must not move the state (\(k))")
            }
        }
    }

    @Test func advanceSaysWhatComesNext() {
        var open = Self.machine(.open)
        #expect(open.event(.advance) == .proposePlan)
        var waiting = Self.machine(.awaitingApproval(plan: 7))
        #expect(waiting.event(.advance) == .awaitApproval(plan: 7))
        var approved = Self.machine(.approved(plan: 7))
        #expect(approved.event(.advance) == .runPlan(plan: 7))
        for s in [L.State.resolved, .rejected] {
            var m = Self.machine(s)
            guard case .illegal = m.event(.advance) else {
                Issue.record("advance on \(s) must be illegal")
                continue
            }
        }
    }

    @Test func approvalIsACompareAndSetOnBothStatuses() {
        var m = Self.machine(.awaitingApproval(plan: 7))
        guard case .persist(let change) = m.event(.approve(by: "ann", note: "ok")) else {
            Issue.record("approve must write")
            return
        }
        #expect(change.plan == .init(id: 7, from: .pendingApproval, to: .approved, note: "ok"))
        #expect(change.incident == .init(id: 1, from: .pendingApproval, to: .open))
        #expect(change.audit == [.planApproved(plan: 7, incident: 1, note: "ok")])
        // The second approver sees the new state and is refused, with nothing to write.
        guard case .illegal = m.event(.approve(by: "bob", note: nil)) else {
            Issue.record("a second approval must be illegal")
            return
        }
    }

    @Test func planningWritesTheDecisionAndItsAudit() {
        var m = Self.machine(.open)
        guard case .persist(let change) = m.event(.planned(plan: 8, Self.proposal(.approve))) else {
            Issue.record("planned must write")
            return
        }
        #expect(change.plan == .init(id: 8, from: .proposed, to: .pendingApproval))
        #expect(change.incident == .init(id: 1, from: .open, to: .pendingApproval))
        #expect(change.audit.map(\.kind) == ["plan.proposed", "policy.decided"])
        #expect(change.audit.map(\.author) == ["rules", "policy"])
        var denied = Self.machine(.open)
        guard case .persist(let refusal) = denied.event(.planned(plan: 9, Self.proposal(.deny))) else {
            Issue.record("a refused plan is still stored")
            return
        }
        #expect(refusal.plan?.to == .refused)
        #expect(refusal.incident == nil)
        #expect(denied.state == .open)
    }

    @Test func resolvingUnderAWaitingPlanRetiresIt() {
        var m = Self.machine(.awaitingApproval(plan: 7))
        guard case .persist(let change) = m.event(.replayed(loaded: 2, quarantined: 0, stillParked: 0)) else {
            Issue.record("replay must write")
            return
        }
        #expect(change.plan?.to == .rejected)
        #expect(change.incident == .init(id: 1, from: .pendingApproval, to: .resolved))
        #expect(change.audit.map(\.kind) == ["incident.replayed", "incident.resolved"])
    }

    @Test func storedStatusesMapToStates() {
        let incident = Incident(
            id: 1, table: "t", signature: "s", kinds: [], status: .open, parked: 1, openedAt: Date(), drifts: [])
        #expect(L(incident: incident, latestPlan: nil).state == .open)
        #expect(L(incident: incident, latestPlan: (3, .approved)).state == .approved(plan: 3))
        #expect(L(incident: incident, latestPlan: (3, .refused)).state == .open)
        var waiting = incident
        waiting.status = .pendingApproval
        #expect(L(incident: waiting, latestPlan: (3, .pendingApproval)).state == .awaitingApproval(plan: 3))
        var done = incident
        done.status = .resolved
        #expect(L(incident: done, latestPlan: (3, .pendingApproval)).state == .resolved)
        var rejected = incident
        rejected.status = .rejected
        #expect(L(incident: rejected, latestPlan: (3, .rejected)).state == .rejected)
    }

    @Test func auditEventsKeepTheStoredNames() {
        #expect(AuditEvent.planApproved(plan: 2, incident: 1, note: nil).subject == "plan:2")
        #expect(AuditEvent.incidentResolved(incident: 4, table: "t", by: .quarantine).detail == ["table": "t", "by": "quarantine"])
        #expect(
            AuditEvent.toolCalled(tool: "x", client: "c", argumentsSHA256: "h", error: nil).detail["result"] == "ok")
    }
}

/// Data written before the machine existed may pair an applied plan with a
/// `pending_approval` incident; the compare-and-set expects the status actually stored.
@Suite struct IncidentLifecycleLegacyTests {
    @Test func theCompareAndSetExpectsTheStoredStatus() {
        let incident = Incident(
            id: 5, table: "t", signature: "s", kinds: [], status: .pendingApproval, parked: 0, openedAt: Date(), drifts: [])
        var m = IncidentLifecycle(incident: incident, latestPlan: (9, .applied))
        #expect(m.state == .open)
        guard case .persist(let change) = m.event(.replayed(loaded: 1, quarantined: 0, stillParked: 0)) else {
            Issue.record("replay must write")
            return
        }
        #expect(change.incident == .init(id: 5, from: .pendingApproval, to: .resolved))
        #expect(m.storedStatus == .resolved)
    }
}

/// The rules the lifecycle owns (issue 29): which plans still stand, which incidents the
/// repair loop plans, who may take a new plan, and that a refused plan cannot be approved.
@Suite struct IncidentLifecycleRulesTests {
    typealias L = IncidentLifecycle
    static let planStatuses: [PlanStatus] = [.proposed, .pendingApproval, .approved, .applied, .rejected, .refused, .failed]

    static func incident(_ status: IncidentStatus, parked: Int = 3) -> Incident {
        Incident(id: 1, table: "t", signature: "s", kinds: [], status: status, parked: parked, openedAt: Date(), drifts: [])
    }

    @Test func livePlansAreThoseThatStillStand() {
        for status in Self.planStatuses {
            let live = [PlanStatus.pendingApproval, .approved, .refused, .proposed].contains(status)
            #expect(L.isLive(status) == live, "\(status)")
        }
    }

    @Test func theLoopPlansOpenIncidentsWithParkedRecordsAndNoLivePlan() {
        #expect(L(incident: Self.incident(.open), latestPlan: nil).needsPlan)
        #expect(!L(incident: Self.incident(.open, parked: 0), latestPlan: nil).needsPlan)
        for status in Self.planStatuses {
            let m = L(incident: Self.incident(.open), latestPlan: (4, status))
            #expect(m.needsPlan == (m.isOpen && !L.isLive(status)), "\(status)")
        }
        #expect(!L(incident: Self.incident(.pendingApproval), latestPlan: (4, .pendingApproval)).needsPlan)
        #expect(!L(incident: Self.incident(.resolved), latestPlan: nil).needsPlan)
        #expect(!L(incident: Self.incident(.rejected), latestPlan: nil).needsPlan)
    }

    @Test(arguments: IncidentLifecycleTests.states)
    func onlyAnOpenIncidentTakesANewPlan(_ state: L.State) {
        let m = L(incident: 1, table: "t", state: state)
        #expect((m.refusesPlan == nil) == (state == .open), "\(state)")
    }

    /// A refused plan that waits: approving it is illegal; every other event does what it
    /// does to any waiting plan.
    @Test func aRefusedPlanCannotBeApproved() {
        for (i, event) in IncidentLifecycleTests.events.enumerated() where event != .advance {
            var refused = L(incident: 1, table: "t", state: .awaitingApproval(plan: 7), refusedByJudge: true)
            var plain = L(incident: 1, table: "t", state: .awaitingApproval(plan: 7))
            let a = refused.event(event)
            let b = plain.event(event)
            if case .approve = event {
                guard case .illegal(let why) = a else {
                    Issue.record("approving a refused plan must be illegal, got \(a)")
                    continue
                }
                #expect(why.contains("cannot be approved"))
                #expect(refused.state == .awaitingApproval(plan: 7))
            } else {
                #expect(a == b, "event \(i)")
                #expect(refused.state == plain.state, "event \(i)")
            }
        }
        #expect(L(incident: 1, table: "t", state: .awaitingApproval(plan: 7), refusedByJudge: true).refusesApproval != nil)
        #expect(L(incident: 1, table: "t", state: .awaitingApproval(plan: 7)).refusesApproval == nil)
    }

    /// The machine carries its latest plan's status as it writes it: a unit of work asks it
    /// again without reading the plan back.
    @Test func theMachineCarriesItsPlanStatus() {
        var m = L(incident: Self.incident(.open), latestPlan: nil)
        _ = m.event(.planned(plan: 8, IncidentLifecycleTests.proposal(.auto)))
        #expect(m.latestPlanStatus == .approved && m.hasLivePlan && !m.needsPlan)
        _ = m.event(.runFailed(error: "boom"))
        #expect(m.latestPlanStatus == .failed && m.needsPlan)
        var d = L(incident: Self.incident(.open), latestPlan: nil)
        _ = d.event(.planned(plan: 9, IncidentLifecycleTests.proposal(.deny)))
        #expect(d.latestPlanStatus == .refused && d.state == .open && !d.needsPlan)
    }
}
