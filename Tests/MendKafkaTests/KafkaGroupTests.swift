import Foundation
import MendCore
import MendKafka
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Scale-out is the consumer group: several workers, one group, partitions moving between
/// them in rebalances, and the warehouse's offsets keeping every message in one place.
@Suite(.enabled(if: Kafka.url != nil, "needs MEND_TEST_KAFKA (scripts/with-kafka.sh starts a throwaway broker)"))
struct KafkaGroupTests {
    func count(_ engine: Engine, _ table: String = "events") async throws -> (rows: Int64, distinct: Int64) {
        let r = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef(table))")
        return (r.first?[0].int ?? -1, r.first?[1].int ?? -1)
    }

    /// Two workers in one group join one after the other (a rebalance moves partitions from
    /// the first to the second while it loads) and meet the same drift (a new field): every
    /// record once, one migration.
    @Test(arguments: Backend.available)
    func twoWorkersShareAGroupOneMigration(_ backend: Backend) async throws {
        try await bounded(420, "twoWorkersShareAGroup") {
            let topic = try await Kafka.newTopic("two", partitions: 4)
            let group = Kafka.newGroup()
            // Half the topic first; the other half once the group has rebalanced, so that the
            // second worker has records to load whatever the timing (on CI the first drained
            // 30,000 records before the group gave the second its partitions).
            try await Kafka.produce(["events", "--topic", topic, "--count", "30000", "--new-field-from", "4001"])
            let url = backend.freshURL()
            let a = try await backend.engine(url: url)
            try await a.bootstrap()
            let b = try await backend.engine(url: url)
            func worker(_ engine: Engine) throws -> KafkaConsumer {
                try KafkaConsumer(
                    engine: engine,
                    options: KafkaConsumeOptions(
                        config: KafkaConfig(brokers: Kafka.brokers, properties: Kafka.testProperties), topics: [topic], group: group,
                        table: "events", batch: 200, stopWhenIdle: 20))
            }
            let (wa, wb) = (try worker(a), try worker(b))
            let firstRebalances = Rebalances()
            async let one = wa.run { firstRebalances.seen = $0.rebalances }
            // The second joins once the first holds every partition and has loaded a batch (not
            // after a fixed sleep: a loaded machine takes longer to join): a rebalance mid-stream.
            let watcher = try await backend.engine(url: url)
            for _ in 0..<1200 where ((try? await count(watcher).rows) ?? 0) <= 0 {
                try await Task.sleep(for: .milliseconds(100))
            }
            async let two = wb.run()
            // Revoked and assigned again (the first assignment is one): the group has two members.
            // At most 15 s, within the idle limit: a first worker done with its half reports nothing more.
            for _ in 0..<150 where firstRebalances.seen < 3 { try await Task.sleep(for: .milliseconds(100)) }
            try await Kafka.produce(["events", "--topic", topic, "--count", "30000", "--start", "30001", "--new-field-from", "1"])
            let (s1, s2) = try await (one, two)
            let (rows, distinct) = try await count(a)
            #expect(rows == 60000 && distinct == 60000, "rows \(rows), distinct \(distinct); \(s1); \(s2)")
            #expect(s1.rebalances >= 2 && s2.messages > 0, "the first worker gave partitions up to the second: \(s1); \(s2)")
            let migrations = try await a.rows(
                "SELECT COUNT(*) FROM \(a.warehouse.stateTable("schema_versions")) WHERE ddl LIKE '%channel%'")
            #expect(migrations.first?.first?.int == 1, "one ADD COLUMN channel")
            let filled = try await a.rows("SELECT COUNT(*) FROM \(a.tableRef("events")) WHERE id > 4000 AND channel = 'web'")
            #expect(filled.first?.first?.int == 56000, "parked records replayed after the repair")
            let inWarehouse = try await Kafka.warehouseNext(a, topic: topic, group: group, partitions: 4)
            #expect(inWarehouse.values.reduce(0, +) == 60000, "\(inWarehouse)")
            #expect(try await Kafka.committed(topic, group: group) == inWarehouse)
            print(
                "two workers: \(s1.messages) + \(s2.messages) messages, \(s1.alreadyCommitted + s2.alreadyCommitted) read again and skipped"
            )
        }
    }

    /// Three workers in one group on a 6-partition topic while one of them is SIGKILLed at
    /// random moments and restarted. Afterwards every message is in the table exactly once,
    /// or parked, or quarantined; `mend stats` adds up; Kafka's committed offsets are the
    /// warehouse's. PostgreSQL when the test cluster runs, else SQLite.
    /// MEND_KAFKA_KILL_MESSAGES sets the count (default 200,000, as the issue asks).
    @Test func threeWorkersSurviveKills() async throws {
        try await bounded(900, "threeWorkersSurviveKills") {
            let n = ProcessInfo.processInfo.environment["MEND_KAFKA_KILL_MESSAGES"].flatMap(Int.init) ?? 200_000
            let topic = try await Kafka.newTopic("kill", partitions: 6)
            let group = Kafka.newGroup()
            let pub = try await Kafka.produce([
                "events", "--topic", topic, "--count", "\(n)", "--poison-every", "997", "--drift-every", "1499",
            ])
            let poison = pub["poison"] as? Int ?? -1
            let backend: Backend = Backend.postgresURL == nil ? .sqlite : .postgres
            let db = backend.freshURL()
            let dir = Paths.tempDir()
            // Idle for longer than a killed member's session (6 s) and the rebalance after it.
            let args = [
                Kafka.url ?? "", "--topic", topic, "--group", group, "--table", "events", "--db", db, "--batch", "1000",
                "--stop-when-idle", "15", "--kafka-config", Kafka.configFile(),
            ]
            var workers = try (0..<3).map { try Worker(args, log: dir.appendingPathComponent("w\($0).log")) }
            defer { for w in workers where w.process.isRunning { kill(w.process.processIdentifier, SIGKILL) } }
            let engine = try await backend.engine(url: db)
            var kills = 0
            var generator = SystemRandomNumberGenerator()
            for round in 0..<4 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 4000...8000, using: &generator)))
                guard workers[0].process.isRunning else { break }
                kill(workers[0].process.processIdentifier, SIGKILL)
                _ = await workers[0].wait(timeout: 5)
                kills += 1
                workers[0] = try Worker(args, log: dir.appendingPathComponent("w0-\(round).log"))
            }
            for w in workers {
                let code = await w.wait(timeout: 600)
                #expect(code == 0, "worker exit \(String(describing: code)): \(w.output.suffix(2000))")
            }
            if try await Kafka.warehouseNext(engine, topic: topic, group: group, partitions: 6).values.reduce(0, +) < Int64(n) {
                // A partition whose owner was killed last may have waited out its session: one more worker takes it.
                let last = try Worker(args, log: dir.appendingPathComponent("last.log"))
                #expect(await last.wait(timeout: 300) == 0, "\(last.output.suffix(2000))")
            }
            #expect(kills >= 1, "no worker was killed: the topic drained too fast")
            let inWarehouse = try await Kafka.warehouseNext(engine, topic: topic, group: group, partitions: 6)
            #expect(inWarehouse.values.reduce(0, +) == Int64(n), "every offset committed: \(inWarehouse)")
            #expect(try await Kafka.committed(topic, group: group) == inWarehouse, "Kafka's committed offsets are the warehouse's")
            let (rows, distinct) = try await count(engine)
            let (code, out) = try await Kafka.run(Kafka.mendBinary, ["stats", "--json", "--db", db])
            #expect(code == 0, "\(out)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")
            let events = try #require((json["tables"] as? [String: Any])?["events"] as? [String: Any], "\(out)")
            let stat = { (k: String) in Int64((events[k] as? NSNumber)?.intValue ?? -1) }
            #expect(rows == distinct, "duplicates: \(rows) rows, \(distinct) distinct ids")
            #expect(rows == Int64(n) - stat("parked") - stat("quarantined"), "rows \(rows), stats \(events)")
            #expect(stat("loaded") == rows, "stats loaded \(stat("loaded")) vs rows \(rows)")
            #expect(stat("input") == Int64(n), "stats input \(stat("input")) vs produced \(n)")
            #expect(stat("quarantined") == Int64(poison))
            print(
                "kafka kill test: \(n) messages, \(kills) kills, \(rows) rows, \(stat("parked")) parked, \(stat("quarantined")) quarantined on \(backend)"
            )
        }
    }
}

/// The first worker's rebalance count as its progress reports it.
final class Rebalances: @unchecked Sendable {
    // Unchecked: `count` is behind `lock`.
    private let lock = NSLock()
    private var count = 0
    var seen: Int {
        get { lock.withLock { count } }
        set { lock.withLock { count = newValue } }
    }
}
