import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// One source key path, one column, for the life of a table (DESIGN invariant 7, issue 28):
/// Zeek's `_path` and smb_mapping's `path` both normalize to `path`.
@Suite struct KeyMapTests {
    /// Every row's (`path`, `path_2`) pair, by `n`.
    static func pairs(_ engine: Engine, _ table: String) async throws -> [Int64: [String?]] {
        var out: [Int64: [String?]] = [:]
        for r in try await engine.rows("SELECT n, path, path_2 FROM \(engine.tableRef(table)) ORDER BY n") {
            out[r[0].int ?? -1] = [r[1].string, r[2].string]
        }
        return out
    }

    static let first = #"{"n": 1, "_path": "x"}"#
    static let clash = #"{"n": 2, "_path": "y", "path": "p"}"#
    static let alone = #"{"n": 3, "path": "q"}"#

    @Test(arguments: Backend.available)
    func underscorePathKeepsItsColumnWhenPathArrives(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([Self.first]), table: "zeek")
        _ = try await engine.ingest(path: writeLines([Self.clash, Self.alone]), table: "zeek")
        let rows = try await Self.pairs(engine, "zeek")
        #expect(rows[1] == ["x", nil])
        #expect(rows[2] == ["y", "p"], "_path stays in path, path goes to path_2")
        #expect(rows[3] == [nil, "q"], "a record with path alone still sends it to path_2")
        let (_, sources, _) = try #require(try await engine.schema(table: "zeek"))
        #expect(sources["path"] == ["_path"])
        #expect(sources["path_2"] == ["path"])
        #expect(sources["n"] == ["n"], "a column named like its key names it too")
    }

    @Test(arguments: Backend.available)
    func theMapSurvivesAResumedIngest(_ backend: Backend) async throws {
        let url = backend.freshURL()
        let dir = Paths.tempDir()
        let path = writeLines([Self.first], in: dir)
        _ = try await backend.engine(url: url).ingest(path: path, table: "zeek")
        // Lines appended to the same file; a new engine resumes after the first.
        try (Self.first + "\n" + Self.alone + "\n" + Self.clash + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let resumed = try await backend.engine(url: url)
        let s = try await resumed.ingest(path: path, table: "zeek")
        #expect(s.skippedByResume == 1, "\(s)")
        let rows = try await Self.pairs(resumed, "zeek")
        #expect(rows[1] == ["x", nil])
        #expect(rows[3] == [nil, "q"], "path, first seen alone after _path took the name, gets path_2")
        #expect(rows[2] == ["y", "p"])
    }

    @Test(arguments: Backend.available)
    func replayedRecordsLandInTheKeysColumns(_ backend: Backend) async throws {
        var policy = Policy.default
        policy.autonomy["add_column"] = .approve
        let url = backend.freshURL()
        let engine = try await backend.engine(policy: policy, url: url)
        _ = try await engine.ingest(path: writeLines([Self.first]), table: "zeek")
        let s = try await engine.ingest(path: writeLines([Self.clash, Self.first.replacingOccurrences(of: "1", with: "4")]), table: "zeek")
        #expect(s.parked == 1 && s.loaded == 1, "\(s)")
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        #expect(incident.drifts.contains { $0.sourceKey == "path" && $0.column == "path_2" }, "\(incident.drifts)")
        // A restarted engine approves: the parked record replays against the stored map.
        _ = try await backend.engine(policy: policy, url: url).approve(incidentID: incident.id, by: "alice")
        let rows = try await Self.pairs(engine, "zeek")
        #expect(rows[2] == ["y", "p"])
        #expect(rows[4] == ["x", nil])
        let stats = try #require(try await engine.stats().first { $0.table == "zeek" })
        #expect(stats.parked == 0 && stats.loaded == 3, "\(stats)")
    }

    /// Columns made by repairs name their sources too: a variant column its base column's
    /// key, the overflow column the keys loaded into it, a promoted column its field.
    @Test(arguments: Backend.available)
    func variantOverflowAndPromotedColumnsNameTheirSources(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try PolicyLoader.parse("max_table_columns: 3\n"))
        _ = try await engine.ingest(path: writeLines([#"{"id": 1, "amount": 2.5, "c": 1, "d": true}"#]), table: "t")
        await engine.setPolicy(try PolicyLoader.parse("max_table_columns: 6\n"))
        _ = try await engine.ingest(path: writeLines([#"{"id": 2, "amount": "n/a"}"#]), table: "t")
        let conflict = try #require(try await engine.incidents().first { $0.kinds.contains(.typeMismatch) })
        _ = try await engine.approve(incidentID: conflict.id, by: "alice")
        var sources = try #require(try await engine.schema(table: "t")).1
        #expect(sources["amount__v_text"] == ["amount"], "\(sources)")
        #expect(sources[Overflow.column] == ["c", "d"], "\(sources)")
        let overflow = try #require(try await engine.incidents().first { $0.kinds.contains(.overflow) })
        let promote = Plan(
            incidentID: overflow.id, table: "t", operations: [PlanOperation(kind: .promoteField, column: "c", type: .bigint, source: "c")],
            rationale: "c", confidence: 1, plannedBy: "alice")
        _ = try await engine.repair(incidentID: overflow.id, plan: promote, by: "alice")
        _ = try await engine.approve(incidentID: overflow.id, by: "bob")
        sources = try #require(try await engine.schema(table: "t")).1
        #expect(sources["c"] == ["c"], "\(sources)")
    }

    /// Key paths tell a nested key from a literal dotted one.
    @Test(arguments: Backend.available)
    func nestedAndDottedKeysHaveDistinctPaths(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([#"{"id": {"orig_h": "a"}, "id.orig_h": "b"}"#]), table: "conn")
        let (schema, sources, _) = try #require(try await engine.schema(table: "conn"))
        let nested = try #require(schema.keys["id.orig_h"])
        let dotted = try #require(schema.keys[#"id\.orig_h"#])
        #expect(nested != dotted)
        #expect(sources[nested] == ["id.orig_h"])
        #expect(sources[dotted] == [#"id\.orig_h"#])
        #expect(KeyPath.segments(#"id\.orig_h"#) == ["id.orig_h"])
        #expect(KeyPath.segments("id.orig_h") == ["id", "orig_h"])
    }
}
