import Foundation
import MendCore
import MendKafka
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `mend consume kafka://…` against a real Kafka-protocol broker (scripts/with-kafka.sh:
/// Tansu behind its ApiVersions shim) and real databases. Messages are produced with
/// confluent-kafka (Tests/e2e/kafka_produce.py), never with Mend's code.
enum Kafka {
    static var url: String? { ProcessInfo.processInfo.environment["MEND_TEST_KAFKA"] }
    static var brokers: String { ProcessInfo.processInfo.environment["MEND_TEST_KAFKA_BROKERS"] ?? "" }
    static var python: String {
        let venv = Paths.repo.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }
    static let mendBinary = Paths.repo.appendingPathComponent(".build/debug/mend").path
    /// A new group waits about half the session timeout before it assigns (Tansu): short in tests.
    static let testProperties = ["session.timeout.ms": "6000"]

    /// Runs the producer; returns its last output line as JSON.
    @discardableResult
    static func produce(_ args: [String]) async throws -> [String: Any] {
        let script = Paths.repo.appendingPathComponent("Tests/e2e/kafka_produce.py").path
        let (code, out) = try await run(python, [script, "--brokers", brokers] + args)
        guard code == 0 else {
            throw TestFailure("kafka_produce.py \(args.joined(separator: " ")) failed (run `make venv` for confluent-kafka): \(out)")
        }
        // librdkafka may log lines of its own: the answer is the last JSON line.
        let last = out.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "{}"
        guard let json = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw TestFailure("kafka_produce.py \(args.joined(separator: " ")) answered no JSON: \(out)")
        }
        return json
    }

    /// A new topic named for the test.
    static func newTopic(_ prefix: String, partitions: Int = 3) async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.prefix(6).lowercased())"
        try await produce(["create", "--topic", name, "--partitions", "\(partitions)"])
        return name
    }

    /// A group of its own for each test: a group whose member leaves mid-join can stall on Tansu.
    static func newGroup(_ prefix: String = "g") -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    /// The group's committed offsets in Kafka, per partition (-1001: none).
    static func committed(_ topic: String, group: String) async throws -> [Int: Int64] {
        let j = try await produce(["committed", "--topic", topic, "--group", group])
        return Dictionary(uniqueKeysWithValues: j.compactMap { k, v in Int(k).map { ($0, (v as? NSNumber)?.int64Value ?? -1) } })
    }

    static func run(_ exe: String, _ args: [String]) async throws -> (Int32, String) {
        try await offThePool {
            try runProcessBlocking(
                URL(fileURLWithPath: exe.hasPrefix("/") ? exe : "/usr/bin/env"), exe.hasPrefix("/") ? args : [exe] + args)
        }
    }

    /// A --kafka-config file with the test properties (and `extra`).
    /// The warehouse's next offset per partition of a topic (its highest committed + 1).
    static func warehouseNext(_ engine: Engine, topic: String, group: String, partitions: Int) async throws -> [Int: Int64] {
        var out: [Int: Int64] = [:]
        for p in 0..<partitions {
            let stream = TopicPartition(topic: topic, partition: Int32(p)).sourceName
            if let head = try await engine.state.transaction({ tx in try await tx.streamHead(stream: stream, consumer: group) }) {
                out[p] = Int64(head.high) + 1
            }
        }
        return out
    }

    static func configFile(_ extra: [String: String] = [:]) -> String {
        let lines = testProperties.merging(extra) { _, b in b }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return writeLines(["# test broker settings"] + lines, name: "kafka.properties")
    }
}

/// Runs a test body within a wall-clock bound: a hung broker or worker fails the test, not the run.
func bounded<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestFailure("\(what) did not finish within \(Int(seconds)) s")
        }
        return value
    }
}

