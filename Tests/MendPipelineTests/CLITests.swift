import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Runs the built `mend` binary as a user would: exit codes and messages.
@Suite struct CLITests {
    struct Result {
        var code: Int32
        var out: String
        var err: String
        var all: String { out + "\n" + err }
    }

    static var binary: URL { Paths.repo.appendingPathComponent(".build/debug/mend") }

    /// Runs `mend args` in `dir` (so a stray default database lands there, not in the repo),
    /// without MEND_DB from the environment, with a time limit.
    static func mend(_ args: [String], in dir: URL = Paths.tempDir(), timeout: TimeInterval = 60) async throws -> Result {
        try await offPool { try mendBlocking(args, in: dir, timeout: timeout) }
    }

    static func mendBlocking(_ args: [String], in dir: URL, timeout: TimeInterval) throws -> Result {
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build first: no \(binary.path)")
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "MEND_DB")
        p.environment = env
        let outURL = dir.appendingPathComponent("stdout-\(UUID().uuidString.prefix(6))")
        let errURL = dir.appendingPathComponent("stderr-\(UUID().uuidString.prefix(6))")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        p.standardOutput = outHandle
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            Issue.record("mend \(args.joined(separator: " ")) did not finish within \(timeout)s")
        }
        p.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return Result(code: p.terminationStatus, out: out, err: err)
    }

    static func db(_ dir: URL) -> String { "sqlite:" + dir.appendingPathComponent("t.db").path }

    @Test func missingFileFails() async throws {
        let dir = Paths.tempDir()
        let r = try await Self.mend(
            ["ingest", dir.appendingPathComponent("missing.jsonl").path, "--table", "events", "--db", Self.db(dir)], in: dir)
        #expect(r.code != 0)
        #expect(r.all.contains("no such file"), "\(r.all)")
        #expect(r.all.contains("missing.jsonl"), "names the file: \(r.all)")
    }

    @Test func invalidTableNameFails() async throws {
        let dir = Paths.tempDir()
        let file = writeLines([#"{"id":1}"#], in: dir)
        let r = try await Self.mend(["ingest", file, "--table", "Bad-Name", "--db", Self.db(dir)], in: dir)
        #expect(r.code != 0)
        #expect(r.all.contains("invalid table name"), "\(r.all)")
        #expect(r.all.contains("bad_name"), "suggests a valid spelling: \(r.all)")
        // Nothing was created: the table does not show up in stats.
        let stats = try await Self.mend(["stats", "--json", "--db", Self.db(dir)], in: dir)
        #expect(!stats.out.contains("Bad-Name"))
    }

    @Test func unknownDatabaseURLFails() async throws {
        let dir = Paths.tempDir()
        let file = writeLines([#"{"id":1}"#], in: dir)
        let r = try await Self.mend(["ingest", file, "--table", "events", "--db", "foo://x"], in: dir)
        #expect(r.code != 0)
        #expect(r.all.contains("foo://x"), "\(r.all)")
        #expect(r.all.contains("sqlite:"), "says what would work: \(r.all)")
    }

    /// The finding: "0 loaded, 3 parked … 2 repairs applied on their own" when the repairs
    /// had replayed and loaded those records. The summary now says what happened next.
    @Test func theIngestSummaryShowsTheStateAfterRepair() async throws {
        let dir = Paths.tempDir()
        let base = writeLines([#"{"id":1,"kind":"a"}"#, #"{"id":2,"kind":"b"}"#], in: dir, name: "base.jsonl")
        _ = try await Self.mend(["ingest", base, "--table", "events", "--db", Self.db(dir)], in: dir)
        let drift = writeLines(
            [#"{"id":3,"kind":"c","channel":"web"}"#, #"{"id":4,"kind":"d","channel":"app"}"#, #"{"id":5,"kind":"e","channel":"web"}"#],
            in: dir, name: "drift.jsonl")
        let r = try await Self.mend(["ingest", drift, "--table", "events", "--db", Self.db(dir)], in: dir)
        #expect(r.code == 0, "\(r.all)")
        #expect(r.out.contains("events: 3 lines → 3 loaded (3 after repair), 0 parked, 0 quarantined"), "\(r.out)")
        #expect(r.out.contains("incidents opened: 1, repairs applied: 1"), "\(r.out)")
        // A type conflict waits: the summary says which incident, and for whom.
        let conflict = writeLines([#"{"id":"six","kind":"f"}"#, #"{"id":7,"kind":"g"}"#, "{oops"], in: dir, name: "conflict.jsonl")
        let waits = try await Self.mend(["ingest", conflict, "--table", "events", "--db", Self.db(dir)], in: dir)
        #expect(waits.out.contains("events: 3 lines → 1 loaded, 1 parked, 1 quarantined"), "\(waits.out)")
        #expect(waits.out.contains("incident 2 waits for a person's approval: `mend show 2`"), "\(waits.out)")
        let json = try await Self.mend(["ingest", drift, "--table", "events", "--from-start", "--json", "--db", Self.db(dir)], in: dir)
        let s = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect(s["loaded"] as? Int == 3 && s["parked"] as? Int == 0 && s["still_parked_in_table"] as? Int == 1, "\(json.out)")
        let arrival = s["on_arrival"] as? [String: Any]
        #expect(arrival?["loaded"] as? Int == 3, "the mapped records load on arrival now: \(json.out)")
    }

    /// A table at its column budget loads new fields into _mend_overflow; `mend promote` gives
    /// one a column of its own once approved, and says what it needs when it cannot.
    @Test func aFieldInTheOverflowColumnIsPromotedFromTheCommandLine() async throws {
        let dir = Paths.tempDir()
        let policy = dir.appendingPathComponent("policy.yaml")
        try "max_table_columns: 3\n".write(to: policy, atomically: true, encoding: .utf8)
        let lines = writeLines((1...5).map { #"{"id": \#($0), "a": "x", "b": true, "extra": {"n": \#($0)}}"# }, in: dir)
        let db = Self.db(dir)
        let r = try await Self.mend(["ingest", lines, "--table", "events", "--db", db, "--policy", policy.path], in: dir)
        #expect(r.code == 0 && r.out.contains("5 loaded"), "\(r.all)")
        let wrong = try await Self.mend(["promote", "1", "--field", "nope", "--db", db, "--policy", policy.path], in: dir)
        #expect(wrong.code != 0 && wrong.err.contains("records no field 'nope'") && wrong.err.contains("extra.n"), "\(wrong.all)")
        let full = try await Self.mend(["promote", "1", "--field", "extra.n", "--db", db, "--policy", policy.path], in: dir)
        #expect(full.code != 0 && full.all.contains("max_table_columns"), "at the budget it says what to raise: \(full.all)")

        try "max_table_columns: 4\n".write(to: policy, atomically: true, encoding: .utf8)
        let asked = try await Self.mend(["promote", "1", "--field", "extra.n", "--db", db, "--policy", policy.path], in: dir)
        #expect(asked.code == 0 && asked.out.contains("waits for approval: run `mend approve 1`"), "\(asked.all)")
        let ok = try await Self.mend(["approve", "1", "--by", "alice", "--db", db, "--policy", policy.path], in: dir)
        #expect(ok.code == 0 && ok.out.contains("applied"), "\(ok.all)")
        let schema = try await Self.mend(["schema", "events", "--db", db], in: dir)
        #expect(schema.out.contains("extra__n"), "\(schema.out)")
    }

    /// One JSON vocabulary: every `--json` output's keys are snake_case (keys that are data,
    /// such as table names, are lower case here anyway).
    @Test func everyJSONOutputIsSnakeCase() async throws {
        let dir = Paths.tempDir()
        let base = writeLines([#"{"id":1,"amount":5}"#], in: dir, name: "base.jsonl")
        let drift = writeLines([#"{"id":2,"amount":6,"country":"NL"}"#, #"{"id":3,"amount":"x"}"#], in: dir, name: "drift.jsonl")
        var outputs: [(String, String)] = []
        for f in [base, drift] {
            let r = try await Self.mend(["ingest", f, "--table", "events", "--json", "--db", Self.db(dir)], in: dir)
            outputs.append(("ingest", r.out))
        }
        for args in [
            ["stats"], ["incidents"], ["show", "2"], ["plan", "2"], ["schema", "events"], ["audit"], ["audit", "verify"],
        ] {
            let r = try await Self.mend(args + ["--json", "--db", Self.db(dir)], in: dir)
            #expect(r.code == 0 || r.code == 2, "\(args): \(r.all)")
            outputs.append((args.joined(separator: " "), r.out))
        }
        func keys(_ v: Any, _ out: inout Set<String>) {
            if let o = v as? [String: Any] {
                for (k, x) in o {
                    out.insert(k)
                    keys(x, &out)
                }
            } else if let a = v as? [Any] {
                for x in a { keys(x, &out) }
            }
        }
        for (what, text) in outputs {
            let value = try #require(try? JSONSerialization.jsonObject(with: Data(text.utf8)), "\(what) is not JSON: \(text)")
            var found = Set<String>()
            keys(value, &found)
            let camel = found.filter { $0.range(of: "^[a-z0-9_]+$", options: .regularExpression) == nil }
            #expect(camel.isEmpty, "\(what): \(camel.sorted())")
        }
    }

    /// Before: names were cut at 28 characters, so two columns could print as one.
    @Test func schemaTextNeverCutsAColumnName() async throws {
        let dir = Paths.tempDir()
        let long = "customer_billing_address_postal_code"
        let file = writeLines([#"{"id":1,"\#(long)_primary":"a","\#(long)_secondary":"b"}"#], in: dir)
        _ = try await Self.mend(["ingest", file, "--table", "events", "--db", Self.db(dir)], in: dir)
        let r = try await Self.mend(["schema", "events", "--db", Self.db(dir)], in: dir)
        #expect(r.out.contains(long + "_primary ") && r.out.contains(long + "_secondary "), "\(r.out)")
    }

    @Test func showUnknownIncident() async throws {
        let dir = Paths.tempDir()
        let r = try await Self.mend(["show", "999", "--db", Self.db(dir)], in: dir)
        #expect(r.code != 0)
        #expect(r.all.contains("no incident 999"), "\(r.all)")
    }

    @Test func showRejectsANonNumericID() async throws {
        let dir = Paths.tempDir()
        let r = try await Self.mend(["show", "abc", "--db", Self.db(dir)], in: dir)
        #expect(r.code != 0)
        #expect(r.all.contains("not an incident id"), "\(r.all)")
    }

    @Test func statsJSONAfterIngest() async throws {
        let dir = Paths.tempDir()
        let base = writeLines([#"{"id":1,"amount":5}"#, #"{"id":2,"amount":6}"#], in: dir, name: "base.jsonl")
        let drift = writeLines([#"{"id":3,"amount":"n/a"}"#, "not json", #"{"id":4,"amount":"7"}"#], in: dir, name: "drift.jsonl")
        for f in [base, drift] {
            let r = try await Self.mend(["ingest", f, "--table", "events", "--db", Self.db(dir)], in: dir)
            #expect(r.code == 0, "\(r.all)")
        }
        let r = try await Self.mend(["stats", "--json", "--db", Self.db(dir)], in: dir)
        #expect(r.code == 0, "\(r.all)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "not JSON: \(r.out)")
        let tables = try #require(json["tables"] as? [String: Any], "\(r.out)")
        let events = try #require(tables["events"] as? [String: Any], "\(r.out)")
        for key in ["input", "loaded", "parked", "quarantined", "coerced"] {
            #expect(events[key] is NSNumber, "tables.events.\(key) missing: \(r.out)")
        }
        let n = { (k: String) in (events[k] as? NSNumber)?.intValue ?? -1 }
        #expect(n("input") == 5)
        #expect(n("input") == n("loaded") + n("parked") + n("quarantined"))
        #expect(n("loaded") == 3)
        #expect(n("parked") == 1)
        #expect(n("quarantined") == 1)
        #expect(n("coerced") == 1, "\"7\" into bigint")
    }

    @Test func ingestJSONSummary() async throws {
        let dir = Paths.tempDir()
        let file = writeLines([#"{"id":1}"#, #"{"id":2}"#], in: dir)
        let r = try await Self.mend(["ingest", file, "--table", "events", "--db", Self.db(dir), "--json"], in: dir)
        #expect(r.code == 0, "\(r.all)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "not JSON: \(r.out)")
        #expect((json["loaded"] as? NSNumber)?.intValue == 2)
        #expect(json["table"] as? String == "events")
    }

    @Test func auditVerifyExitCodes() async throws {
        let dir = Paths.tempDir()
        let base = writeLines([#"{"id":1,"amount":5}"#], in: dir, name: "base.jsonl")
        let drift = writeLines([#"{"id":2,"amount":6,"country":"NL"}"#, #"{"id":3,"amount":"x"}"#], in: dir, name: "drift.jsonl")
        for f in [base, drift] {
            let r = try await Self.mend(["ingest", f, "--table", "events", "--db", Self.db(dir)], in: dir)
            #expect(r.code == 0, "\(r.all)")
        }
        let ok = try await Self.mend(["audit", "verify", "--db", Self.db(dir)], in: dir)
        #expect(ok.code == 0, "\(ok.all)")
        #expect(ok.out.contains("OK"), "\(ok.all)")

        let w = try await WarehouseFactory.open(url: Self.db(dir))
        let table = w.stateTable("audit")
        try await w.transaction { s in try await s.execute("UPDATE \(table) SET detail = 'forged' WHERE seq = 2") }

        let broken = try await Self.mend(["audit", "verify", "--db", Self.db(dir)], in: dir)
        #expect(broken.code == 2, "\(broken.all)")
        #expect(broken.all.contains("BROKEN"), "\(broken.all)")
        #expect(broken.all.contains("2"), "\(broken.all)")

        let asJSON = try await Self.mend(["audit", "verify", "--json", "--db", Self.db(dir)], in: dir)
        #expect(asJSON.code == 2)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(asJSON.out.utf8)) as? [String: Any], "not JSON: \(asJSON.out)")
        #expect(json["ok"] as? Bool == false)
        #expect((json["first_broken"] as? NSNumber)?.intValue == 2)
    }

    @Test func auditVerifyOnAnEmptyDatabase() async throws {
        let dir = Paths.tempDir()
        let r = try await Self.mend(["audit", "verify", "--db", Self.db(dir)], in: dir)
        #expect(r.code == 0, "\(r.all)")
    }

    /// Reading needs only --db: --policy and --planner belong to commands that plan or apply.
    @Test func readOnlyCommandsDoNotOfferPolicyOrPlanner() async throws {
        let dir = Paths.tempDir()
        for args in [
            ["stats"], ["incidents"], ["show", "1"], ["schema", "t"], ["audit", "show"], ["audit", "verify"],
            ["reject", "1", "--reason", "x"],
        ] {
            let r = try await Self.mend(args + ["--policy", "p.yaml", "--db", Self.db(dir)], in: dir)
            #expect(r.code == 64 && r.all.contains("Unknown option '--policy'"), "\(args): \(r.all)")
            let help = try await Self.mend(args + ["--help"], in: dir)
            #expect(!help.out.contains("--planner") && help.out.contains("--db"), "\(args): \(help.out)")
        }
        let plan = try await Self.mend(["plan", "--help"], in: dir)
        #expect(plan.out.contains("--policy") && plan.out.contains("--planner"), "\(plan.out)")
    }

    @Test func incidentIDsAcceptTheHashForm() async throws {
        let dir = Paths.tempDir()
        let r = try await Self.mend(["show", "#999", "--db", Self.db(dir)], in: dir)
        #expect(r.all.contains("no incident 999"), "parsed as 999: \(r.all)")
        let zero = try await Self.mend(["approve", "0", "--db", Self.db(dir)], in: dir)
        #expect(zero.code == 64 && zero.all.contains("'0' is not an incident id; run `mend incidents`"), "\(zero.all)")
    }

    @Test func unknownSubcommandFails() async throws {
        let r = try await Self.mend(["frobnicate"])
        #expect(r.code != 0)
    }
}
