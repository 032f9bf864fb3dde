import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// A firehose of event types into one table: past the column budget, fields load into
/// `_mend_overflow` under their key paths, nothing parks or is lost, an incident records it,
/// and a person can promote a field to its own column.
@Suite struct WideTableTests {
    /// `types` event types of `keys` keys each, nested under `data`: about types × keys
    /// distinct flattened keys. Even keys hold strings, odd keys integers.
    static func events(types: Range<Int>, keys: Int, perType: Int, from first: Int = 0) -> [String] {
        var lines: [String] = []
        for t in types {
            for n in first..<(first + perType) {
                let id = t * 1_000 + n
                let data = (0..<keys).map { j in j % 2 == 0 ? #""k\#(t)_\#(j)": "v\#(id)-\#(j)""# : #""k\#(t)_\#(j)": \#(id * 10 + j)"# }
                lines.append(#"{"id": \#(id), "type": "evt_\#(t)", "data": {\#(data.joined(separator: ", "))}}"#)
            }
        }
        return lines
    }

    /// Every value of every record, read back from its column or from `_mend_overflow` by key path.
    static func expectEveryValueReadsBack(_ engine: Engine, rows expectedRows: Int, keys: Int) async throws {
        let columns = try #require(try await engine.schema(table: "events")?.0).columns.map(\.name)
        let names = columns.map { Identifier.quote($0) }.joined(separator: ", ")
        let rows = try await engine.rows("SELECT \(names) FROM \(engine.tableRef("events"))")
        #expect(rows.count == expectedRows)
        let position = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        let overflowAt = try #require(position[Overflow.column])
        var missing: [String] = []
        for row in rows {
            let idAt = try #require(position["id"])
            let id = Int(try #require(row[idAt].int))
            let t = id / 1_000
            var spilled: [String: JSONValue] = [:]
            if let text = row[overflowAt].string, case .object(let members) = try JSONParser.parse(text) {
                for (k, v) in members { spilled[k] = v }
            }
            for j in 0..<keys {
                let expected = j % 2 == 0 ? "v\(id)-\(j)" : "\(id * 10 + j)"
                let got: String?
                if let p = position["data__k\(t)_\(j)"] {
                    got = row[p].string
                } else {
                    switch spilled["data.k\(t)_\(j)"] {
                    case .string(let s)?: got = s
                    case .number(let n)?: got = n.text
                    default: got = nil
                    }
                }
                if got != expected { missing.append("\(id): data.k\(t)_\(j) = \(got ?? "nothing"), expected \(expected)") }
            }
        }
        #expect(missing.isEmpty, "\(missing.count) values lost, first: \(missing.prefix(3))")
    }

    @Test(arguments: Backend.available) func aHundredEventTypesLoadIntoOneTableAndEveryValueReadsBack(_ backend: Backend)
        async throws
    {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        // 100 types × 100 keys: 10,002 distinct fields, ten times the default budget of 1,000.
        let first = try await engine.ingest(
            path: writeLines(Self.events(types: 0..<100, keys: 100, perType: 3), in: dir, name: "a.jsonl"), table: "events")
        #expect(first.loaded == 300 && first.parked == 0 && first.quarantined == 0, "\(first)")
        let schema = try #require(try await engine.schema(table: "events")?.0)
        #expect(schema.columns.count == RecordLimits.defaultMaxColumns)
        #expect(schema.columns.last?.name == Overflow.column && schema.columns.last?.type == .json)

        // More of the same types, and new types, into the full table: they load too.
        let more = try await engine.ingest(
            path: writeLines(Self.events(types: 50..<120, keys: 100, perType: 2, from: 500), in: dir, name: "b.jsonl"),
            table: "events")
        #expect(more.loaded == 140 && more.parked == 0 && more.stillParked == 0, "\(more)")
        try await Self.expectEveryValueReadsBack(engine, rows: 440, keys: 100)

        // Incidents record what went to the overflow column (at most 1,000 keys each, one per
        // batch that brought new ones), with nothing parked, and no key twice.
        let recorded = try await engine.incidents().filter { $0.kinds.contains(.overflow) }
        #expect(recorded.count == 2 && recorded.allSatisfy { $0.parked == 0 && $0.drifts.count == Overflow.maxRecordedKeys })
        let keys = recorded.flatMap { $0.drifts.map(\.sourceKey) }
        #expect(Set(keys).count == keys.count, "a key is recorded once")
        #expect(try await engine.verifyAudit().ok)
    }

    @Test(arguments: Backend.available) func aPromotedFieldMovesOutOfTheOverflowColumn(_ backend: Backend) async throws {
        // A small budget, so that the table is full after a few fields.
        let engine = try await backend.engine(policy: try PolicyLoader.parse("max_table_columns: 4\n"))
        let dir = Paths.tempDir()
        let lines = (1...30).map { i in
            #"{"id": \#(i), "a": "x\#(i)", "b": \#(i * 2), "c": \#(i % 3 == 0 ? #""not a number""# : "\(i)"), "d": true}"#
        }
        let report = try await engine.ingest(path: writeLines(lines, in: dir), table: "events")
        #expect(report.loaded == 30 && report.parked == 0)
        let before = try #require(try await engine.schema(table: "events")?.0).columns.map(\.name)
        #expect(before == ["id", "a", "b", Overflow.column])
        let incident = try #require(try await engine.incidents().first { $0.kinds.contains(.overflow) })
        #expect(Set(incident.drifts.map(\.sourceKey)) == ["c", "d"])

        // The rules planner proposes promotions; at the budget, the plan is cut and says what to raise.
        let cut = try await engine.propose(incidentID: incident.id)
        #expect(cut.plan.rationale.contains("raise max_table_columns"), "\(cut.plan.rationale)")

        await engine.setPolicy(try PolicyLoader.parse("max_table_columns: 4\ntables:\n  events:\n    max_columns: 5\n"))
        let promote = Plan(
            incidentID: incident.id, table: "events",
            operations: [PlanOperation(kind: .promoteField, column: "c", type: .bigint, source: "c")],
            rationale: "c is queried often", confidence: 1, plannedBy: "alice")
        let stored = try await engine.repair(incidentID: incident.id, plan: promote, by: "alice")
        guard case .pending = stored else {
            Issue.record("a promotion waits for approval: \(stored)")
            return
        }
        _ = try await engine.approve(incidentID: incident.id, by: "bob")
        let ref = await engine.tableRef("events")
        let moved = try await engine.rows("SELECT COUNT(*) FROM \(ref) WHERE c IS NOT NULL")
        #expect(moved.first?.first?.int == 20, "the 20 integer values moved into the new column")
        let o = Identifier.quote(Overflow.column)
        let left = try await engine.rows("SELECT id, CAST(\(o) AS TEXT) FROM \(ref) WHERE id IN (3, 4) ORDER BY id")
        // jsonb prints its own spacing: compare parsed values.
        let parsed = try left.map { try JSONParser.parse(try #require($0[1].string)) }
        #expect(parsed.first == (try JSONParser.parse(#"{"c": "not a number", "d": true}"#)), "a value that does not fit stays")
        #expect(parsed.last == (try JSONParser.parse(#"{"d": true}"#)), "a moved value leaves the overflow column")
        let applied = try await engine.auditEntries().last { $0.kind == "plan.applied" }
        #expect(applied?.detail.contains("moved 20 values of c") == true, "\(applied?.detail ?? "no entry")")

        // Later records load c into its column.
        let later = try await engine.ingest(path: writeLines([#"{"id": 31, "c": 7}"#], in: dir, name: "b.jsonl"), table: "events")
        #expect(later.loaded == 1 && later.parked == 0)
        #expect(try await engine.rows("SELECT c FROM \(ref) WHERE id = 31").first?.first?.int == 7)
    }

    @Test(arguments: Backend.available) func objectsDeeperThanTheOverflowDepthLoadIntoTheOverflowColumn(_ backend: Backend)
        async throws
    {
        let engine = try await backend.engine(policy: try PolicyLoader.parse("overflow_depth: 1\n"))
        let dir = Paths.tempDir()
        let first = try await engine.ingest(
            path: writeLines([#"{"id": 1, "meta": {"ip": "10.0.0.1", "geo": {"lat": 1.5}}}"#], in: dir), table: "events")
        #expect(first.loaded == 1 && first.parked == 0)
        let columns = try #require(try await engine.schema(table: "events")?.0).columns.map(\.name)
        #expect(columns == ["id", Overflow.column])
        // A deep object in a table without the overflow column asks for it, as any new column.
        let other = try await engine.ingest(
            path: writeLines([#"{"id": 2}"#, #"{"id": 3, "ctx": {"a": 1}}"#], in: dir, name: "o.jsonl"), table: "others")
        #expect(other.loaded == 2 && other.stillParked == 0, "\(other)")
        let o = Identifier.quote(Overflow.column)
        let back = try await engine.rows("SELECT CAST(\(o) AS TEXT) FROM \(await engine.tableRef("others")) WHERE id = 3")
        let text = try #require(back.first?.first?.string)
        #expect(text.replacingOccurrences(of: " ", with: "") == #"{"ctx":{"a":1}}"#)
    }
}
