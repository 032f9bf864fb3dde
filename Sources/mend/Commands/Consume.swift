import ArgumentParser
import Foundation
import Logging
import MendCore
import MendNATS
import MendPipeline
import MendStore
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume a NATS JetStream stream into tables, healing drift as the policy allows.",
        discussion: """
            Pulls from a durable consumer (created with explicit ack if missing, else bound to as it is), \
            so several `mend consume` processes on the same --consumer share the stream's work, on one \
            machine or many. Each table's share of a fetched batch commits in one transaction with its \
            parked and quarantined records and the stream sequences it holds; only then are the messages \
            acked. A redelivered message already committed is acked and not loaded again. A message that \
            is not a JSON object is quarantined and acked.

            --table may take subject tokens: --table '{2}' sends events.orders to the table orders.

            A NATS server that restarts is waited for: libnats reconnects, failed fetches are retried \
            with backoff (one line per attempt on standard error), and the consumer is bound again. \
            The database is waited for the same way. Past --retry-for (default 300 s) the command exits 1 \
            with what to check. At start an unreachable server \
            is an error at once.

            SIGTERM or SIGINT: stop fetching, commit and ack the batch in flight, exit 0 (within \
            --shutdown-timeout, else exit 1). A second signal exits at once; what was committed stays \
            committed and what was not is redelivered.
            """)

    @Argument(help: "NATS server: nats://HOST:PORT (for example nats://127.0.0.1:4222).")
    var url: String
    @Option(name: .long, help: "JetStream stream name.")
    var stream: String
    @Option(name: .long, help: "Durable consumer name; workers with the same name share the work.")
    var consumer: String
    @Option(name: .long, help: "Target table, or a template with subject tokens ({2}: the subject's second token).")
    var table: String
    @Option(name: .long, help: "Filter subject of a consumer this command creates (for example events.>).")
    var subject: String?
    @Option(
        name: .long,
        help: "Messages per fetch, committed as one transaction per table (default: 5000 on SQLite, 20000 on PostgreSQL).")
    var batch: Int?
    @Option(name: .long, help: "Exit 0 once no message arrived for this many seconds (tests, backfills).")
    var stopWhenIdle: Double?
    @Option(name: .long, help: "Seconds a graceful shutdown may take before the process exits anyway (exit 1).")
    var shutdownTimeout: Double = 30
    @Option(name: .long, help: "AckWait of a consumer this command creates, in seconds; in-progress acks extend it for long batches.")
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

    func validate() throws {
        guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout takes seconds above 0") }
        guard ackWait >= 1 else { throw ValidationError("--ack-wait takes at least 1 second") }
    }

    func run() async throws {
        let engine = try await options.engine(retryDefault: Self.retryDefault)
        try await notify.attach(to: engine, policy: options.policy)
        let worker = try StreamConsumer(
            engine: engine,
            options: ConsumeOptions(
                url: url, stream: stream, consumer: consumer, table: table, subject: subject, batch: batch,
                stopWhenIdle: stopWhenIdle, ackWait: ackWait, retryFor: retryFor))
        let service = ConsumeService(worker: worker)
        var logger = Logger(label: "mend.consume")
        logger.logLevel = .error
        var config = ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            // The second signal is not the group's (it refuses one signal for both): ConsumeService traps it.
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = .milliseconds(Int64(shutdownTimeout * 1000))
        try await ServiceGroup(configuration: config).run()
        guard let s = service.summary else { return }
        if output.json {
            try printJSON(s)
        } else if !quiet {
            print(
                "\(s.stream)/\(s.consumer): \(s.messages) messages → \(s.loaded) loaded, \(s.parked) parked, \(s.quarantined) quarantined, \(s.alreadyCommitted) already committed (acked, not loaded again)"
            )
            if !s.tables.isEmpty { print("tables: \(s.tables.joined(separator: ", "))") }
            if s.incidentsOpened > 0 || s.repaired > 0 { print("incidents opened: \(s.incidentsOpened), repairs applied: \(s.repaired)") }
            for id in s.pendingApproval {
                print("incident \(id) waits for approval: `mend show \(id)`, then `mend approve \(id)` or `mend reject \(id) --reason ...`")
            }
            print(
                String(
                    format: "stopped (%@) after %.2fs, %.0f messages/s", s.stoppedBy, s.seconds,
                    s.seconds > 0 ? Double(s.messages) / s.seconds : 0))
        }
    }
}

/// The worker as a service: graceful shutdown stops fetching and lets the batch in flight
/// commit and ack; a second signal, or cancellation at the shutdown timeout, exits at once,
/// which loses nothing committed: an open transaction rolls back, unacked messages return.
final class ConsumeService: Service, Sendable {
    let worker: StreamConsumer
    private let result = NIOLockedValueBox<ConsumeSummary?>(nil)
    private let shuttingDown = NIOLockedValueBox(false)
    var summary: ConsumeSummary? { result.withLockedValue { $0 } }

    init(worker: StreamConsumer) { self.worker = worker }

    func run() async throws {
        let (worker, result, shuttingDown) = (self.worker, self.result, self.shuttingDown)
        let secondSignal = NIOLockedValueBox<Task<Void, Never>?>(nil)
        defer { secondSignal.withLockedValue { $0?.cancel() } }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                let s = try await worker.run()
                result.withLockedValue { $0 = s }
            } onGracefulShutdown: {
                shuttingDown.withLockedValue { $0 = true }
                worker.stop()
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
        FileHandle.standardError.write(Data("mend consume: stopping now; uncommitted messages will be redelivered\n".utf8))
        // _exit, not exit: no atexit handlers racing with threads still in libnats or the database.
        _exit(code)
    }
}
