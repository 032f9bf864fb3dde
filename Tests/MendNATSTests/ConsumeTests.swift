import Foundation
import MendCore
import MendNATS
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `mend consume` against a real nats-server (scripts/with-nats.sh) and real databases.
/// Messages are published with nats-py (Tests/e2e/nats_publish.py), never with Mend's code.
enum NATS {
    static var url: String? { ProcessInfo.processInfo.environment["MEND_TEST_NATS"] }
    static var python: String {
        let venv = Paths.repo.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }

    /// Runs the publisher; returns its last output line as JSON.
    @discardableResult
    static func publish(_ args: [String]) async throws -> [String: Any] {
        let (code, out) = try await run(
            python, [Paths.repo.appendingPathComponent("Tests/e2e/nats_publish.py").path, "--url", url ?? ""] + args)
        guard code == 0 else {
            throw TestFailure("nats_publish.py \(args.joined(separator: " ")) failed (run `make venv` for nats-py): \(out)")
        }
        let last = out.split(separator: "\n").last.map(String.init) ?? "{}"
        return (try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]) ?? [:]
    }

    /// A new stream named for the test, capturing `prefix.>`.
    static func newStream(_ prefix: String) async throws -> String {
        let name = prefix.uppercased() + "_" + UUID().uuidString.prefix(6).lowercased()
        try await publish(["create", "--stream", name, "--subjects", "\(name.lowercased()).>"])
        return name
    }

    static func info(_ stream: String, consumer: String) async throws -> [String: Int] {
        let j = try await publish(["info", "--stream", stream, "--consumer", consumer])
        return j.compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    static func run(_ exe: String, _ args: [String], env: [String: String] = [:]) async throws -> (Int32, String) {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                c.resume(
                    with: Result {
                        let p = Process()
                        p.executableURL = URL(fileURLWithPath: exe.hasPrefix("/") ? exe : "/usr/bin/env")
                        p.arguments = exe.hasPrefix("/") ? args : [exe] + args
                        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
                        let pipe = Pipe()
                        p.standardOutput = pipe
                        p.standardError = pipe
                        try p.run()
                        let data = pipe.fileHandleForReading.readDataToEndOfFile()
                        p.waitUntilExit()
                        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
                    })
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A `mend consume` process, for the tests that signal or kill workers.
final class Worker: @unchecked Sendable {
    let process = Process()
    let log: URL

    init(_ args: [String], log: URL) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = Paths.repo.appendingPathComponent(".build/debug/mend")
        process.arguments = ["consume"] + args
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits for the exit; nil when it did not exit within `timeout` seconds.
    func wait(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }
}

@Suite(.enabled(if: NATS.url != nil, "needs MEND_TEST_NATS (scripts/with-nats.sh starts a throwaway nats-server)"))
struct ConsumeTests {
    static let mendBinary = Paths.repo.appendingPathComponent(".build/debug/mend").path

    func consume(_ engine: Engine, stream: String, table: String = "events", batch: Int = 500, idle: Double = 1.5)
        async throws -> ConsumeSummary
    {
        let worker = try StreamConsumer(
            engine: engine,
            options: ConsumeOptions(
                url: NATS.url ?? "", stream: stream, consumer: "loader", table: table, batch: batch, stopWhenIdle: idle, ackWait: 5))
        return try await worker.run()
    }

    func count(_ engine: Engine, _ table: String = "events") async throws -> (rows: Int64, distinct: Int64) {
        let r = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef(table))")
        return (r.first?[0].int ?? -1, r.first?[1].int ?? -1)
    }

    /// (a) One worker loads every message once, on SQLite and PostgreSQL; drift parks
    /// with the stream's name and the message's sequence as its position.
    @Test(arguments: Backend.available)
    func oneWorkerLoadsEveryMessage(_ backend: Backend) async throws {
        let stream = try await NATS.newStream("one")
        let subject = stream.lowercased() + ".events"
        let pub = try await NATS.publish(["events", "--stream", stream, "--subject", subject, "--count", "3000", "--drift-every", "1000"])
        #expect(pub["drift"] as? Int == 3)
        let engine = try await backend.engine()
        let s = try await consume(engine, stream: stream)
        #expect(s.messages == 3000)
        #expect(s.stoppedBy == "idle")
        let (rows, distinct) = try await count(engine)
        #expect(rows == 2997 && distinct == 2997, "rows \(rows), distinct \(distinct)")
        #expect(s.loaded == 2997 && s.parked == 3, "\(s)")
        // Drifted records are ids 1000, 2000, 3000, published as sequences 1000, 2000, 3000.
        let parked = try await engine.rows("SELECT source, line FROM \(engine.warehouse.stateTable("parked")) ORDER BY line")
        #expect(parked.map { $0[0].string ?? "" } == Array(repeating: "nats:\(stream)", count: 3))
        #expect(parked.map { $0[1].int ?? 0 } == [1000, 2000, 3000])
        let head = try await engine.state.transaction { tx in try await tx.streamHead(stream: stream, consumer: "loader") }
        #expect(head?.high == 3000)
        let info = try await NATS.info(stream, consumer: "loader")
        #expect(info["num_pending"] == 0 && info["num_ack_pending"] == 0, "\(info)")
        // A second run finds nothing new.
        let again = try await consume(engine, stream: stream, idle: 0.5)
        #expect(again.messages == 0)
        #expect(try await count(engine).rows == 2997)
    }

    /// (b) Poison messages (not JSON, JSON that is not an object) are quarantined and acked.
    @Test func poisonIsQuarantinedAndAcked() async throws {
        let stream = try await NATS.newStream("poison")
        let subject = stream.lowercased() + ".events"
        let pub = try await NATS.publish(["events", "--stream", stream, "--subject", subject, "--count", "1000", "--poison-every", "100"])
        #expect(pub["poison"] as? Int == 10)
        let engine = try await Backend.sqlite.engine()
        let s = try await consume(engine, stream: stream, batch: 300)
        #expect(s.quarantined == 10 && s.loaded == 990, "\(s)")
        let q = try await engine.rows("SELECT line, source FROM \(engine.warehouse.stateTable("quarantine")) ORDER BY line")
        #expect(q.map { $0[0].int ?? 0 } == Array(stride(from: 100, through: 1000, by: 100)).map(Int64.init))
        let info = try await NATS.info(stream, consumer: "loader")
        #expect(info["num_pending"] == 0 && info["num_ack_pending"] == 0 && info["ack_floor"] == 1000, "\(info)")
    }

    /// `--table '{2}'`: one worker feeds a table per subject.
    @Test func subjectTokensRouteToTables() async throws {
        let stream = try await NATS.newStream("route")
        let p = stream.lowercased()
        try await NATS.publish(["events", "--stream", stream, "--subject", "\(p).orders", "--count", "700"])
        try await NATS.publish(["events", "--stream", stream, "--subject", "\(p).users", "--count", "300", "--start", "701"])
        let engine = try await Backend.sqlite.engine()
        let s = try await consume(engine, stream: stream, table: "{2}")
        #expect(s.tables == ["orders", "users"])
        #expect(try await count(engine, "orders").rows == 700)
        #expect(try await count(engine, "users").rows == 300)
    }

    @Test func tableTemplates() throws {
        let r = try TableRoute("{2}")
        #expect(try r.table(for: "events.orders").get() == "orders")
        #expect((try? r.table(for: "events").get()) == nil)
        #expect(try TableRoute("raw_{1}_{3}").table(for: "a.b.c").get() == "raw_a_c")
        #expect(throws: ConsumeError.self) { try TableRoute("{x}") }
    }
}

/// The committed-ranges guard, on the state tables alone (no server needed).
@Suite struct StreamCommitTests {
    @Test func runsCompressSequences() {
        #expect(StateTransaction.runs([5, 3, 4, 9, 10, 12]) == [3...5, 9...10, 12...12])
        #expect(StateTransaction.runs([7, 7]) == [7...7])
    }

    @Test(arguments: Backend.available)
    func interleavedWorkersAreGuardedByRanges(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        try await engine.bootstrap()
        let st = engine.state
        try await st.transaction { tx in try await tx.ensureStreamTables() }
        // Worker A commits 1-10 and 21-30; worker B still holds 11-20 (not committed).
        try await st.transaction { tx in try await tx.commitStreamSequences(stream: "S", consumer: "c", Array(1...10) + Array(21...30)) }
        let done = try await st.transaction { tx in try await tx.committedSequences(stream: "S", consumer: "c", among: [5, 15, 25]) }
        #expect(done == [5, 25], "a high-water mark would wrongly call 15 committed")
        // A redelivered copy of 10 in another batch is refused inside the transaction.
        await #expect(throws: StateTransaction.StreamAlreadyCommitted.self) {
            try await st.transaction { tx in try await tx.commitStreamSequences(stream: "S", consumer: "c", [10, 11]) }
        }
        let eleven = try await st.transaction { tx in try await tx.committedSequences(stream: "S", consumer: "c", among: [11]) }
        #expect(eleven.isEmpty, "the refused batch rolled back")
        // Other consumers on the stream have their own ranges.
        let other = try await st.transaction { tx in try await tx.committedSequences(stream: "S", consumer: "d", among: [5]) }
        #expect(other.isEmpty)
        let pruned = try await st.transaction { tx in try await tx.pruneStreamCommits(stream: "S", consumer: "c", atOrBelow: 10) }
        #expect(pruned == 1)
        let head = try await st.transaction { tx in try await tx.streamHead(stream: "S", consumer: "c") }
        #expect(head?.high == 30 && head?.ranges == 1)
    }
}
