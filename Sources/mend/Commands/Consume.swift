import ArgumentParser
import Foundation
import Logging
import MendCore
import MendKafka
import MendNATS
import MendPipeline
import MendStore
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume a NATS JetStream stream or Kafka topics into tables, healing drift as the policy allows.",
        discussion: """
            The URL's scheme picks the source: nats://HOST:PORT (--stream, --consumer) or \
            kafka://HOST:PORT[,HOST:PORT] (--topic or --topic-pattern, --group).

            NATS: pulls from a durable consumer (created with explicit ack if missing, else bound to as it is), \
            so several `mend consume` processes on the same --consumer share the stream's work, on one \
            machine or many. Each table's share of a fetched batch commits in one transaction with its \
            parked and quarantined records and the stream sequences it holds; only then are the messages \
            acked. A redelivered message already committed is acked and not loaded again. A message that \
            is not a JSON object is quarantined and acked.

            --table may take subject tokens: --table '{2}' sends events.orders to the table orders.

            Kafka: joins the consumer group --group, so several `mend consume` processes with the same \
            group share the topics' partitions (cooperative-sticky from librdkafka 2.2 on, else range). The warehouse holds the \
            offsets: each partition's share of a batch commits in one transaction with its rows, parked and \
            quarantined records and the offsets it holds; an assigned partition starts after the last offset \
            the warehouse holds for the group; offsets are committed to Kafka after the warehouse commit, so \
            lag tools see progress. Before a partition is given up in a rebalance, its batch in flight commits. \
            A message that is not a JSON object is quarantined with topic:partition:offset; a tombstone (null \
            value) is counted and skipped. --table '{topic}' sends each topic to a table of its name \
            (orders.v1 to orders_v1). --kafka-config FILE passes librdkafka properties (security.protocol, \
            sasl.*, ssl.*, session.timeout.ms…); secret values are never printed.

            A broker that restarts is waited for. NATS: libnats reconnects, failed \
            fetches are retried with backoff (one line per attempt on standard error), and the consumer is bound again. \
            Kafka: librdkafka reconnects by itself and the group rebalances. The database is waited for the same way. Past --retry-for (default 300 s) the command exits 1 \
            with what to check. At start an unreachable server \
            is an error after 10 s.

            SIGTERM or SIGINT: stop fetching, commit and ack the batch in flight, exit 0 (within \
            --shutdown-timeout, else exit 1). A second signal exits at once; what was committed stays \
            committed and what was not is redelivered.
            """)

    @Argument(help: "nats://HOST:PORT (for example nats://127.0.0.1:4222) or kafka://HOST:PORT[,HOST:PORT…].")
    var url: String
    @Option(name: .long, help: "NATS: JetStream stream name.")
    var stream: String?
    @Option(name: .long, help: "NATS: durable consumer name; workers with the same name share the work.")
    var consumer: String?
    @Option(
        name: .long,
        help: "Target table, or a template: NATS subject tokens ({2}: the subject's second token), Kafka {topic}.")
    var table: String
    @Option(name: .long, help: "NATS: filter subject of a consumer this command creates (for example events.>).")
    var subject: String?
    @Option(name: .long, help: "Kafka: a topic to consume (repeatable).")
    var topic: [String] = []
    @Option(name: .long, help: "Kafka: consume every topic whose name matches this regular expression (POSIX extended).")
    var topicPattern: String?
    @Option(name: .long, help: "Kafka: consumer group; workers in the same group share the partitions.")
    var group: String?
    @Option(
        name: .long,
        help: "Kafka: a file of librdkafka properties, key=value per line (security.protocol, sasl.*, ssl.*, session.timeout.ms…).")
    var kafkaConfig: String?
    @Option(
        name: .long,
        help:
            "Messages per fetch, committed as one transaction per table (NATS; Kafka: with every partition's offsets). Default: NATS 5000 on SQLite and 20000 on PostgreSQL; Kafka three times that."
    )
    var batch: Int?
    @OptionGroup var batchBytes: BatchBytesOption
    @Option(name: .long, help: "Exit 0 once no message arrived for this many seconds (tests, backfills).")
    var stopWhenIdle: Double?
    @Option(name: .long, help: "Seconds a graceful shutdown may take before the process exits anyway (exit 1).")
    var shutdownTimeout: Double = 30
    @Option(
        name: .long, help: "NATS: AckWait of a consumer this command creates, in seconds; in-progress acks extend it for long batches.")
    var ackWait: Double = 30
    /// `--retry-for` (in the database options) bounds the waits for NATS and the database alike.
    var retryFor: Double { options.database.retryFor ?? Self.retryDefault }
    /// A service waits longer than a one-off command.
    static let retryDefault: Double = 300
    @Flag(name: .long, help: "No summary on standard output.")
    var quiet = false
    @OptionGroup var options: RepairOptions
    @OptionGroup var notify: NotifyOptions
    @OptionGroup var output: JSONFlag

    var isKafka: Bool { url.hasPrefix("kafka://") }

    func validate() throws {
        guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout takes seconds above 0") }
        guard ackWait >= 1 else { throw ValidationError("--ack-wait takes at least 1 second") }
        if isKafka {
            if stream != nil || consumer != nil || subject != nil {
                throw ValidationError("--stream, --consumer and --subject are for nats:// URLs; a kafka:// URL takes --topic and --group")
            }
            guard group != nil else { throw ValidationError("a kafka:// URL needs --group G (members of one group share the partitions)") }
            guard topic.isEmpty != (topicPattern == nil) else {
                throw ValidationError("a kafka:// URL needs --topic T (repeatable) or --topic-pattern REGEX, not both")
            }
        } else {
            if !topic.isEmpty || topicPattern != nil || group != nil || kafkaConfig != nil {
                throw ValidationError("--topic, --topic-pattern, --group and --kafka-config are for kafka:// URLs")
            }
            guard stream != nil, consumer != nil else {
                throw ValidationError("a nats:// URL needs --stream S and --consumer C (or use kafka://HOST:PORT with --topic and --group)")
            }
        }
    }

    func run() async throws {
        let engine = try await options.engine(retryDefault: Self.retryDefault)
        try await notify.attach(to: engine, policy: options.policy)
        // A fetch commits as one batch: cut by bytes too, one poll's share of a table would commit
        // in two transactions for nothing (the fetch is in memory already).
        await batchBytes.apply(to: engine, otherwise: .max)
        if isKafka {
            try await runKafka(engine)
        } else {
            try await runNATS(engine)
        }
    }

    /// Runs a worker as a service to its end and prints its summary: JSON, or a headline,
    /// the tables, incidents and rate. One path for every source.
    private func serve<S: Encodable & Sendable>(
        run: @escaping @Sendable () async throws -> S, stop: @escaping @Sendable () -> Void, headline: (S) -> String,
        report: (S) -> ConsumeReport
    ) async throws {
        let result = NIOLockedValueBox<S?>(nil)
        let service = ConsumeService(
            run: {
                let s = try await run()
                result.withLockedValue { $0 = s }
            }, stop: stop)
        var logger = Logger(label: "mend.consume")
        logger.logLevel = .error
        var config = ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            // The second signal is not the group's (it refuses one signal for both): ConsumeService traps it.
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = .milliseconds(Int64(shutdownTimeout * 1000))
        try await ServiceGroup(configuration: config).run()
        guard let s = result.withLockedValue({ $0 }) else { return }
        if output.json {
            try printJSON(s)
            return
        }
        guard !quiet else { return }
        let r = report(s)
        print(headline(s))
        if !r.tables.isEmpty { print("tables: \(r.tables.joined(separator: ", "))") }
        if r.opened > 0 || r.repaired > 0 { print("incidents opened: \(r.opened), repairs applied: \(r.repaired)") }
        for id in r.pending {
            print("incident \(id) waits for approval: `mend show \(id)`, then `mend approve \(id)` or `mend reject \(id) --reason ...`")
        }
        print(
            String(
                format: "stopped (%@) after %.2fs, %.0f messages/s", r.stoppedBy, r.seconds,
                r.seconds > 0 ? Double(r.messages) / r.seconds : 0))
    }

    /// The part of a worker's summary the text report shows, whatever the source.
    struct ConsumeReport {
        var tables: [String]
        var opened: Int64
        var repaired: Int64
        var pending: [Int64]
        var messages: Int64
        var stoppedBy: String
        var seconds: Double
    }

    private func runKafka(_ engine: Engine) async throws {
        let brokers = try KafkaConfig.brokers(fromURL: url)
        let properties = try kafkaConfig.map { path throws(KafkaError) in try KafkaConfig.properties(file: path) } ?? [:]
        let worker = try KafkaConsumer(
            engine: engine,
            options: KafkaConsumeOptions(
                config: KafkaConfig(brokers: brokers, properties: properties), topics: topicPattern.map { [$0] } ?? topic,
                pattern: topicPattern != nil, group: group ?? "", table: table, batch: batch, stopWhenIdle: stopWhenIdle,
                retryFor: retryFor))
        try await serve(
            run: { try await worker.run() }, stop: { worker.stop() },
            headline: { s in
                "\(s.topics.joined(separator: ","))/\(s.group): \(s.messages) messages → \(s.loaded) loaded, \(s.parked) parked, \(s.quarantined) quarantined, \(s.tombstones) tombstones skipped, \(s.alreadyCommitted) already committed (not loaded again)"
            },
            report: { s in
                ConsumeReport(
                    tables: s.tables, opened: s.incidentsOpened, repaired: s.repaired, pending: s.pendingApproval,
                    messages: Int64(s.messages), stoppedBy: s.stoppedBy, seconds: s.seconds)
            })
    }

    private func runNATS(_ engine: Engine) async throws {
        let worker = try StreamConsumer(
            engine: engine,
            options: ConsumeOptions(
                url: url, stream: stream ?? "", consumer: consumer ?? "", table: table, subject: subject, batch: batch,
                stopWhenIdle: stopWhenIdle, ackWait: ackWait, retryFor: retryFor))
        try await serve(
            run: { try await worker.run() }, stop: { worker.stop() },
            headline: { s in
                "\(s.stream)/\(s.consumer): \(s.messages) messages → \(s.loaded) loaded, \(s.parked) parked, \(s.quarantined) quarantined, \(s.alreadyCommitted) already committed (acked, not loaded again)"
            },
            report: { s in
                ConsumeReport(
                    tables: s.tables, opened: s.incidentsOpened, repaired: s.repaired, pending: s.pendingApproval,
                    messages: Int64(s.messages), stoppedBy: s.stoppedBy, seconds: s.seconds)
            })
    }
}

