import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Limits park a record with a reason; they never stall a table, never reject the
/// records around it, and never turn one record into a table's worth of columns.
@Suite struct LimitsTests {
    static func wide(_ id: Int, keys: Int) -> String {
        "{\"id\": \(id), " + (0..<keys).map { "\"k\($0)\": \($0)" }.joined(separator: ", ") + "}"
    }

    /// Memory follows the byte budget, not the records' size: large records make more,
    /// smaller batches, and every record still loads once.
    @Test(arguments: Backend.available) func aBatchIsCutByItsBytesAsWellAsItsRecordCount(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        await engine.setBatchSize(10_000)
        // Tables made first: a new table's first batch is its schema's inference window, read whole.
        for table in ["whole", "cut"] { _ = try await engine.ingest(path: writeLines([#"{"id": 0, "text": "x"}"#]), table: table) }
        let pad = String(repeating: "a", count: 1_000)
        let path = writeLines((1...200).map { #"{"id": \#($0), "text": "\#(pad)"}"# })
        func commits(_ table: String) async throws -> (Int, IngestSummary) {
            let before = engine.warehouse.health.snapshot.commits
            let s = try await engine.ingest(path: path, table: table)
            return (engine.warehouse.health.snapshot.commits - before, s)
        }
        let (whole, a) = try await commits("whole")
        await engine.setBatchBytes(20_000)
        let (cut, b) = try await commits("cut")
        #expect(a.loaded == 200 && b.loaded == 200)
        // About 1,020 bytes a record: a batch closes at its 20th, so 200 records take 10 batches.
        #expect(cut >= whole + 9, "transactions: \(cut) cut by bytes, \(whole) in one batch")
        let rows = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef("cut"))")
        #expect(rows.first?[0].int == 201 && rows.first?[1].int == 201)
    }

    @Test(arguments: Backend.available) func aRecordWithTooManyKeysIsParkedAndTheBatchLoads(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        // On a new table: the wide record is not part of the table's first schema.
        let lines = [#"{"id": 1, "kind": "a"}"#, Self.wide(2, keys: 5_000), #"{"id": 3, "kind": "b"}"#]
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded == 2)
        #expect(s.parked == 1)
        let columns = try #require(try await engine.schema(table: "events")).0.columns.map(\.name)
        #expect(columns.count == 2, "\(columns.count) columns")
        let incident = try #require(try await engine.incidents().first)
        #expect(incident.kinds == [.recordTooLarge])
        let (_, parked, plans) = try await engine.incidentDetail(incident.id)
        #expect(parked.first?.reason.contains("max_record_fields") == true, "\(parked.first?.reason ?? "")")
        // The rules planner proposes quarantine, which waits for a person under the default policy.
        #expect(plans.last?.plan.operations.map(\.kind) == [.quarantine])
        #expect(plans.last?.plan.status == .pendingApproval)
    }

    @Test(arguments: Backend.available) func aPlanAddingManyColumnsWaitsForAPerson(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([#"{"id": 1}"#]), table: "events")
        let s = try await engine.ingest(path: writeLines([Self.wide(2, keys: 60)]), table: "events")
        #expect(s.pendingApproval.count == 1)
        let plan = try #require(try await engine.currentPlan(incidentID: s.pendingApproval[0]))
        #expect(plan.plan.operations.count == 60)
        #expect(plan.decision?.reasons.contains { $0.contains("max_auto_new_columns") } == true)
        #expect(try await engine.schema(table: "events")?.0.columns.count == 1, "nothing added without approval")
    }

    @Test func thePolicyOverridesTheLimits() throws {
        let p = try PolicyLoader.parse("max_record_fields: 10\nmax_auto_new_columns: 200\n")
        #expect(p.recordLimits(table: "events").maxFields == 10)
        #expect(p.maxAutoNewColumns == 200)
    }

    @Test(arguments: Backend.available) func junkLinesCostOneAuditEntryPerBatch(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let lines = [#"{"id": 1}"#] + (0..<500).map { "junk \($0)" } + [#"{"id": 2}"#]
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.quarantined == 500)
        #expect(s.loaded == 2)
        let entries = try await engine.auditEntries().filter { $0.kind == "record.quarantined" }
        #expect(entries.count == 1)
        #expect(entries.first?.detail.contains("\"count\":\"500\"") == true, "\(entries.first?.detail ?? "")")
        #expect(entries.first?.detail.contains("records_sha256") == true)
        #expect(try await engine.stats().first?.quarantined == 500, "every line is still kept, with its reason")
    }
}
