import Foundation
import MendCore
import MendNATS
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `mend consume` into child tables (issue 31): each message is one record tree, loaded whole
/// once, its ids derived from the stream's sequence.
@Suite(.enabled(if: NATS.url != nil, "needs MEND_TEST_NATS (scripts/with-nats.sh starts a throwaway nats-server)"))
struct NestedConsumeTests {
    static func push(_ i: Int, commits: Int, extra: String = "") -> String {
        let list = (0..<commits).map { c in
            #"{"sha":"s\#(i)_\#(c)","author":{"name":"dev\#(c)"}\#(extra),"added":["a\#(c)","b\#(c)"]}"#
        }
        return #"{"id":\#(i),"type":"PushEvent","payload":{"size":\#(commits),"commits":[\#(list.joined(separator: ","))]}}"#
    }

    func count(_ engine: Engine, _ table: String) async throws -> Int64 {
        try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef(table))").first?.first?.int ?? -1
    }

    @Test(arguments: Backend.available)
    func consumeIntoChildTables(_ backend: Backend) async throws {
        let stream = try await NATS.newStream("nested")
        let subject = stream.lowercased() + ".events"
        let dir = Paths.tempDir()
        // 600 events of 0..2 commits; from 401 on, commits carry a new field (drift in the child).
        let lines = (1...600).map { Self.push($0, commits: $0 % 3, extra: $0 > 400 ? #","verified":true"# : "") }
        try await NATS.publish(["lines", "--stream", stream, "--subject", subject, writeLines(lines, in: dir)])
        let engine = try await backend.engine(policy: try PolicyLoader.parse("nested_lists: tables\n"))
        let worker = try StreamConsumer(
            engine: engine,
            options: ConsumeOptions(
                url: NATS.url ?? "", stream: stream, consumer: "loader", table: "events", batch: 200, stopWhenIdle: 1.5, ackWait: 30))
        let s = try await worker.run()
        #expect(s.messages >= 600, "\(s)")
        #expect(try await count(engine, "events") == 600)
        #expect(try await count(engine, "events__payload__commits") == 600)  // 200 · (0 + 1 + 2)
        #expect(try await count(engine, "events__payload__commits__added") == 1200)
        let verified = try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits")) WHERE verified IS NOT NULL")
        #expect(
            verified.first?.first?.int == Int64((401...600).reduce(0) { $0 + $1 % 3 }),
            "the child's new column was added and its records replayed whole")
        let orphans = try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits")) c LEFT JOIN \(engine.tableRef("events")) e ON e._mend_id = c._mend_parent_id WHERE e._mend_id IS NULL"
        )
        #expect(orphans.first?.first?.int == 0)
        let dupes = try await engine.rows(
            "SELECT COUNT(*) - COUNT(DISTINCT _mend_id) FROM \(engine.tableRef("events__payload__commits__added"))")
        #expect(dupes.first?.first?.int == 0)
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 600 && stats.loaded == 600 && stats.parked == 0, "\(stats)")
        let info = try await NATS.info(stream, consumer: "loader")
        #expect(info["num_pending"] == 0 && info["num_ack_pending"] == 0, "\(info)")
    }
}
