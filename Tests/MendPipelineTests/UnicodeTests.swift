import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// One name, one spelling: NFC and NFD forms of a key or a table are the same column or
/// table; bytes that are not UTF-8 are quarantined with their bytes, never replaced.
@Suite struct UnicodeTests {
    static let nfc = "caf\u{E9}"
    static let nfd = "cafe\u{301}"

    @Test(arguments: Backend.available) func nfcAndNfdKeysAreOneColumnAndOneTable(_ backend: Backend) async throws {
        #expect(Array(Self.nfc.utf8) != Array(Self.nfd.utf8), "the two spellings differ in bytes")
        let engine = try await backend.engine()
        let lines = ["{\"id\": 1, \"\(Self.nfc)\": \"a\"}", "{\"id\": 2, \"\(Self.nfd)\": \"b\"}"]
        _ = try await engine.ingest(path: writeLines(lines), table: "t_" + Self.nfc)
        _ = try await engine.ingest(path: writeLines([#"{"id": 3}"#], name: "b.jsonl"), table: "t_" + Self.nfd)
        let stats = try await engine.stats()
        #expect(stats.count == 1, "\(stats.map(\.table))")
        #expect(stats.first?.loaded == 3)
        let columns = try #require(try await engine.schema(table: "t_" + Self.nfd)).0.columns.map(\.name)
        #expect(columns.sorted() == ["caf\u{E9}", "id"])
    }

    /// A parked record keeps its exact text, also where jsonb cannot hold it (`\u0000`); an
    /// escaped backslash before `u0000` is no NUL, and that record parks as jsonb.
    @Test(arguments: Backend.available) func parkedRecordsWithNULEscapesKeepTheirText(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let nul = #"{"id": "a\u0000b"}"#
        let backslash = #"{"id": "a\\u0000b"}"#
        _ = try await engine.ingest(path: writeLines([#"{"id": 1}"#, #"{"id": 2}"#]), table: "events")
        let s = try await engine.ingest(path: writeLines([nul, backslash], name: "strings.jsonl"), table: "events")
        #expect(s.loaded == 0)
        #expect(s.parked == 2, "a text id does not fit the bigint column")
        let kept = try await engine.rows(
            "SELECT line, CASE WHEN raw IS NULL THEN 1 ELSE 0 END, COALESCE(raw, CAST(record AS TEXT)) FROM \(engine.warehouse.stateTable("parked")) ORDER BY line"
        )
        #expect(kept.count == 2)
        #expect(kept.first?[2].string == nul)
        if backend == .postgres {
            #expect(kept.first?[1].int == 0, "jsonb cannot hold NUL: the text is kept in raw")
            #expect(kept.last?[1].int == 1, "no NUL in \(backslash): jsonb holds it")
        }
    }

    @Test(arguments: Backend.available) func invalidUTF8IsQuarantinedWithItsBytes(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let dir = Paths.tempDir()
        let url = dir.appendingPathComponent("bad.jsonl")
        var bytes = Data(#"{"id": 1, "name": "ok"}"#.utf8) + Data([0x0A])
        bytes += Data(#"{"id": 2, "name": "bad "#.utf8) + Data([0xFF, 0xFE]) + Data(#""}"#.utf8) + Data([0x0A])
        try bytes.write(to: url)
        let s = try await engine.ingest(path: url.path, table: "events")
        #expect(s.loaded == 1)
        #expect(s.quarantined == 1)
        let raw = try await engine.rows("SELECT raw, reason FROM \(engine.warehouse.stateTable("quarantine"))")
        let kept = try #require(raw.first?[0].string)
        #expect(kept.hasPrefix("base64:"))
        #expect(Data(base64Encoded: String(kept.dropFirst(7))) == Data(#"{"id": 2, "name": "bad "#.utf8) + Data([0xFF, 0xFE, 0x22, 0x7D]))
        #expect(raw.first?[1].string?.contains("UTF-8") == true)
    }

    @Test func theParserRefusesInvalidUTF8InStrings() {
        let bad: [UInt8] = Array(#"{"a": "x"#.utf8) + [0xC3] + Array(#""}"#.utf8)
        #expect(throws: JSONParseError.self) { _ = try bad.withUnsafeBufferPointer { try JSONParser.parse($0) } }
        let escaped: [UInt8] = Array(#"{"a": "\n"#.utf8) + [0xE2, 0x82] + Array(#""}"#.utf8)
        #expect(throws: JSONParseError.self) { _ = try escaped.withUnsafeBufferPointer { try JSONParser.parse($0) } }
    }
}
