import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// DESIGN invariant 1 against the counted input (issue 28): records move between loaded,
/// parked and quarantined, the sum stays the records read, and a gap shows.
@Suite struct CountedInputTests {
    static let base = [#"{"id": 1, "v": 1}"#, #"{"id": 2, "v": 2}"#]
    static let lines = [
        #"{"id": 3, "v": "text"}"#,  // type conflict: parked (a variant column needs approval)
        #"{"id": 4, "v": "more"}"#,  // parked with it
        "not json",  // quarantined
        #"{"id": 5, "v": 5, "!!!": 1}"#,  // nameless key: parked
    ]

    /// The table from `base`, then `lines` into it: 2 loaded, 3 parked, 1 quarantined.
    static func ingest(_ engine: Engine) async throws {
        _ = try await engine.ingest(path: writeLines(Self.base), table: "c")
        _ = try await engine.ingest(path: writeLines(Self.lines), table: "c")
    }

    static func stats(_ engine: Engine) async throws -> TableStats {
        try #require(try await engine.stats().first { $0.table == "c" })
    }

    @Test(arguments: Backend.available)
    func movesBetweenPlacesKeepTheSum(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        try await Self.ingest(engine)
        var s = try await Self.stats(engine)
        #expect(s.input == 6 && s.conserved, "\(s)")
        #expect(s.parked == 3 && s.quarantined == 1, "\(s)")
        // A person quarantines one incident's records; another incident is approved and replayed.
        let incidents = try await engine.incidents().filter { $0.status != .resolved }
        let nameless = try #require(incidents.first { $0.kinds.contains(.invalidIdentifier) })
        _ = try await engine.quarantine(incidentID: nameless.id, parkedIDs: nil, by: "alice", reason: "no name")
        s = try await Self.stats(engine)
        #expect(s.input == 6 && s.conserved && s.quarantined == 2, "\(s)")
        let conflict = try #require(incidents.first { $0.kinds.contains(.typeMismatch) })
        _ = try await engine.approve(incidentID: conflict.id, by: "alice")
        s = try await Self.stats(engine)
        #expect(s.input == 6 && s.conserved && s.loaded == 4 && s.parked == 0, "\(s)")
    }

    @Test(arguments: Backend.available)
    func discardRowMovesRecordsToQuarantineWithoutChangingTheSum(_ backend: Backend) async throws {
        var policy = Policy.default
        policy.contracts.columns = .discardRow
        let engine = try await backend.engine(policy: policy)
        _ = try await engine.ingest(path: writeLines([#"{"id": 1}"#]), table: "c")
        _ = try await engine.ingest(path: writeLines([#"{"id": 2, "new": 1}"#, #"{"id": 3}"#]), table: "c")
        let s = try await Self.stats(engine)
        #expect(s.input == 3 && s.loaded == 2 && s.quarantined == 1 && s.conserved, "\(s)")
    }

    /// The figure can fail: a parked record deleted behind Mend's back is a gap, and
    /// `mend stats` names the table and exits 1.
    @Test(arguments: Backend.available)
    func aRecordDeletedOutsideMendIsAGap(_ backend: Backend) async throws {
        let url = backend.freshURL()
        let engine = try await backend.engine(url: url)
        try await Self.ingest(engine)
        #expect(try await Self.stats(engine).conserved)
        let parked = engine.warehouse.stateTable("parked")
        _ = try await engine.rows("DELETE FROM \(parked) WHERE id = (SELECT MIN(id) FROM \(parked))")
        let s = try await Self.stats(engine)
        #expect(s.input == 6 && s.accounted == 5 && !s.conserved, "\(s)")
        #expect(s.gap?.contains("table c: 6 records read, but 5") == true, "\(s.gap ?? "nil")")

        let dir = Paths.tempDir()
        let text = try await CLITests.mend(["stats", "--db", url], in: dir)
        #expect(text.code == 1, "\(text.all)")
        #expect(text.err.contains("table c"), "\(text.all)")
        #expect(text.out.contains("5 ≠"), "\(text.all)")
        let json = try await CLITests.mend(["stats", "--json", "--db", url], in: dir)
        #expect(json.code == 1, "\(json.all)")
        let object = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        #expect(object?["conserved"] as? Bool == false)
        let table = (object?["tables"] as? [String: Any])?["c"] as? [String: Any]
        #expect(table?["input"] as? Int == 6 && table?["accounted"] as? Int == 5 && table?["conserved"] as? Bool == false)
    }
}
