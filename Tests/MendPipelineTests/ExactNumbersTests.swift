import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Issue 12 item 4: a number Mend loads into a numeric (or json) column reads back as the
/// same number on both databases, whatever SQLite's NUMERIC affinity would make of it; a
/// number a double or bigint column cannot hold parks with a reason instead of rounding.
@Suite struct ExactNumbersTests {
    /// Sent into one numeric column, one record each (ids 1...). The first makes the column numeric.
    static let numbers = [
        "123456789012345678901234567890", "123456789012345678901234567891",
        "3.14159265358979323846264338327950288", "0.1", "-0", "1e400", "-1e400", "1e-400", "1.5e3", "-2.5E-3",
        "0.30000000000000004", "12.50", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e19",
        "123456789012345.6", "100000000000000000000000000000000000001", "42",
    ]

    static func sameNumber(_ a: String?, _ b: String) -> Bool {
        guard let a, let x = DecimalText(a), let y = DecimalText(b) else { return false }
        return x == y
    }

    /// `SELECT id, CAST(col AS TEXT)` by id, straight from the database.
    static func rawText(_ engine: Engine, _ table: String, _ column: String) async throws -> [Int64: String] {
        let rows = try await engine.rows(
            "SELECT id, CAST(\(Identifier.quote(column)) AS TEXT) FROM \(engine.tableRef(table)) ORDER BY id")
        var out: [Int64: String] = [:]
        for r in rows { if let id = r[0].int, let s = r[1].string { out[id] = s } }
        return out
    }

    /// The engine's own read (what sample_records shows), by id.
    static func sampled(_ engine: Engine, _ table: String, _ column: String) async throws -> [Int64: String] {
        let (columns, rows) = try await engine.sampleRows(table: table, limit: 100)
        let id = try #require(columns.firstIndex { $0.name == "id" })
        let c = try #require(columns.firstIndex { $0.name == column })
        var out: [Int64: String] = [:]
        for r in rows { if let i = r[id].flatMap({ Int64($0) }), let v = r[c] { out[i] = v } }
        return out
    }

    @Test(arguments: Backend.available) func numericValuesReadBackExactly(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let lines = Self.numbers.enumerated().map { #"{"id": \#($0.offset + 1), "n": \#($0.element)}"# }
        let s = try await engine.ingest(path: writeLines(lines), table: "nums")
        #expect(s.loaded == Int64(Self.numbers.count) && s.parked == 0, "\(s)")
        #expect(try await engine.schema(table: "nums")?.0.columns.first { $0.name == "n" }?.type == .numeric)

        let raw = try await Self.rawText(engine, "nums", "n")
        let sample = try await Self.sampled(engine, "nums", "n")
        for (i, sent) in Self.numbers.enumerated() {
            let id = Int64(i + 1)
            #expect(Self.sameNumber(raw[id], sent), "CAST(n AS TEXT) of \(sent) is \(raw[id] ?? "nil")")
            #expect(Self.sameNumber(sample[id], sent), "the engine reads \(sent) as \(sample[id] ?? "nil")")
        }
        #expect(raw[1] == "123456789012345678901234567890")
        #expect(raw[2] == "123456789012345678901234567891", "two numbers that differ in the last digit stay distinct")
        let distinct = try await engine.rows("SELECT COUNT(DISTINCT CAST(n AS TEXT)) FROM \(engine.tableRef("nums")) WHERE id <= 2")
        #expect(distinct.first?.first?.int == 2)
    }

    /// SQLite only: plain SQL over the stored values still reads and computes, and a value
    /// SQLite holds natively keeps its native storage (only what it would round is text).
    @Test func sqliteStorageClassesAndArithmetic() async throws {
        let engine = try await Backend.sqlite.engine()
        let lines = Self.numbers.enumerated().map { #"{"id": \#($0.offset + 1), "n": \#($0.element)}"# }
        _ = try await engine.ingest(path: writeLines(lines), table: "nums")
        let rows = try await engine.rows("SELECT id, typeof(n), n + 0 FROM nums ORDER BY id")
        let kinds = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r[0].int.map { ($0, r[1].string ?? "") } })
        #expect(kinds[4] == "real", "0.1 stays a REAL")
        #expect(kinds[9] == "integer", "1.5e3 is the INTEGER 1500")
        #expect(kinds[19] == "integer", "42 stays an INTEGER")
        #expect(kinds[13] == "integer", "Int64.max stays an INTEGER")
        #expect(kinds[1] == "blob" && kinds[3] == "blob" && kinds[6] == "blob", "\(kinds)")
        // Arithmetic reads the exact text (as a double, SQLite's only wider number).
        #expect(rows.first { $0[0].int == 3 }?[2].double == 3.141592653589793)
        let hit = try await engine.rows("SELECT id FROM nums WHERE CAST(n AS TEXT) = '123456789012345678901234567891'")
        #expect(hit.map { $0[0].int } == [2])
    }

    /// A json column holding a bare number keeps its digits too (JSON is NUMERIC affinity on SQLite).
    @Test(arguments: Backend.available) func jsonNumbersKeepTheirDigits(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let lines = [
            #"{"id": 1, "j": [1, 2]}"#, #"{"id": 2, "j": 3.14159265358979323846}"#,
            #"{"id": 3, "j": 123456789012345678901234567890}"#,
        ]
        let s = try await engine.ingest(path: writeLines(lines), table: "docs")
        #expect(s.loaded == 3, "\(s)")
        #expect(try await engine.schema(table: "docs")?.0.columns.first { $0.name == "j" }?.type == .json)
        let raw = try await Self.rawText(engine, "docs", "j")
        #expect(Self.sameNumber(raw[2], "3.14159265358979323846"), "\(raw[2] ?? "nil")")
        #expect(Self.sameNumber(raw[3], "123456789012345678901234567890"), "\(raw[3] ?? "nil")")
    }

