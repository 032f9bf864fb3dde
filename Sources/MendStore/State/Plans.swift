import Foundation
public import MendCore

/// Stored plans with their verdicts and the policy's decision.
extension StateTransaction {

    public func insertPlan(_ plan: Plan, decision: PolicyDecision?, verdicts: [GuardVerdict]) async throws
        -> Int64
    {
        var p = plan
        p.id = 0
        let rows = try await session.query(
            "INSERT INTO \(t("plans")) (incident_id, tbl, plan, status, decision, verdicts, planned_by, created_at) VALUES (?, ?, \(jp), ?, \(jp), \(jp), ?, ?) RETURNING id",
            [
                .int(plan.incidentID), .text(plan.table), .text(try encode(p)), .text(plan.status.rawValue),
                .text(try encode(decision)), .text(try encode(verdicts)), .text(plan.plannedBy), .double(Self.now()),
            ])
        return rows.first?.first?.int ?? 0
    }

    /// Moves a plan from one status to another, only if it still has the first (see
    /// `setStatus` for incidents); `decidedBy` and the note are kept with the plan.
    public func setStatus(_ change: IncidentLifecycle.StatusChange<PlanStatus>, decidedBy: String) async throws {
        let won = try await session.query(
            "UPDATE \(t("plans")) SET status = ?, decided_by = ?, decided_at = ?, note = COALESCE(?, note) WHERE id = ? AND status = ? RETURNING id",
            [
                .text(change.to.rawValue), .text(decidedBy), .double(Self.now()), change.note.map(SQLValue.text) ?? .null,
                .int(change.id), .text(change.from.rawValue),
            ])
        guard !won.isEmpty else {
            throw StoreError.conflict(
                "plan \(change.id) is no longer \(change.from.rawValue) (someone else decided first); `mend show` on its incident shows where it is now"
            )
        }
    }

    /// The latest plan of an incident, the one its lifecycle follows.
    public func currentPlan(incidentID: Int64) async throws -> StoredPlan? {
        try await plans(where: "incident_id = ? ORDER BY id DESC LIMIT 1", [.int(incidentID)]).first
    }

    /// Applied plans' verdicts, for the repairs-by-risk metric.
    public func appliedPlanVerdicts() async throws -> [[GuardVerdict]] {
        try await session.query("SELECT CAST(verdicts AS TEXT) FROM \(t("plans")) WHERE status = 'applied'", []).map {
            (try? decode([GuardVerdict].self, $0[0].string ?? "[]")) ?? []
        }
    }

    public func plans(incidentID: Int64) async throws -> [StoredPlan] {
        try await plans(where: "incident_id = ? ORDER BY id", [.int(incidentID)])
    }

    public func plan(id: Int64) async throws -> StoredPlan? {
        try await plans(where: "id = ?", [.int(id)]).first
    }

    func plans(where clause: String, _ binds: [SQLValue]) async throws -> [StoredPlan] {
        try await session.query(
            "SELECT id, CAST(plan AS TEXT), status, CAST(decision AS TEXT), CAST(verdicts AS TEXT), decided_by, note FROM \(t("plans")) WHERE \(clause)",
            binds
        ).compactMap { r in
            guard var plan = try? decode(Plan.self, r[1].string ?? "") else { return nil }
            plan.id = r[0].int ?? 0
            plan.status = PlanStatus(rawValue: r[2].string ?? "") ?? .proposed
            return StoredPlan(
                plan: plan, decision: try? decode(PolicyDecision?.self, r[3].string ?? "null"),
                verdicts: (try? decode([GuardVerdict].self, r[4].string ?? "[]")) ?? [], decidedBy: r[5].string,
                note: r[6].string)
        }
    }
}
