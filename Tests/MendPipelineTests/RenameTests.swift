import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// A renamed upstream key (`customer` → `client`) is found with evidence, waits for a
/// person, and once approved loads into the old column; near misses stay new columns.
@Suite struct RenameTests {
    /// 300 orders where every record has `customer` (or, with `rare`, one in ten).
    static func base(rare: Bool = false) -> [String] {
        (1...300).map { i in
            let customer = !rare || i % 10 == 0 ? #", "customer": "c-\#(i % 97)""# : ""
            return #"{"id": \#(i), "amount": \#(i % 50)\#(customer)}"#
        }
    }

    static func columns(_ engine: Engine) async throws -> [String] {
        try #require(try await engine.schema(table: "orders")?.0).columns.map(\.name)
    }

    @Test(arguments: Backend.available) func aRenamedKeyMapsOntoTheOldColumnOnceApproved(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(Self.base(), in: dir, name: "a.jsonl"), table: "orders")
        let renamed = (301...340).map { #"{"id": \#($0), "amount": \#($0 % 50), "client": "c-\#($0 % 97)"}"# }
        let report = try await engine.ingest(path: writeLines(renamed, in: dir, name: "b.jsonl"), table: "orders")
        let incident = try #require(report.pendingApproval.first, "the mapping waits for a person")
        #expect(report.stillParked == 40)

        let plan = try #require(try await engine.currentPlan(incidentID: incident))
        #expect(plan.plan.status == .pendingApproval)
        #expect(plan.plan.operations == [PlanOperation(kind: .mapField, column: "customer", source: "client")])
        let e = try #require(plan.plan.evidence?.first)
        #expect(e.oldColumn == "customer" && e.newKey == "client" && e.recentWithOld == 300 && e.newRecords == 40)
        #expect(e.firstNewAt.hasSuffix("b.jsonl:1") && e.samples.count == 3 && e.score > 0.8, "\(e)")
        #expect(plan.plan.rationale.contains("client looks like customer renamed"))
        let proposed = try #require(try await engine.auditEntries().last { $0.kind == "plan.proposed" })
        #expect(proposed.detail.contains("rename_evidence") && proposed.detail.contains("client looks like customer renamed"))

        _ = try await engine.approve(incidentID: incident, by: "alice", note: "client is customer renamed")
        #expect(try await Self.columns(engine) == ["id", "amount", "customer"], "the old column stays, no new one")
        let stats = try #require(try await engine.stats().first)
        #expect(stats.loaded == 340 && stats.parked == 0)
        let mapped = try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef("orders")) WHERE id > 300 AND customer IS NOT NULL")
        #expect(mapped.first?.first?.int == 40, "the new key's values landed in the old column")

        // Later records with the new key load straight into the old column.
        let later = try await engine.ingest(
            path: writeLines([#"{"id": 341, "amount": 1, "client": "c-5"}"#], in: dir, name: "c.jsonl"), table: "orders")
        #expect(later.loaded == 1 && later.parked == 0)
    }

    /// A key renamed inside a list's elements (`lines[].sku` → `lines[].product`), with child
    /// tables: the incident is on the child table, the evidence comes from the child rows cut
    /// from the records parked whole under the root, and once approved the values land in the
    /// child table's old column.
    @Test(arguments: Backend.available) func aKeyRenamedInsideAListMapsOntoTheChildColumn(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try PolicyLoader.parse("nested_lists: tables\n"))
        let dir = Paths.tempDir()
        let base = (1...300).map { i in #"{"id": \#(i), "lines": [{"sku": "p-\#(i % 97)", "qty": \#(i % 5)}]}"# }
        _ = try await engine.ingest(path: writeLines(base, in: dir, name: "a.jsonl"), table: "orders")
        let renamed = (301...340).map { i in #"{"id": \#(i), "lines": [{"product": "p-\#(i % 97)", "qty": \#(i % 5)}]}"# }
        let report = try await engine.ingest(path: writeLines(renamed, in: dir, name: "b.jsonl"), table: "orders")
        let incident = try #require(report.pendingApproval.first, "the mapping waits for a person")
        let plan = try #require(try await engine.currentPlan(incidentID: incident))
        #expect(plan.plan.table == "orders__lines")
        #expect(plan.plan.operations == [PlanOperation(kind: .mapField, column: "sku", source: "product")])
        let e = try #require(plan.plan.evidence?.first)
        #expect(e.oldColumn == "sku" && e.newKey == "product" && e.newRecords == 40 && e.firstNewAt.hasSuffix("b.jsonl:1"), "\(e)")

        _ = try await engine.approve(incidentID: incident, by: "alice", note: "product is sku renamed")
        let columns = try #require(try await engine.schema(table: "orders__lines")?.0).columns.map(\.name)
        #expect(!columns.contains("product"), "no new column: \(columns)")
        let mapped = try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef("orders__lines")) l JOIN \(engine.tableRef("orders")) o ON o._mend_id = l._mend_parent_id WHERE o.id > 300 AND l.sku IS NOT NULL"
        )
        #expect(mapped.first?.first?.int == 40, "the renamed key's values landed in the old child column")
        #expect(try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("orders"))").first?.first?.int == 340)
    }

    @Test(arguments: Backend.available) func bothKeysPresentIsANewColumn(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(Self.base(), in: dir, name: "a.jsonl"), table: "orders")
        let both = (301...340).map { #"{"id": \#($0), "amount": 1, "customer": "c-\#($0 % 97)", "client": "c-\#($0 % 13)"}"# }
        let report = try await engine.ingest(path: writeLines(both, in: dir, name: "b.jsonl"), table: "orders")
        #expect(report.pendingApproval.isEmpty && report.stillParked == 0)
        #expect(try await Self.columns(engine) == ["id", "amount", "customer", "client"])
        let plan = try #require(try await engine.currentPlan(incidentID: 1))
        #expect(plan.plan.evidence == nil && plan.plan.rationale.contains("not a rename: customer is still present in 40 of the 40"))
    }

    @Test(arguments: Backend.available) func differentTypesAreANewColumn(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(Self.base(), in: dir, name: "a.jsonl"), table: "orders")
        let numbers = (301...340).map { #"{"id": \#($0), "amount": 1, "client": \#($0)}"# }
        let report = try await engine.ingest(path: writeLines(numbers, in: dir, name: "b.jsonl"), table: "orders")
        #expect(report.pendingApproval.isEmpty && report.stillParked == 0)
        #expect(try await Self.columns(engine) == ["id", "amount", "customer", "client"])
    }

    @Test(arguments: Backend.available) func aRareOldKeyIsANewColumn(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(Self.base(rare: true), in: dir, name: "a.jsonl"), table: "orders")
        let renamed = (301...340).map { #"{"id": \#($0), "amount": 1, "client": "c-\#($0 % 97)"}"# }
        let report = try await engine.ingest(path: writeLines(renamed, in: dir, name: "b.jsonl"), table: "orders")
        #expect(report.pendingApproval.isEmpty && report.stillParked == 0)
        #expect(try await Self.columns(engine) == ["id", "amount", "customer", "client"])
        let plan = try #require(try await engine.currentPlan(incidentID: 1))
        #expect(
            plan.plan.rationale.contains("not a rename: customer had a value in only 30 of the last 300 rows"), "\(plan.plan.rationale)")
    }
}
