import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// kill -9 at random moments during a drifting ingest, on both databases (issue 29): the
/// repair unit of work (plans, DDL, replay and audit in one transaction after a batch)
/// either committed whole or not at all, so running the file again ends with every record
/// exactly once (loaded or parked), the counts conserved and the audit chain intact.
@Suite(.serialized) struct DriftKillTests {
    /// Records that drift: a new text field (auto: a column, replayed), a new field whose
    /// type changes (a variant column, waits), and a lossy user id (waits for a person).
    static func driftingFile(_ n: Int, dir: URL) -> String {
        var s = ""
        s.reserveCapacity(n * 110)
        for i in 1...n {
            var extra = ""
            if i > 500, i % 40 == 0 { extra += #", "coupon": "C\#(i % 7)""# }
            if i > 500, i % 333 == 0 { extra += i % 2 == 0 ? #", "score": \#(i)"# : #", "score": "s\#(i)""# }
            let user = i > 500 && i % 101 == 0 ? #""u\#(i)""# : "\(i % 97)"
            s += #"{"id": \#(i), "user_id": \#(user), "kind": "click", "amount": 1.5\#(extra)}"# + "\n"
        }
        let url = dir.appendingPathComponent("drift.jsonl")
        try? s.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test(arguments: Backend.available) func killedAtRandomMomentsNothingLostOrDuplicated(_ backend: Backend) async throws {
        let n = 60_000
        let dir = Paths.tempDir()
        let file = Self.driftingFile(n, dir: dir)
        var url = backend.freshURL()
        // Small batches: many units of work, so a random kill falls inside one often.
        let args = ["ingest", file, "--table", "events", "--quiet", "--batch-size", "1000"]
        // A whole run first, into a database of its own: the kills are timed as fractions of it,
        // so they land mid-run however fast this machine and build are.
        let started = Date()
        let whole = try await runMend(args + ["--db", backend.freshURL()])
        #expect(whole.0 == 0, "\(whole.1)")
        let runTime = Date().timeIntervalSince(started)
        var killed = 0
        var scale = 1.0
        // Three kills. A run that finished before its kill (the whole run, timed beside other
        // tests, took longer than this one) loaded everything: the next tries start again into a
        // fresh database, and kill earlier.
        for _ in 0..<8 where killed < 3 {
            let child = try ChildProcess.mend(args + ["--db", url])
            if await child.sigkill(after: Double.random(in: 0.1...0.8) * runTime * scale) {
                killed += 1
            } else if killed == 0 {
                url = backend.freshURL()
                scale /= 2
            }
            #expect(await child.wait(seconds: 120) != nil, "the run ended: \(child.text)")
        }
        let (status, out) = try await runMend(["ingest", file, "--table", "events", "--db", url, "--quiet"])
        #expect(status == 0, "\(out)")
        let engine = try await backend.engine(url: url)
        let rows = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef("events"))")
        let loaded = rows.first?[0].int ?? -1
        #expect(loaded == rows.first?[1].int, "no record loaded twice")
        let stats = try #require(try await engine.stats().first)
        #expect(stats.input == Int64(n), "every line counted once at the source")
        #expect(stats.loaded + stats.parked + stats.quarantined == Int64(n), "conservation: \(stats)")
        #expect(stats.loaded == loaded, "the table holds what the counters say")
        #expect(loaded + stats.parked == Int64(n), "nothing lost: loaded or parked")
        #expect(try await engine.verifyAudit(full: true).ok, "the audit chain verifies entry by entry")
        #expect(killed > 0, "at least one run was killed before it finished (a whole run took \(runTime) s)")
    }
}
