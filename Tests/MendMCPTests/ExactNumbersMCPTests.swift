import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// sample_records shows a numeric value as a JSON number only when the number carries
/// it exactly, and otherwise as its exact text (issue 12 item 4).
@Suite struct ExactNumbersMCPTests {
    @Test(arguments: Backend.available) func sampleRecordsShowExactNumbers(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let lines = [
            #"{"id": 1, "n": 123456789012345678901234567890, "d": 0.30000000000000004}"#,
            #"{"id": 2, "n": 3.14159265358979323846, "d": 0.1}"#,
            #"{"id": 3, "n": 1.5e3, "d": 2.5}"#,
            #"{"id": 4, "n": 0.1, "d": 1e19}"#,
        ]
        _ = try await engine.ingest(path: writeLines(lines), table: "nums")
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let r = try await c.call("sample_records", ["table": "nums", "limit": 10])
        let rows = r.object["rows"]?.arrayValue ?? []
        func row(_ id: Int) -> [String: Value] { rows.first { $0.objectValue?["id"]?.intValue == id }?.objectValue ?? [:] }
        #expect(row(1)["n"] == .string("123456789012345678901234567890"), "\(row(1))")
        #expect(row(2)["n"] == .string("3.14159265358979323846"), "\(row(2))")
        #expect(row(3)["n"] == .int(1500), "\(row(3))")
        #expect(row(4)["n"] == .double(0.1), "\(row(4))")
        #expect(row(1)["d"] == .double(0.30000000000000004), "\(row(1))")
        #expect(row(2)["d"] == .double(0.1), "\(row(2))")
        #expect(row(4)["d"] == .double(1e19), "\(row(4))")
    }
}
