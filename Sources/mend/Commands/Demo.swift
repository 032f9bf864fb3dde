import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A narrated run on a temporary SQLite file: clean load, drift, incident, plan, approval, replay, audit.")

    @Option(help: "Keep the demo database at this path instead of a temporary file.") var keep: String?

    static let base = """
        {"id": 1, "user_id": 101, "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z"}
        {"id": 2, "user_id": 102, "kind": "click", "amount": 3.0, "ts": "2026-03-01T10:00:02Z"}
        {"id": 3, "user_id": 103, "kind": "click", "amount": 4.5, "ts": "2026-03-01T10:00:03Z"}
        """
    static let drift = """
        {"id": 4, "userId": 104, "kind": "buy", "amount": "12.5", "ts": "2026-03-02T00:00:00Z", "is_vip": true, "address": {"city": "Lyon", "zip": "69001"}, "tags": ["a", "b"]}
        {"id": 5, "user_id": "00042", "kind": "buy", "amount": 2.0, "ts": "2026-03-02T00:00:01Z"}
        {"id": 6, "user_id": 106, "kind": "buy", "amount": 2.0, "ts": "2026-03-02T00:00:02Z", "x int; DROP TABLE events; --": 1}
        {"id": 7, "user_id":
        """

    func say(_ s: String) { print("\n\u{25B6} " + s) }

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mend-demo-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(at: dir) } }
        let dbPath = keep ?? dir.appendingPathComponent("demo.db").path
        if keep != nil { try? FileManager.default.removeItem(atPath: dbPath) }
        let basePath = dir.appendingPathComponent("base.jsonl").path
        let driftPath = dir.appendingPathComponent("drift.jsonl").path
        try (Self.base + "\n").write(toFile: basePath, atomically: true, encoding: .utf8)
        try (Self.drift + "\n").write(toFile: driftPath, atomically: true, encoding: .utf8)

        let engine = Engine(warehouse: try SQLiteWarehouse(path: dbPath), judge: ParserJudge(), actor: "demo")
        print("Mend demo on \(dbPath)")

        say("1. A clean load: the table does not exist, Mend creates it from the records.")
        var s = try await engine.ingest(path: basePath, table: "events")
        print("   \(s.loaded) loaded, \(s.parked) parked, \(s.quarantined) quarantined")
        try await printSchema(engine)

        say(
            "2. Upstream drifts: a camelCase key, a number sent as a string, new fields of several types, a nested object, an array, a number with leading zeros, a hostile key, a truncated line."
        )
        print(Self.drift.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
        s = try await engine.ingest(path: driftPath, table: "events")
        let drifted = IngestReport(s)
        print(
            "   \(drifted.loaded) loaded (\(drifted.loadedAfterRepair) of them after \(s.repaired) repairs the policy applied on its own), "
                + "\(drifted.parked) parked, \(drifted.quarantined) quarantined, \(s.coerced) values coerced"
        )
        try await printSchema(engine)

        say("3. The incidents: what was healed on its own, and what waits for a person.")
        for i in try await engine.incidents() {
            print("   #\(i.id) \(i.status.rawValue) \(i.kinds.map(\.rawValue).joined(separator: ",")) — \(i.drifts.first?.reason ?? "")")
        }
        guard let waiting = try await engine.incidents().first(where: { $0.status == .pendingApproval }) else {
            print("   (nothing waits for approval)")
            return
        }
        say("4. The plan for incident #\(waiting.id), checked by PostgreSQL's parser and the policy (`mend plan \(waiting.id)`):")
        if let p = try await engine.currentPlan(incidentID: waiting.id) {
            for op in p.plan.operations { print("   • \(op.summary)") }
            for v in p.verdicts { print("   SQL: \(v.sql)\n   guard: risk \(v.risk.rawValue) [\(v.rule)]") }
            print("   policy: \(p.decision?.autonomy.rawValue ?? "?") — \(p.decision?.reasons.joined(separator: "; ") ?? "")")
        }

        say("5. A person approves it (`mend approve \(waiting.id) --by alice`): applied, records replayed.")
        _ = try await engine.approve(incidentID: waiting.id, by: "alice", note: "keep zero-padded ids as text")
        let after = try await engine.incidentDetail(waiting.id, samples: 0).0
        print("   incident #\(waiting.id) is \(after.status.rawValue)")

        say("6. Nothing was lost (`mend stats`): the records read, counted as they arrived, against where they are now.")
        for t in try await engine.stats() {
            print(
                "   \(t.table): \(t.input) read, \(t.accounted) accounted = \(t.loaded) loaded + \(t.parked) parked + \(t.quarantined) quarantined (\(t.coerced) values coerced)"
                    + (t.conserved ? "" : " — a gap: \(t.gap ?? "")"))
        }

        say("7. The audit log (`mend audit`) and its hash chain (`mend audit verify`).")
        let entries = try await engine.auditEntries()
        for e in entries { print("   \(e.seq) \(e.kind) \(e.subject) by \(e.actor)") }
        let report = AuditVerifier.verify(entries)
        print("   verify: \(report.ok ? "OK" : "BROKEN"), \(report.entries) entries")

        say("8. Someone edits an audit entry behind Mend's back...")
        let w = engine.warehouse
        try await w.transaction { s in
            try await s.execute("UPDATE \(w.stateTable("audit")) SET actor = 'mallory' WHERE seq = 3", [])
        }
        let tampered = AuditVerifier.verify(try await engine.auditEntries())
        print("   verify: \(tampered.ok ? "OK" : "BROKEN at entry \(tampered.firstBroken ?? 0): \(tampered.reason ?? "")")")
        print("\nDone. Try it yourself: mend ingest FILE --table NAME, then mend stats, mend incidents, mend show ID.")
    }

    func printSchema(_ engine: Engine) async throws {
        guard let (schema, _, _) = try await engine.schema(table: "events") else { return }
        print("   events(" + schema.columns.map { "\($0.name) \($0.declaredType)" }.joined(separator: ", ") + ")")
    }
}