@Suite(.enabled(if: Kafka.url != nil, "needs MEND_TEST_KAFKA (scripts/with-kafka.sh starts a throwaway broker)"))
struct KafkaConsumeTests {
    func consume(
        _ engine: Engine, topic: String, group: String, table: String = "events", batch: Int = 500, idle: Double = 2,
        pattern: Bool = false
    ) async throws -> KafkaConsumeSummary {
        let worker = try KafkaConsumer(
            engine: engine,
            options: KafkaConsumeOptions(
                config: KafkaConfig(brokers: Kafka.brokers, properties: Kafka.testProperties), topics: [topic], pattern: pattern,
                group: group, table: table, batch: batch, stopWhenIdle: idle))
        return try await worker.run()
    }

    func count(_ engine: Engine, _ table: String = "events") async throws -> (rows: Int64, distinct: Int64) {
        let r = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef(table))")
        return (r.first?[0].int ?? -1, r.first?[1].int ?? -1)
    }

    /// One worker loads every message once, on SQLite and PostgreSQL; drift parks with
    /// kafka:TOPIC:PARTITION and the offset as its position; the offsets committed to Kafka
    /// are the warehouse's; a second run reads nothing again.
    @Test(arguments: Backend.available)
    func oneWorkerLoadsEveryMessage(_ backend: Backend) async throws {
        try await bounded(240, "oneWorkerLoadsEveryMessage") {
            let topic = try await Kafka.newTopic("one", partitions: 3)
            let group = Kafka.newGroup()
            let pub = try await Kafka.produce(["events", "--topic", topic, "--count", "3000", "--drift-every", "1000"])
            #expect(pub["drift"] as? Int == 3)
            let engine = try await backend.engine()
            // Batches of 100: the first (which creates the table and fixes its types) then cannot
            // reach a drifted record, each about 333 deep in its partition. With 500, a first poll
            // that one partition filled took one in, and `amount` became text (seen on CI).
            let s = try await consume(engine, topic: topic, group: group, batch: 100)
            #expect(s.messages == 3000, "\(s)")
            #expect(s.stoppedBy == "idle")
            let (rows, distinct) = try await count(engine)
            #expect(rows == 2997 && distinct == 2997, "rows \(rows), distinct \(distinct)")
            #expect(s.loaded == 2997 && s.parked == 3, "\(s)")
            let parked = try await engine.rows("SELECT source, line, CAST(record AS TEXT) FROM \(engine.warehouse.stateTable("parked"))")
            #expect(parked.count == 3)
            for row in parked {
                #expect(row[0].string?.hasPrefix("kafka:\(topic):") == true, "source \(String(describing: row[0].string))")
                #expect(row[2].string?.contains("\"lots\"") == true)
            }
            // The offsets in Kafka follow the warehouse's: what a lag tool reads.
            let inWarehouse = try await Kafka.warehouseNext(engine, topic: topic, group: group, partitions: 3)
            let inKafka = try await Kafka.committed(topic, group: group)
            #expect(inWarehouse.values.reduce(0, +) == 3000, "\(inWarehouse)")
            #expect(inKafka == inWarehouse, "Kafka \(inKafka), warehouse \(inWarehouse)")
            // A second run starts where the warehouse stands: nothing is read again.
            let again = try await consume(engine, topic: topic, group: group, idle: 1)
            #expect(again.messages == 0, "\(again)")
            // Idle once every partition reports its end, not after the 30 s join grace.
            #expect(again.seconds < Double(KafkaConsumer.joinGrace) - 5, "\(again)")
            #expect(try await count(engine).rows == 2997)
        }
    }

    /// Poison (not JSON, JSON that is not an object) is quarantined with topic:partition:offset;
    /// tombstones are counted and skipped; a value over max_value_bytes parks. Everything is
    /// committed: a second run reads nothing.
    @Test func poisonTombstonesAndOversize() async throws {
        try await bounded(240, "poisonTombstonesAndOversize") {
            let topic = try await Kafka.newTopic("poison", partitions: 2)
            let group = Kafka.newGroup()
            let pub = try await Kafka.produce([
                "events", "--topic", topic, "--count", "2000", "--poison-every", "100", "--tombstone-every", "250", "--oversize-every",
                "333",
            ])
            let (poison, tombs, over) = (pub["poison"] as? Int ?? -1, pub["tombstones"] as? Int ?? -1, pub["oversize"] as? Int ?? -1)
            #expect(poison == 20 && tombs > 0 && over > 0, "\(pub)")
            let engine = try await Backend.sqlite.engine(policy: Policy(maxValueBytes: 4096))
            let s = try await consume(engine, topic: topic, group: group, batch: 300)
            #expect(s.messages == 2000, "\(s)")
            #expect(s.quarantined == Int64(poison), "\(s)")
            #expect(s.tombstones == Int64(tombs), "\(s)")
            #expect(s.parked == Int64(over), "\(s)")
            #expect(s.loaded == Int64(2000 - poison - tombs - over), "\(s)")
            let (rows, distinct) = try await count(engine)
            #expect(rows == s.loaded && distinct == s.loaded)
            let q = try await engine.rows("SELECT source, line, raw FROM \(engine.warehouse.stateTable("quarantine"))")
            #expect(q.count == poison)
            // Source and line are topic:partition:offset: the raw text is the message at that offset.
            for row in q { #expect(row[0].string?.hasPrefix("kafka:\(topic):") == true && (row[1].int ?? -1) >= 0, "\(row)") }
            let inWarehouse = try await Kafka.warehouseNext(engine, topic: topic, group: group, partitions: 2)
            #expect(inWarehouse.values.reduce(0, +) == 2000, "tombstones' offsets commit too: \(inWarehouse)")
            let again = try await consume(engine, topic: topic, group: group, idle: 1)
            #expect(again.messages == 0, "\(again)")
            // Idle once every partition reports its end, not after the 30 s join grace.
            #expect(again.seconds < Double(KafkaConsumer.joinGrace) - 5, "\(again)")
        }
    }

    /// The warehouse is the source of truth: offsets it holds for the group are not read
    /// again, whatever Kafka holds (here: nothing), and a batch holding offsets the warehouse
    /// already has (another member's, before a rebalance) rolls back and loads the rest.
    @Test(arguments: Backend.available)
    func warehouseOffsetsWin(_ backend: Backend) async throws {
        try await bounded(240, "warehouseOffsetsWin") {
            let topic = try await Kafka.newTopic("truth", partitions: 1)
            let group = Kafka.newGroup()
            try await Kafka.produce(["events", "--topic", topic, "--count", "1000"])
            let engine = try await backend.engine()
            try await engine.bootstrap()
            // "Another member" committed offsets 0-399 (their rows are elsewhere, their offsets here).
            let tp = TopicPartition(topic: topic, partition: 0)
            try await engine.state.transaction { tx in
                try await tx.ensureStreamTables()
                try await tx.commitKafkaOffsets(tp, group: group, Array(0..<400))
            }
            let s = try await consume(engine, topic: topic, group: group)
            #expect(s.loaded == 600, "\(s)")
            let low = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events")) WHERE id <= 400")
            #expect(low.first?.first?.int == 0, "offsets 0-399 hold ids 1-400")
            #expect(try await Kafka.committed(topic, group: group) == [0: 1000])
            // A batch that reaches below the committed head is refused in its transaction.
            await #expect(throws: KafkaOffsetsAlreadyCommitted.self) {
                try await engine.state.transaction { tx in try await tx.commitKafkaOffsets(tp, group: group, [998, 999, 1000]) }
            }
        }
    }

    /// `--table '{topic}'` and --topic-pattern: one worker feeds a table per topic.
    @Test func topicsRouteToTables() async throws {
        try await bounded(240, "topicsRouteToTables") {
            let stem = "route\(UUID().uuidString.prefix(4).lowercased())"
            let (a, b) = ("\(stem).orders", "\(stem).users")
            try await Kafka.produce(["create", "--topic", a, "--partitions", "2"])
            try await Kafka.produce(["create", "--topic", b, "--partitions", "1"])
            try await Kafka.produce(["events", "--topic", a, "--count", "700"])
            try await Kafka.produce(["events", "--topic", b, "--count", "300", "--start", "701"])
            let engine = try await Backend.sqlite.engine()
            let s = try await consume(engine, topic: "^\(stem)\\..*", group: Kafka.newGroup(), table: "{topic}", pattern: true)
            #expect(s.tables == ["\(stem)_orders", "\(stem)_users"], "\(s)")
            #expect(try await count(engine, "\(stem)_orders").rows == 700)
            #expect(try await count(engine, "\(stem)_users").rows == 300)
        }
    }

    /// SIGTERM in the middle of a topic: the worker commits the batch in flight and exits 0
    /// within --shutdown-timeout; a second run loads the rest. Nothing is lost or loaded twice.
    @Test func sigtermMidStreamLosesAndDuplicatesNothing() async throws {
        try await bounded(240, "sigtermMidStream") {
            let topic = try await Kafka.newTopic("term", partitions: 3)
            let group = Kafka.newGroup()
            let n = 40_000
            try await Kafka.produce(["events", "--topic", topic, "--count", "\(n)"])
            let db = Backend.sqlite.freshURL()
            let dir = Paths.tempDir()
            let args = [
                Kafka.url ?? "", "--topic", topic, "--group", group, "--table", "events", "--db", db, "--batch", "2000", "--kafka-config",
                Kafka.configFile(),
            ]
            let first = try Worker(args + ["--shutdown-timeout", "10"], log: dir.appendingPathComponent("first.log"))
            // Past the group's join (about 3 s with session.timeout.ms=6000) and into the topic.
            let engine = try await Backend.sqlite.engine(url: db)
            var seen: Int64 = 0
            for _ in 0..<200 where seen < 4000 {
                try await Task.sleep(for: .milliseconds(100))
                seen = (try? await count(engine).rows) ?? 0
            }
            #expect(first.process.isRunning, "the worker should still be consuming: \(first.output)")
            let signalled = Date()
            kill(first.process.processIdentifier, SIGTERM)
            let code = await first.wait(timeout: 15)
            let took = Date().timeIntervalSince(signalled)
            #expect(code == 0, "exit \(String(describing: code)): \(first.output)")
            #expect(took < 10, "exited after \(took) s, bound 10 s")
            #expect(first.output.contains("stopped (shutdown)"), "\(first.output)")
            let second = try Worker(args + ["--stop-when-idle", "2"], log: dir.appendingPathComponent("second.log"))
            #expect(await second.wait(timeout: 120) == 0, "\(second.output)")
            let (rows, distinct) = try await count(engine)
            #expect(rows == Int64(n) && distinct == Int64(n), "rows \(rows), distinct \(distinct)")
            #expect(second.output.contains("0 already committed"), "the second run starts after the first's last commit: \(second.output)")
        }
    }

    /// The shared drift scenarios, produced to a topic (base, then drift, each consumed until
    /// idle), end as they do from a file.
    @Test(arguments: Backend.available)
    func scenariosHealFromATopic(_ backend: Backend) async throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: Paths.scenarios.path)) ?? []).sorted().filter {
            FileManager.default.fileExists(atPath: Paths.scenarios.appendingPathComponent("\($0)/expect.json").path)
        }
        #expect(names.count >= 12, "expected the shared scenarios at \(Paths.scenarios.path)")
        for name in names {
            try await bounded(180, "scenario \(name)") {
                let dir = Paths.scenarios.appendingPathComponent(name)
                let expect =
                    try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expect.json"))) as? [String: Any]
                    ?? [:]
                let table = expect["table"] as? String ?? "events"
                let after = expect["after"] as? [String: Any] ?? [:]
                let topic = try await Kafka.newTopic("sc", partitions: 1)
                let group = Kafka.newGroup()
                let engine = try await backend.engine()
                for file in ["base.jsonl", "drift.jsonl"] {
                    try await Kafka.produce(["lines", "--topic", topic, dir.appendingPathComponent(file).path])
                    _ = try await consume(engine, topic: topic, group: group, table: table, idle: 1)
                }
                let s = try #require(try await engine.stats().first { $0.table == table } ?? nil, "\(name): no stats")
                if let v = after["loaded"] as? Int { #expect(s.loaded == Int64(v), "\(name): loaded") }
                if let v = after["parked"] as? Int { #expect(s.parked == Int64(v), "\(name): parked") }
                if let v = after["quarantined"] as? Int { #expect(s.quarantined == Int64(v), "\(name): quarantined") }
                let schema = try await engine.schema(table: table)
                if let v = after["table_exists"] as? Bool { #expect((schema != nil) == v, "\(name): table_exists") }
                let columns = Dictionary(uniqueKeysWithValues: (schema?.0.columns ?? []).map { ($0.name, $0) })
                for (col, types) in after["columns"] as? [String: [String]] ?? [:] {
                    #expect(types.contains(columns[col]?.type?.rawValue ?? "?"), "\(name): column \(col)")
                }
                for col in after["absent_columns"] as? [String] ?? [] { #expect(columns[col] == nil, "\(name): \(col) must not exist") }
                if let v = after["open_incidents"] as? Int {
                    let open = try await engine.stats().first { $0.table == table }?.openIncidents
                    #expect(open == Int64(v), "\(name): open incidents")
                }
            }
        }
    }

    /// Mistakes get an error that says what to check, a non-zero exit, and no secret in it.
    @Test func clearErrors() async throws {
        try await bounded(90, "clearErrors") {
            let db = Backend.sqlite.freshURL()
            let config = Kafka.configFile(["sasl.password": "hunter2-secret"])
            let missing = try await Kafka.run(
                Kafka.mendBinary,
                ["consume", Kafka.url ?? "", "--topic", "nope_\(UUID().uuidString.prefix(4))", "--group", "g", "--table", "t", "--db", db])
            #expect(missing.0 != 0)
            #expect(missing.1.contains("does not exist"), "\(missing.1)")
            let down = try await Kafka.run(
                Kafka.mendBinary,
                ["consume", "kafka://127.0.0.1:1", "--topic", "t", "--group", "g", "--table", "t", "--db", db, "--kafka-config", config])
            #expect(down.0 != 0)
            #expect(down.1.contains("cannot reach Kafka") && !down.1.contains("hunter2"), "\(down.1)")
            let creds = try await Kafka.run(
                Kafka.mendBinary, ["consume", "kafka://u:pw@127.0.0.1:1", "--topic", "t", "--group", "g", "--table", "t", "--db", db])
            #expect(creds.0 != 0 && creds.1.contains("--kafka-config") && !creds.1.contains("pw@"), "\(creds.1)")
            let reserved = writeLines(["enable.auto.commit=true"], name: "bad.properties")
            let r = try await Kafka.run(
                Kafka.mendBinary,
                ["consume", Kafka.url ?? "", "--topic", "t", "--group", "g", "--table", "t", "--db", db, "--kafka-config", reserved])
            #expect(r.0 != 0 && r.1.contains("enable.auto.commit is set by mend consume"), "\(r.1)")
            let noGroup = try await Kafka.run(Kafka.mendBinary, ["consume", Kafka.url ?? "", "--topic", "t", "--table", "t", "--db", db])
            #expect(noGroup.0 != 0 && noGroup.1.contains("--group"), "\(noGroup.1)")
        }
    }
}

/// The parts that need no broker.
@Suite struct KafkaConfigTests {
    @Test func urls() throws {
        #expect(try KafkaConfig.brokers(fromURL: "kafka://a:9093,b") == "a:9093,b:9092")
        #expect(try KafkaConfig.brokers(fromURL: "kafka://[::1]:9092/") == "[::1]:9092")
        #expect(throws: KafkaError.self) { try KafkaConfig.brokers(fromURL: "nats://a:1") }
        #expect(throws: KafkaError.self) { try KafkaConfig.brokers(fromURL: "kafka://a,,b") }
        do {
            _ = try KafkaConfig.brokers(fromURL: "kafka://user:secret@a:1")
            Issue.record("credentials in the URL must be refused")
        } catch {
            #expect(!"\(error)".contains("secret"))
        }
    }

    @Test func propertiesFile() throws {
        let path = writeLines(["# comment", "", "security.protocol = SASL_SSL", "sasl.password=s3cr=t"], name: "k.properties")
        let p = try KafkaConfig.properties(file: path)
        #expect(p == ["security.protocol": "SASL_SSL", "sasl.password": "s3cr=t"])
        #expect(KafkaConfig(brokers: "x", properties: p).redacted["sasl.password"] == "***")
        #expect(KafkaConfig.isSecret("ssl.keystore.password") && !KafkaConfig.isSecret("security.protocol"))
        let bad = writeLines(["group.id=x"], name: "r.properties")
        #expect(throws: KafkaError.self) { try KafkaConfig.properties(file: bad) }
        let noEq = writeLines(["sasl.password hunter2"], name: "n.properties")
        do {
            _ = try KafkaConfig.properties(file: noEq)
            Issue.record("a line without = must be refused")
        } catch {
            #expect(!"\(error)".contains("hunter2") && "\(error)".contains("line 1"))
        }
    }

    @Test func tableTemplates() throws {
        #expect(try KafkaTableRoute("{topic}").table(for: "orders.v1").get() == "orders_v1")
        #expect(try KafkaTableRoute("raw_{topic}").table(for: "Users").get() == "raw_users")
        #expect(try KafkaTableRoute("events").table(for: "anything").get() == "events")
        #expect(try KafkaTableRoute("{topic}").table(for: "9lives-Now").get() == "_9lives_now")
        #expect(throws: KafkaError.self) { try KafkaTableRoute("{2}") }
        #expect(throws: KafkaError.self) { try KafkaTableRoute("Bad Name") }
    }

    /// A table's share of a poll holds several partitions' messages: each record names its own
    /// partition and offset, and the offsets commit per partition (tombstones' too).
    @Test func aTableShareSpansPartitions() {
        let (a, b) = (TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "t", partition: 1))
        func message(_ tp: TopicPartition, _ offset: Int64, _ value: String?) -> KafkaMessage {
            KafkaMessage(topic: tp.topic, partition: tp.partition, offset: offset, payload: value.map { Array($0.utf8) })
        }
        let source = KafkaSource(
            messages: [message(a, 10, #"{"id":1}"#), message(b, 7, #"{"id":2}"#), message(b, 8, nil), message(a, 11, #"{"id":3}"#)],
            group: "g", committed: { _, _ in })
        #expect(source.recordCount == 3 && source.partitions == [a, b])
        #expect((1...3).map { source.recordSource(counted: $0) } == ["kafka:t:0", "kafka:t:1", "kafka:t:0"])
        #expect((1...3).map { source.recordLine(counted: $0) } == [10, 7, 11])
        #expect(source.offsetsByPartition.map(\.0) == [a, b] && source.offsetsByPartition.map(\.1) == [[10, 11], [7, 8]])
        var texts: [String] = []
        while source.next({ texts.append(String(decoding: $0, as: UTF8.self)) }) {}
        #expect(texts == [#"{"id":1}"#, #"{"id":2}"#, #"{"id":3}"#])
    }
}
