import Foundation
import MendCore
import MendKafka
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `mend consume kafka://…` into child tables (issue 31): each message is one record tree; its
/// root id comes from its partition and offset, so a second run writes nothing again.
@Suite(.enabled(if: Kafka.url != nil, "needs MEND_TEST_KAFKA (scripts/with-kafka.sh starts a throwaway broker)"))
struct NestedKafkaTests {
    static func push(_ i: Int, commits: Int) -> String {
        let list = (0..<commits).map { c in #"{"sha":"s\#(i)_\#(c)","author":{"name":"dev\#(c)"},"added":["a\#(c)","b\#(c)"]}"# }
        return #"{"id":\#(i),"type":"PushEvent","payload":{"size":\#(commits),"commits":[\#(list.joined(separator: ","))]}}"#
    }

    func count(_ engine: Engine, _ table: String) async throws -> Int64 {
        try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef(table))").first?.first?.int ?? -1
    }

    @Test(arguments: Backend.available)
    func consumeIntoChildTables(_ backend: Backend) async throws {
        try await bounded(120, "consumeIntoChildTables") {
            let topic = try await Kafka.newTopic("nested", partitions: 3)
            let group = Kafka.newGroup()
            try await Kafka.produce(["lines", "--topic", topic, writeLines((1...900).map { Self.push($0, commits: $0 % 4) })])
            let engine = try await backend.engine(policy: try PolicyLoader.parse("nested_lists: tables\n"))
            func consume(idle: Double) async throws -> KafkaConsumeSummary {
                let worker = try KafkaConsumer(
                    engine: engine,
                    options: KafkaConsumeOptions(
                        config: KafkaConfig(brokers: Kafka.brokers, properties: Kafka.testProperties), topics: [topic], pattern: false,
                        group: group, table: "events", batch: 200, stopWhenIdle: idle))
                return try await worker.run()
            }
            let s = try await consume(idle: 2)
            #expect(s.messages == 900 && s.loaded == 900, "\(s)")
            #expect(try await count(engine, "events") == 900)
            #expect(try await count(engine, "events__payload__commits") == 1350)  // 225 · (0 + 1 + 2 + 3)
            #expect(try await count(engine, "events__payload__commits__added") == 2700)
            let ids = try await engine.rows("SELECT COUNT(DISTINCT _mend_id) FROM \(engine.tableRef("events"))")
            #expect(ids.first?.first?.int == 900, "one root id per partition and offset")
            let orphans = try await engine.rows(
                "SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits__added")) a LEFT JOIN \(engine.tableRef("events__payload__commits")) c ON c._mend_id = a._mend_parent_id WHERE c._mend_id IS NULL"
            )
            #expect(orphans.first?.first?.int == 0)
            let again = try await consume(idle: 1)
            #expect(again.messages == 0, "\(again)")
            #expect(try await count(engine, "events__payload__commits") == 1350)
        }
    }
}
