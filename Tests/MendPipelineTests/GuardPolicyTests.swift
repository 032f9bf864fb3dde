import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The same drift, three policies: applied on its own, held for a person, refused.
@Suite struct GuardPolicyTests {
    static let base = [#"{"id": 1, "kind": "click"}"#, #"{"id": 2, "kind": "click"}"#]
    static let drift = [#"{"id": 3, "kind": "buy", "coupon": "SPRING"}"#]

    func run(_ backend: Backend, policyYAML: String?) async throws -> (Engine, Incident?, StoredPlan?) {
        let policy = try policyYAML.map { try PolicyLoader.parse($0) } ?? .default
        let engine = try await backend.engine(policy: policy)
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(Self.base, in: dir, name: "base.jsonl"), table: "events")
        _ = try await engine.ingest(path: writeLines(Self.drift, in: dir, name: "drift.jsonl"), table: "events")
        guard let incident = try await engine.incidents().first else { return (engine, nil, nil) }
        return (engine, incident, try await engine.currentPlan(incidentID: incident.id))
    }

    func columns(_ engine: Engine) async throws -> [String] {
        try await engine.schema(table: "events")?.0.columns.map(\.name) ?? []
    }

    @Test(arguments: Backend.available) func defaultPolicyAppliesANewColumn(_ backend: Backend) async throws {
        let (engine, found, plan) = try await run(backend, policyYAML: nil)
        let incident = try #require(found)
        #expect(plan?.plan.status == .applied)
        #expect(try await engine.incidentDetail(incident.id).0.status == .resolved)
        #expect(try await columns(engine).contains("coupon"))
    }

    @Test(arguments: Backend.available) func approvalPolicyHoldsIt(_ backend: Backend) async throws {
        let (engine, found, plan) = try await run(backend, policyYAML: "autonomy:\n  add_column: approve\n")
        let incident = try #require(found)
        #expect(plan?.plan.status == .pendingApproval)
        #expect(incident.status == .pendingApproval)
        #expect(try await !columns(engine).contains("coupon"))
        #expect(try await engine.stats().first?.parked == 1)
        // A person approves: applied, replayed, resolved, and the audit names them.
        _ = try await engine.approve(incidentID: incident.id, by: "alice")
        #expect(try await columns(engine).contains("coupon"))
        #expect(try await engine.stats().first?.parked == 0)
        let approvals = try await engine.auditEntries().filter { $0.kind == "plan.approved" }
        #expect(approvals.map(\.actor) == ["alice"])
    }

    /// "Open" has one definition (`IncidentStatus.isOpen`): waiting for a person is open, a
    /// person's rejection closes it, in the stats (SQL) and in `/metrics` (Swift) alike.
    @Test(arguments: Backend.available) func aRejectedIncidentIsClosedEverywhere(_ backend: Backend) async throws {
        let (engine, found, _) = try await run(backend, policyYAML: "autonomy:\n  add_column: approve\n")
        let incident = try #require(found)
        #expect(try await engine.stats().first?.openIncidents == 1)
        #expect(try await engine.metricsSnapshot().openIncidents == 1)
        try await engine.reject(incidentID: incident.id, by: "alice", reason: "not this column")
        #expect(try await engine.incidentDetail(incident.id).0.status == .rejected)
        #expect(try await engine.stats().first?.openIncidents == 0)
        #expect(try await engine.metricsSnapshot().openIncidents == 0)
        #expect(IncidentStatus.allCases.filter(\.isOpen) == [.open, .pendingApproval])
    }

    @Test(arguments: Backend.available) func freezeContractRefusesIt(_ backend: Backend) async throws {
        let (engine, _, plan) = try await run(backend, policyYAML: "contracts:\n  columns: freeze\n")
        #expect(plan?.plan.status == .refused)
        #expect(plan?.decision?.autonomy == .deny)
        #expect(try await !columns(engine).contains("coupon"))
        #expect(try await engine.stats().first?.parked == 1, "nothing is lost: the record stays parked")
    }

    @Test(arguments: Backend.available) func discardRowQuarantinesWithReason(_ backend: Backend) async throws {
        let (engine, incident, _) = try await run(backend, policyYAML: "contracts:\n  columns: discard_row\n")
        #expect(incident == nil, "discarding needs no incident")
        let s = try #require(try await engine.stats().first)
        #expect(s.quarantined == 1 && s.parked == 0 && s.loaded == 2)
        #expect(try await !columns(engine).contains("coupon"))
    }

    @Test(arguments: Backend.available) func discardValueLoadsTheRest(_ backend: Backend) async throws {
        let (engine, _, _) = try await run(backend, policyYAML: "contracts:\n  columns: discard_value\n")
        let s = try #require(try await engine.stats().first)
        #expect(s.loaded == 3 && s.parked == 0)
        #expect(try await !columns(engine).contains("coupon"))
    }

    /// A high-risk widening is held by default; a policy that allows high risk applies it
    /// (ALTER COLUMN TYPE on PostgreSQL, a guarded table rebuild on SQLite), and the
    /// parked record then loads with its exact value.
    @Test(arguments: Backend.available)
    func wideningFollowsMaxAutoRisk(_ backend: Backend) async throws {
        let lines = [#"{"id": 1, "items": 2}"#]
        let drift = [#"{"id": 2, "items": 2.5}"#]
        for (yaml, expected) in [
            (nil as String?, PlanStatus.pendingApproval),
            ("max_auto_risk: high\nautonomy:\n  widen_column: auto\n", PlanStatus.applied),
        ] {
            let engine = try await backend.engine(policy: try yaml.map { try PolicyLoader.parse($0) } ?? .default)
            let dir = Paths.tempDir()
            _ = try await engine.ingest(path: writeLines(lines, in: dir, name: "a.jsonl"), table: "events")
            _ = try await engine.ingest(path: writeLines(drift, in: dir, name: "b.jsonl"), table: "events")
            let incident = try #require(try await engine.incidents().first)
            let plan = try await engine.currentPlan(incidentID: incident.id)
            #expect(plan?.plan.status == expected)
            #expect(plan?.verdicts.first?.risk == .high)
            let type = try await engine.schema(table: "events")?.0.column(named: "items")?.type
            #expect(type == (expected == .applied ? .numeric : .bigint))
            let stats = try #require(try await engine.stats().first)
            #expect(stats.loaded == (expected == .applied ? 2 : 1))
            if expected == .applied {
                let v = try await engine.rows("SELECT items FROM \(engine.tableRef("events")) WHERE id = 2")
                #expect(v.first?.first?.double == 2.5)
            }
        }
    }

    /// Planner output never reaches SQL as text: a plan naming a hostile column is
    /// refused before compiling, and a forbidden statement never runs.
    @Test(arguments: Backend.available) func hostilePlanIsRefused(_ backend: Backend) async throws {
        let (engine, found, _) = try await run(backend, policyYAML: "autonomy:\n  add_column: approve\n")
        let incident = try #require(found)
        let hostile = Plan(
            incidentID: incident.id, table: "events", operations: [.addColumn("x\" int; DROP TABLE events; --", .text)],
            rationale: "trust me", confidence: 0.9, plannedBy: "test")
        let p = try await engine.propose(incidentID: incident.id, plan: hostile)
        #expect(p.decision.autonomy == .deny)
        #expect(p.statements.isEmpty, "nothing was compiled")
        #expect(try await engine.schema(table: "events") != nil)
    }
}