/// The worker as a service: graceful shutdown stops fetching and lets the batch in flight
/// commit and ack; a second signal, or cancellation at the shutdown timeout, exits at once,
/// which loses nothing committed: an open transaction rolls back, unacked messages return.
final class ConsumeService: Service, Sendable {
    /// The worker's run to its end (NATS or Kafka), and how to ask it to stop.
    let work: @Sendable () async throws -> Void
    let stopWorker: @Sendable () -> Void
    private let shuttingDown = NIOLockedValueBox(false)

    init(run: @escaping @Sendable () async throws -> Void, stop: @escaping @Sendable () -> Void) {
        work = run
        stopWorker = stop
    }

    func run() async throws {
        let (work, stopWorker, shuttingDown) = (self.work, self.stopWorker, self.shuttingDown)
        let secondSignal = NIOLockedValueBox<Task<Void, Never>?>(nil)
        defer { secondSignal.withLockedValue { $0?.cancel() } }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await work()
            } onGracefulShutdown: {
                shuttingDown.withLockedValue { $0 = true }
                stopWorker()
                // A wait for the database between two tries ends now: nothing is in flight then.
                StopSignal.shared.stop()
                // Trapped only now, so that this sees the next signal, not the first.
                secondSignal.withLockedValue {
                    $0 = Task {
                        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { Self.exitNow(code: 130) }
                    }
                }
            }
        } onCancel: {
            // The shutdown timeout ran out (or the group was cancelled).
            Self.exitNow(code: shuttingDown.withLockedValue { $0 } ? 1 : 130)
        }
    }

    static func exitNow(code: Int32) -> Never {
        FileHandle.standardError.write(Data("mend consume: stopping now; uncommitted messages will be delivered again\n".utf8))
        // _exit, not exit: no atexit handlers racing with threads still in libnats or the database.
        _exit(code)
    }
}
