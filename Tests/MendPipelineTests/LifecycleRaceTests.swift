import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Two approvers (two processes: two engines, two connections) race on one pending
/// plan. The lifecycle's compare-and-set lets exactly one win; the plan runs once.
@Suite struct LifecycleRaceTests {
    @Test(arguments: Backend.available) func twoApproversOneWinner(_ backend: Backend) async throws {
        let url = backend.freshURL()
        let policy = try PolicyLoader.parse("autonomy:\n  add_column: approve\n")
        let first = try await backend.engine(policy: policy, url: url)
        let dir = Paths.tempDir()
        _ = try await first.ingest(path: writeLines([#"{"id": 1}"#], in: dir, name: "a.jsonl"), table: "events")
        _ = try await first.ingest(path: writeLines([#"{"id": 2, "coupon": "X"}"#], in: dir, name: "b.jsonl"), table: "events")
        let incident = try #require(try await first.incidents().first)
        #expect(incident.status == .pendingApproval)
        let second = try await backend.engine(policy: policy, url: url)

        async let a: String = Self.outcome { try await first.approve(incidentID: incident.id, by: "alice") }
        async let b: String = Self.outcome { try await second.approve(incidentID: incident.id, by: "bob") }
        let results = await [a, b]
        #expect(results.filter { $0 == "ok" }.count == 1, "exactly one approval wins: \(results)")
        let loser = results.first { $0 != "ok" } ?? ""
        // Depending on when it reads, the loser meets the plan approved, the plan applied or the incident resolved.
        #expect(
            ["no longer", "no plan waiting", "already approved", "already resolved"].contains { loser.contains($0) },
            "the loser is told why: \(loser)")

        let audit = try await first.auditEntries()
        #expect(audit.filter { $0.kind == "plan.approved" }.count == 1)
        #expect(audit.filter { $0.kind == "plan.applied" }.count == 1)
        #expect(try await first.incidentDetail(incident.id).0.status == .resolved)
        #expect(try await first.stats().first?.loaded == 2)
    }

    static func outcome(_ body: () async throws -> StoredPlan) async -> String {
        do {
            _ = try await body()
            return "ok"
        } catch {
            return "\(error)"
        }
    }
}