    /// 1e400, -1e400 and 1e-400 do not fit double precision: they park with a reason (no
    /// inf, no 0); widening the column to numeric then loads them exactly.
    @Test(arguments: Backend.available) func doubleOverflowAndUnderflowParkThenWidenExactly(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([#"{"id": 1, "d": 1.5}"#]), table: "m")
        #expect(try await engine.schema(table: "m")?.0.columns.first { $0.name == "d" }?.type == .double)
        let sent = ["1e400", "-1e400", "1e-400"]
        let lines = sent.enumerated().map { #"{"id": \#($0.offset + 2), "d": \#($0.element)}"# } + [#"{"id": 9, "d": 2.5}"#]
        let s = try await engine.ingest(path: writeLines(lines), table: "m")
        #expect(s.loaded == 1 && s.parked == 3, "\(s)")
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        let (_, parked, _) = try await engine.incidentDetail(incident.id, samples: 10)
        let reasons = parked.map(\.reason).joined(separator: " | ")
        #expect(reasons.contains("1e400 is out of range for double precision"), "\(reasons)")
        #expect(reasons.contains("-1e400 is out of range for double precision"), "\(reasons)")
        #expect(reasons.contains("1e-400 underflows double precision"), "\(reasons)")
        let none = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("m")) WHERE id BETWEEN 2 AND 4")
        #expect(none.first?.first?.int == 0, "nothing was loaded as inf or 0")

        _ = try await engine.approve(incidentID: incident.id, by: "alice")
        #expect(try await engine.schema(table: "m")?.0.columns.first { $0.name == "d" }?.type == .numeric)
        let raw = try await Self.rawText(engine, "m", "d")
        let sample = try await Self.sampled(engine, "m", "d")
        for (i, v) in sent.enumerated() {
            #expect(Self.sameNumber(raw[Int64(i + 2)], v), "\(v) reads back as \(raw[Int64(i + 2)] ?? "nil")")
            #expect(Self.sameNumber(sample[Int64(i + 2)], v), "\(v) is sampled as \(sample[Int64(i + 2)] ?? "nil")")
        }
        #expect(Self.sameNumber(raw[1], "1.5") && Self.sameNumber(raw[9], "2.5"))
    }

    /// A bigint column given a 30-digit integer drifts (to numeric) instead of rounding it.
    @Test(arguments: Backend.available) func aBigintColumnGivenAHugeIntegerDrifts(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([#"{"id": 1, "b": 5}"#]), table: "k")
        let lines = [#"{"id": 2, "b": 123456789012345678901234567890}"#, #"{"id": 3, "b": 123456789012345678901234567891}"#]
        let s = try await engine.ingest(path: writeLines(lines), table: "k")
        #expect(s.loaded == 0 && s.parked == 2, "\(s)")
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        let plan = try #require(try await engine.currentPlan(incidentID: incident.id))
        #expect(plan.plan.operations.map(\.kind) == [.widenColumn])
        #expect(plan.plan.operations.first?.type == .numeric)
        _ = try await engine.approve(incidentID: incident.id, by: "alice")
        let raw = try await Self.rawText(engine, "k", "b")
        #expect(raw[1] == "5")
        #expect(raw[2] == "123456789012345678901234567890", "\(raw[2] ?? "nil")")
        #expect(raw[3] == "123456789012345678901234567891", "\(raw[3] ?? "nil")")
    }

    /// Widening to text keeps every digit: a long decimal held as exact text and a double
    /// that needs 17 digits both read back as the same number, and as text, not bytes.
    @Test(arguments: Backend.available) func wideningToTextKeepsEveryDigit(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let first = [
            #"{"id": 1, "n": 123456789012345678901234567890, "d": 0.30000000000000004}"#,
            #"{"id": 2, "n": 3.14159265358979323846, "d": 0.1}"#,
        ]
        _ = try await engine.ingest(path: writeLines(first), table: "w")
        let s = try await engine.ingest(path: writeLines([#"{"id": 3, "n": "n/a", "d": "n/a"}"#]), table: "w")
        #expect(s.parked == 1)
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        // The rules planner would add variant columns; a person's plan widens both to text.
        let plan = Plan(
            incidentID: incident.id, table: "w",
            operations: [.widen("n", from: .numeric, to: .text), .widen("d", from: .double, to: .text)],
            rationale: "keep every value as text", confidence: 1, plannedBy: "alice")
        if case .pending = try await engine.advance(incidentID: incident.id, .plan(plan), by: "alice") {
            _ = try await engine.approve(incidentID: incident.id, by: "alice")
        }
        let columns = try #require(try await engine.schema(table: "w")).0.columns
        #expect(columns.first { $0.name == "n" }?.type == .text)
        #expect(columns.first { $0.name == "d" }?.type == .text)
        let n = try await Self.rawText(engine, "w", "n")
        let d = try await Self.rawText(engine, "w", "d")
        #expect(n[1] == "123456789012345678901234567890" && n[3] == "n/a", "\(n)")
        #expect(Self.sameNumber(n[2], "3.14159265358979323846"), "\(n)")
        #expect(Self.sameNumber(d[1], "0.30000000000000004"), "\(d)")
        #expect(Self.sameNumber(d[2], "0.1"), "\(d)")
        // Stored as text, so text comparisons find it.
        let hit = try await engine.rows("SELECT id FROM \(engine.tableRef("w")) WHERE n = '123456789012345678901234567890'")
        #expect(hit.map { $0[0].int } == [1])
    }
}
