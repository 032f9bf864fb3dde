import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The same data gets the same schema, whatever the batch size or the database: a new
/// table's first schema comes from its first `SchemaInference.firstSchemaWindow` records,
/// and a new field is typed over all its values in the batch that brings it.
@Suite struct DeterministicSchemaTests {
    /// 24,000 records: user_id is a number except one string at record 15,000 (inside the
    /// first batch at PostgreSQL's default 20,000, outside it at SQLite's 5,000, and outside
    /// the 10,000-record window); a new field `score` arrives at record 21,005 as 4, then
    /// 4.5, then 7.
    static func file(in dir: URL) -> String {
        var lines: [String] = []
        lines.reserveCapacity(24_000)
        for i in 1...24_000 {
            let user = i == 15_000 ? #""u-15000""# : String(i % 700)
            var line = #"{"id": \#(i), "user_id": \#(user), "kind": "k\#(i % 5)""#
            switch i {
            case 21_005: line += #", "score": 4"#
            case 21_010: line += #", "score": 4.5"#
            case 21_050: line += #", "score": 7"#
            default: break
            }
            lines.append(line + "}")
        }
        return writeLines(lines, in: dir, name: "drifting.jsonl")
    }

    static func columns(_ engine: Engine) async throws -> [String] {
        let schema = try #require(try await engine.schema(table: "events")?.0)
        return schema.columns.map { "\($0.name):\($0.type?.rawValue ?? "?")" }
    }

    @Test(arguments: Backend.available)
    func oneFileGivesOneSchemaAtEveryBatchSize(_ backend: Backend) async throws {
        let dir = Paths.tempDir()
        let path = Self.file(in: dir)
        var schemas: [Int: [String]] = [:]
        for size in [100, 5_000, 20_000] {
            let engine = try await backend.engine()
            await engine.setBatchSize(size)
            let s = try await engine.ingest(path: path, table: "events")
            #expect(s.lines == 24_000)
            schemas[size] = try await Self.columns(engine)
        }
        let expected = ["id:bigint", "user_id:bigint", "kind:text", "score:double"]
        for (size, columns) in schemas { #expect(columns == expected, "batch size \(size) on \(backend)") }
    }

    @Test(.enabled(if: Backend.available.count > 1, "needs MEND_TEST_PG (scripts/with-postgres.sh)"))
    func bothDatabasesAgree() async throws {
        let dir = Paths.tempDir()
        let path = Self.file(in: dir)
        var byBackend: [String] = []
        for backend in Backend.available {
            let engine = try await backend.engine()  // the database's own default batch size
            _ = try await engine.ingest(path: path, table: "events")
            byBackend.append(try await Self.columns(engine).joined(separator: ","))
        }
        #expect(Set(byBackend).count == 1, "\(byBackend)")
    }
}
