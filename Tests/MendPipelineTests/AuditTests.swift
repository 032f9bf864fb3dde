import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The audit chain on a real SQLite file: verify passes on an untouched log and names
/// the entry where any direct edit, deletion or reordering happened.
@Suite struct AuditTests {
    static let base = [
        #"{"id":1,"name":"a","amount":5}"#,
        #"{"id":2,"name":"b","amount":6}"#,
    ]
    static let drift = [
        #"{"id":3,"name":"c","amount":7,"country":"NL"}"#,  // new field: add_column, applied automatically
        #"{"id":4,"name":"d","amount":"n/a"}"#,  // type conflict: variant column, waits for approval
    ]

    /// A fresh SQLite file whose audit log has entries from a create, a repair and a pending plan.
    static func driftedEngine() async throws -> Engine {
        let engine = try await Backend.sqlite.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(base, in: dir, name: "base.jsonl"), table: "events")
        _ = try await engine.ingest(path: writeLines(drift, in: dir, name: "drift.jsonl"), table: "events")
        return engine
    }

    static func tamper(_ engine: Engine, _ sql: (String) -> String) async throws {
        let table = engine.warehouse.stateTable("audit")
        let statement = sql(table)
        try await engine.warehouse.transaction { s in try await s.execute(statement) }
    }

    static func verify(_ engine: Engine) async throws -> AuditVerifier.Report {
        AuditVerifier.verify(try await engine.auditEntries())
    }

    @Test func untouchedLogVerifies() async throws {
        let engine = try await Self.driftedEngine()
        let entries = try await engine.auditEntries()
        #expect(entries.count >= 5, "drift should have written several entries: \(entries.map(\.kind))")
        #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
        #expect(entries.first?.prevHash == String(repeating: "0", count: 64))
        let kinds = Set(entries.map(\.kind))
        #expect(kinds.contains("table.created"))
        #expect(kinds.contains("incident.opened"))
        #expect(kinds.contains("plan.applied"))
        let report = AuditVerifier.verify(entries)
        #expect(report.ok)
        #expect(report.firstBroken == nil)
        #expect(report.entries == entries.count)
        #expect(report.head == entries.last?.hash)
        #expect(report.head?.count == 64)
    }

    @Test(arguments: ["detail", "actor", "kind", "subject", "at"])
    func editedEntryIsNamed(_ column: String) async throws {
        let engine = try await Self.driftedEngine()
        try await Self.tamper(engine) { "UPDATE \($0) SET \(column) = \(column) || 'x' WHERE seq = 3" }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 3)
        #expect(report.reason?.contains("3") == true)
        #expect(report.reason?.contains("edited") == true, "\(report.reason ?? "")")
    }

    @Test func editedDetailIsNamed() async throws {
        let engine = try await Self.driftedEngine()
        try await Self.tamper(engine) { #"UPDATE \#($0) SET detail = '{"tampered":"yes"}' WHERE seq = 2"# }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 2)
    }

    @Test func rewritingAnEntryWithAFreshHashBreaksTheNextLink() async throws {
        let engine = try await Self.driftedEngine()
        let entries = try await engine.auditEntries()
        let e = try #require(entries.first { $0.seq == 2 })
        let newDetail = #"{"forged":"1"}"#
        let forged = AuditEntry.digest(
            seq: e.seq, at: e.at, kind: e.kind, subject: e.subject, actor: e.actor, detail: newDetail, prevHash: e.prevHash)
        try await Self.tamper(engine) { "UPDATE \($0) SET detail = '\(newDetail)', hash = '\(forged)' WHERE seq = 2" }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 3, "entry 2 is self-consistent now; entry 3 no longer points at it")
    }

    @Test func deletedMiddleEntryIsNamed() async throws {
        let engine = try await Self.driftedEngine()
        try await Self.tamper(engine) { "DELETE FROM \($0) WHERE seq = 3" }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 3)
        #expect(report.reason?.contains("3") == true)
        #expect(report.reason?.contains("missing") == true, "\(report.reason ?? "")")
    }

    @Test func deletedFirstEntryIsNamed() async throws {
        let engine = try await Self.driftedEngine()
        try await Self.tamper(engine) { "DELETE FROM \($0) WHERE seq = 1" }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 1)
    }

    @Test func deletedAndRenumberedEntryIsStillCaught() async throws {
        // Close the gap by renumbering: the chain of hashes still breaks at the gap.
        let engine = try await Self.driftedEngine()
        let count = try await engine.auditEntries().count
        try await Self.tamper(engine) { "DELETE FROM \($0) WHERE seq = 3" }
        for seq in 4...count {
            try await Self.tamper(engine) { "UPDATE \($0) SET seq = \(seq - 1) WHERE seq = \(seq)" }
        }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 3)
    }

    @Test func swappedEntriesAreBrokenAtTheFirstSwappedSeq() async throws {
        let engine = try await Self.driftedEngine()
        try await Self.tamper(engine) { "UPDATE \($0) SET seq = -1 WHERE seq = 3" }
        try await Self.tamper(engine) { "UPDATE \($0) SET seq = 3 WHERE seq = 4" }
        try await Self.tamper(engine) { "UPDATE \($0) SET seq = 4 WHERE seq = -1" }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 3, "\(report.reason ?? "")")
    }

    @Test func swappedContentsAreBrokenAtTheFirstSwappedSeq() async throws {
        // Swap everything but seq between entries 2 and 3.
        let engine = try await Self.driftedEngine()
        let cols = ["at", "kind", "subject", "actor", "detail", "prev_hash", "hash"]
        let table = engine.warehouse.stateTable("audit")
        try await engine.warehouse.transaction { s in
            let rows = try await s.query("SELECT \(cols.joined(separator: ", ")) FROM \(table) WHERE seq IN (2, 3) ORDER BY seq", [])
            #expect(rows.count == 2)
            let set = cols.map { "\($0) = ?" }.joined(separator: ", ")
            try await s.execute("UPDATE \(table) SET \(set) WHERE seq = 2", rows[1])
            try await s.execute("UPDATE \(table) SET \(set) WHERE seq = 3", rows[0])
        }
        let report = try await Self.verify(engine)
        #expect(!report.ok)
        #expect(report.firstBroken == 2)
    }

    @Test func truncatedTailChangesTheHead() async throws {
        // Dropping the newest entries leaves a valid chain; the head hash is what exposes it.
        let engine = try await Self.driftedEngine()
        let before = try await Self.verify(engine)
        let count = try await engine.auditEntries().count
        try await Self.tamper(engine) { "DELETE FROM \($0) WHERE seq = \(count)" }
        let after = try await Self.verify(engine)
        #expect(after.ok)
        #expect(after.entries == count - 1)
        #expect(after.head != before.head)
    }

    @Test func newEntriesAfterVerificationExtendTheChain() async throws {
        let engine = try await Self.driftedEngine()
        let before = try await engine.auditEntries()
        _ = try await engine.ingest(path: writeLines([#"{"id":9,"name":"z","amount":1,"city":"Oslo"}"#]), table: "events")
        let after = try await engine.auditEntries()
        #expect(after.count > before.count)
        #expect(Array(after.prefix(before.count)) == before, "old entries never change")
        #expect(AuditVerifier.verify(after).ok)
    }

    // MARK: the verifier on hand-made chains

    static func chain(_ n: Int) -> [AuditEntry] {
        var out: [AuditEntry] = []
        var prev = String(repeating: "0", count: 64)
        for i in 1...n {
            let seq = Int64(i)
            let hash = AuditEntry.digest(
                seq: seq, at: "2026-01-01T00:00:0\(i)Z", kind: "k", subject: "s\(i)", actor: "a", detail: "{}", prevHash: prev)
            let json = """
                {"seq":\(seq),"at":"2026-01-01T00:00:0\(i)Z","kind":"k","subject":"s\(i)","actor":"a","detail":"{}","prevHash":"\(prev)","hash":"\(hash)"}
                """
            if let e = try? JSONDecoder().decode(AuditEntry.self, from: Data(json.utf8)) { out.append(e) }
            prev = hash
        }
        return out
    }

    @Test func handMadeChain() throws {
        let c = Self.chain(5)
        try #require(c.count == 5)
        #expect(AuditVerifier.verify(c).ok)
        #expect(AuditVerifier.verify([]).ok)
        #expect(AuditVerifier.verify([]).head == nil)

        var edited = c
        edited[1].actor = "mallory"
        #expect(AuditVerifier.verify(edited).firstBroken == 2)

        var relinked = c
        relinked[3].prevHash = relinked[1].hash
        #expect(AuditVerifier.verify(relinked).firstBroken == 4)

        let startsLate = Array(c.dropFirst())
        #expect(AuditVerifier.verify(startsLate).firstBroken == 1)

        var duplicated = c
        duplicated.insert(c[2], at: 3)
        #expect(AuditVerifier.verify(duplicated).ok == false)
        #expect(AuditVerifier.verify(duplicated).firstBroken == 3)
    }

    @Test func digestSeparatesFields() {
        let a = AuditEntry.digest(seq: 1, at: "t", kind: "ab", subject: "c", actor: "x", detail: "{}", prevHash: "0")
        let b = AuditEntry.digest(seq: 1, at: "t", kind: "a", subject: "bc", actor: "x", detail: "{}", prevHash: "0")
        #expect(a != b)
        #expect(a.count == 64)
        #expect(a == AuditEntry.digest(seq: 1, at: "t", kind: "ab", subject: "c", actor: "x", detail: "{}", prevHash: "0"))
        #expect(a != AuditEntry.digest(seq: 2, at: "t", kind: "ab", subject: "c", actor: "x", detail: "{}", prevHash: "0"))
    }
}

/// Invariant 1: every input record ends up in exactly one place.
@Suite struct ConservationTests {
    @Test func mixedFileIsFullyAccounted() async throws {
        let engine = try await Backend.sqlite.engine()
        let dir = Paths.tempDir()
        let base = [#"{"id":1,"name":"a","amount":5}"#, #"{"id":2,"name":"b","amount":6}"#]
        let mixed = [
            #"{"id":3,"name":"c","amount":7}"#,  // fits
            "",  // blank: not a record
            #"{"id":4,"name":"d","amount":8,"country":"NL"}"#,  // new field: repaired, then loaded
            #"{"id":5,"name":"e","amount":"n/a"}"#,  // type conflict: parked (variant needs approval)
            "{not json",  // quarantined
            "[1,2,3]",  // JSON but not a record: quarantined
            "   ",  // blank
            #"{"id":6,"name":"f","amount":9}"#,  // fits
            #"{"id":7,"!!!":1}"#,  // nameless key: parked for quarantine approval
            "\t",  // blank
            #"{"id":8,"name":"g","amount":10,"country":"SE"}"#,  // fits after the repair
            #"{"id":"x1","name":"h","amount":1}"#,  // id conflict: parked
            "null",  // quarantined
        ]
        let s1 = try await engine.ingest(path: writeLines(base, in: dir, name: "base.jsonl"), table: "events")
        let s2 = try await engine.ingest(path: writeLines(mixed, in: dir, name: "mixed.jsonl"), table: "events")
        let nonBlank = (base + mixed).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count

        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == Int64(nonBlank))
        #expect(stats.input == stats.loaded + stats.parked + stats.quarantined)
        #expect(stats.loaded == 6, "ids 1, 2, 3, 4, 6, 8: \(stats)")
        #expect(stats.quarantined == 3)
        #expect(stats.parked == 3)
        // The run summaries agree with the totals.
        #expect(s1.loaded + s2.loaded <= stats.loaded)
        #expect(s1.quarantined + s2.quarantined == stats.quarantined)

        // Each place holds what the counters say.
        let rows = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events"))")
        #expect(rows.first?.first?.int == stats.loaded)
        let parked = try await engine.rows("SELECT COUNT(*) FROM \(engine.warehouse.stateTable("parked"))")
        #expect(parked.first?.first?.int == stats.parked)
        let quarantined = try await engine.rows("SELECT COUNT(*) FROM \(engine.warehouse.stateTable("quarantine"))")
        #expect(quarantined.first?.first?.int == stats.quarantined)
    }

    @Test func conservationHoldsAcrossManyBatches() async throws {
        let w = try await WarehouseFactory.open(url: Backend.sqlite.freshURL())
        let engine = Engine(warehouse: w, judge: ParserJudge(), batchSize: 3)
        var lines: [String] = []
        for i in 0..<40 {
            switch i % 8 {
            case 5: lines.append("oops \(i)")
            case 6: lines.append(#"{"id":\#(i),"v":"text \#(i)"}"#)
            case 7: lines.append(#"{"id":\#(i),"v":\#(i),"extra_\#(i % 3)":true}"#)
            default: lines.append(#"{"id":\#(i),"v":\#(i)}"#)
            }
        }
        _ = try await engine.ingest(path: writeLines(lines), table: "t")
        let stats = try #require(try await engine.stats().first { $0.table == "t" })
        #expect(stats.input == 40)
        #expect(stats.loaded + stats.parked + stats.quarantined == 40, "\(stats)")
        #expect(stats.quarantined == 5)
        #expect(AuditVerifier.verify(try await engine.auditEntries()).ok)
    }

    @Test func crlfLinesAreReadLikeLF() async throws {
        let engine = try await Backend.sqlite.engine()
        let url = Paths.tempDir().appendingPathComponent("crlf.jsonl")
        try (#"{"id":1,"name":"a"}"# + "\r\n\r\n" + #"{"id":2,"name":"b"}"# + "\r\n").write(to: url, atomically: true, encoding: .utf8)
        let s = try await engine.ingest(path: url.path, table: "events")
        #expect(s.loaded == 2)
        #expect(s.quarantined == 0)
    }

    @Test func resumeLoadsNothingNewTheSecondTime() async throws {
        let engine = try await Backend.sqlite.engine()
        let lines = [
            #"{"id":1,"name":"a"}"#, #"{"id":2,"name":"b"}"#, "not json", "", #"{"id":3,"name":"c","extra":1}"#,
            #"{"id":4,"name":"d"}"#,
        ]
        let path = writeLines(lines)
        let first = try await engine.ingest(path: path, table: "events")
        let stats1 = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(first.loaded > 0)
        #expect(stats1.input == 5)

        let second = try await engine.ingest(path: path, table: "events")
        #expect(second.loaded == 0)
        #expect(second.parked == 0)
        #expect(second.quarantined == 0)
        #expect(second.skippedByResume == Int64(lines.count), "resumed after every line of the first run")
        let stats2 = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats2 == stats1)
        let rows = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events"))")
        #expect(rows.first?.first?.int == stats1.loaded)
    }

    @Test func resumePicksUpAppendedLinesOnly() async throws {
        let engine = try await Backend.sqlite.engine()
        let dir = Paths.tempDir()
        let path = writeLines([#"{"id":1}"#, #"{"id":2}"#], in: dir)
        _ = try await engine.ingest(path: path, table: "events")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data((#"{"id":3}"# + "\n" + #"{"id":4}"# + "\n").utf8))
        try handle.close()
        let s = try await engine.ingest(path: path, table: "events")
        #expect(s.loaded == 2)
        #expect(s.skippedByResume == 2)
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 4)
        #expect(stats.loaded == 4)
    }

    @Test func resumeSurvivesANewEngineOnTheSameFile() async throws {
        let url = Backend.sqlite.freshURL()
        let path = writeLines([#"{"id":1}"#, #"{"id":2}"#, #"{"id":3}"#])
        let e1 = try await Backend.sqlite.engine(url: url)
        _ = try await e1.ingest(path: path, table: "events")
        let e2 = try await Backend.sqlite.engine(url: url)
        let s = try await e2.ingest(path: path, table: "events")
        #expect(s.loaded == 0)
        #expect(s.skippedByResume == 3)
        let stats = try #require(try await e2.stats().first { $0.table == "events" })
        #expect(stats.loaded == 3)
    }

    @Test func fromStartReadsEverythingAgain() async throws {
        let engine = try await Backend.sqlite.engine()
        let path = writeLines([#"{"id":1}"#, #"{"id":2}"#])
        _ = try await engine.ingest(path: path, table: "events")
        let again = try await engine.ingest(path: path, table: "events", resume: false)
        #expect(again.loaded == 2)
        #expect(again.skippedByResume == 0)
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 4)
        #expect(stats.input == stats.loaded + stats.parked + stats.quarantined)
    }
}

/// The finding: the /audit page verified the whole chain on every view (21–29 s after
/// 200k entries). Verification now starts at a checkpoint and reads what came after.
@Suite struct IncrementalAuditTests {
    static func engine(entries: Int) async throws -> Engine {
        let engine = try await Backend.sqlite.engine()
        try await engine.bootstrap()
        for i in 0..<entries {
            try await engine.audit(
                .plannerFallback(incident: Int64(i), planner: "test", reason: "entry \(i)"), actor: "test")
        }
        return engine
    }

    @Test func verifiesFromTheCheckpointInSlices() async throws {
        let engine = try await Self.engine(entries: 250)
        let first = try await engine.verifyAudit(slice: 40)
        #expect(first.ok && first.entries == 250, "\(first)")
        try await engine.audit(.plannerFallback(incident: 1, planner: "test", reason: "later"), actor: "test")
        let second = try await engine.verifyAudit(slice: 40)
        #expect(second.ok && second.entries == 251, "\(second)")
        // An edit after the checkpoint is caught by the next incremental view.
        try await engine.audit(.plannerFallback(incident: 2, planner: "test", reason: "later"), actor: "test")
        try await AuditTests.tamper(engine) { "UPDATE \($0) SET actor = 'mallory' WHERE seq = 252" }
        let edited = try await engine.verifyAudit()
        #expect(!edited.ok && edited.firstBroken == 252, "\(edited)")
    }

    @Test func aRewrittenCheckpointEntryIsCaught() async throws {
        let engine = try await Self.engine(entries: 20)
        #expect(try await engine.verifyAudit().ok)
        try await AuditTests.tamper(engine) { "UPDATE \($0) SET hash = '\(String(repeating: "f", count: 64))' WHERE seq = 20" }
        let report = try await engine.verifyAudit()
        #expect(!report.ok && report.firstBroken == 20 && report.reason?.contains("last verification stopped") == true)
    }

    /// Before the checkpoint only a full walk sees an edit: `mend audit --verify` does one.
    @Test func aFullWalkSeesEditsBeforeTheCheckpoint() async throws {
        let engine = try await Self.engine(entries: 30)
        #expect(try await engine.verifyAudit().ok)
        try await AuditTests.tamper(engine) { "UPDATE \($0) SET actor = 'mallory' WHERE seq = 5" }
        #expect(try await engine.verifyAudit().ok, "incremental: what was verified is not read again")
        let full = try await engine.verifyAudit(full: true)
        #expect(!full.ok && full.firstBroken == 5)
    }

    @Test func pagesGoBackInTime() async throws {
        let engine = try await Self.engine(entries: 450)
        let newest = try await engine.auditPage(before: nil, limit: 200)
        #expect(newest.count == 200 && newest.last?.seq == 450 && newest.first?.seq == 251)
        let older = try await engine.auditPage(before: 251, limit: 200)
        #expect(older.first?.seq == 51 && older.last?.seq == 250)
        let oldest = try await engine.auditPage(before: 51, limit: 200)
        #expect(oldest.count == 50 && oldest.first?.seq == 1)
    }
}
