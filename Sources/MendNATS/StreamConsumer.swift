import Foundation
import MendCore
public import MendPipeline
import MendStore
import NIOConcurrencyHelpers

/// What `mend consume` is told.
public struct ConsumeOptions: Sendable {
    public var url: String
    public var stream: String
    public var consumer: String
    /// The target table, perhaps with subject tokens: `{2}` is the subject's second
    /// dot-separated token, so `events.orders` goes to `orders`.
    public var table: String
    public var subject: String?
    /// Messages per fetch; each table's share of a fetch commits in one transaction. Nil:
    /// the engine's batch size (5,000 on SQLite, 20,000 on PostgreSQL, as for a file).
    public var batch: Int?
    /// Stop once no message arrived for this long (tests, backfills); nil: run until stopped.
    public var stopWhenIdle: Double?
    /// Seconds before the server redelivers an unacknowledged message (a new consumer's AckWait).
    public var ackWait: Double
    /// How long one fetch waits for messages: the bound on noticing a stop request.
    public var fetchWait: Double
    /// Seconds a failing fetch (the server restarting, the consumer being bound again) is
    /// retried, from its first failure, before the worker gives up and exits non-zero.
    public var retryFor: Double

    public init(
        url: String, stream: String, consumer: String, table: String, subject: String? = nil, batch: Int? = nil,
        stopWhenIdle: Double? = nil, ackWait: Double = 30, fetchWait: Double = 1, retryFor: Double = 300
    ) {
        self.url = url
        self.stream = stream
        self.consumer = consumer
        self.table = table
        self.subject = subject
        self.batch = batch
        self.stopWhenIdle = stopWhenIdle
        self.ackWait = ackWait
        self.fetchWait = fetchWait
        self.retryFor = retryFor
    }
}

/// What `mend consume` reports when it stops.
public struct ConsumeSummary: Sendable, Codable, Equatable {
    public var stream: String
    public var consumer: String
    public var messages: Int64 = 0
    public var loaded: Int64 = 0
    public var parked: Int64 = 0
    public var quarantined: Int64 = 0
    public var coerced: Int64 = 0
    /// Redelivered messages found already committed: acked, not loaded again.
    public var alreadyCommitted: Int64 = 0
    public var repaired: Int64 = 0
    public var incidentsOpened: Int64 = 0
    public var tables: [String] = []
    public var pendingApproval: [Int64] = []
    /// Why it stopped: "idle" or "shutdown".
    public var stoppedBy: String = ""
    public var seconds: Double = 0
    /// Unix time when the last batch was committed and acked (0: none): with
    /// --stop-when-idle the process exits later, so rates are measured to here.
    public var lastCommitAt: Double = 0
}

/// Where `--table` sends a message, from its subject.
public struct TableRoute: Sendable, Equatable {
    public let template: String

    public init(_ template: String) throws(ConsumeError) {
        self.template = template
        var probe = template
        while let open = probe.firstIndex(of: "{") {
            guard let close = probe[open...].firstIndex(of: "}"), let n = Int(probe[probe.index(after: open)..<close]), n >= 1 else {
                throw .badTable(template, "a subject token is written {N}, N from 1 (for example {2})")
            }
            probe = String(probe[probe.index(after: close)...])
        }
        if !template.contains("{"), let why = Identifier.validateUserName(Identifier.canonical(template)) {
            throw .badTable(template, why)
        }
    }

    /// The table for a subject, or why there is none.
    public func table(for subject: String) -> Result<String, ConsumeError> {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let n = Int(rest[rest.index(after: open)..<close]) ?? 0
            guard n >= 1, n <= tokens.count else {
                return .failure(.unroutable(subject, "it has no token \(n) for --table '\(template)'"))
            }
            out += tokens[n - 1]
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        let name = Identifier.canonical(out)
        if let why = Identifier.validateUserName(name) { return .failure(.unroutable(subject, "table '\(name)': \(why)")) }
        return .success(name)
    }
}

public enum ConsumeError: Error, Sendable, Equatable, CustomStringConvertible {
    case badTable(String, String)
    case unroutable(String, String)
    case badOption(String)

    public var description: String {
        switch self {
        case .badTable(let t, let why): "--table '\(t)' is not usable: \(why)"
        case .unroutable(let subject, let why): "subject '\(subject)' routes to no table: \(why)"
        case .badOption(let why): why
        }
    }
}

/// A worker on one durable JetStream consumer: fetch a batch, group it by table, ingest
/// each group through the engine (the same path as a file: validation, parking, repair),
/// commit the sequences with the rows, and ack only after the commit.
///
/// Exactly once: a message redelivered after a crash (or to another worker) is checked
/// against the committed ranges and acked without loading; a copy that races with
/// another worker's commit is refused inside the transaction (`StreamAlreadyCommitted`).
public final class StreamConsumer: Sendable {
    let engine: Engine
    public let options: ConsumeOptions
    let route: TableRoute
    private let stopping = NIOLockedValueBox(false)
    /// Where the retry lines go (standard error in `mend consume`).
    let log: @Sendable (String) -> Void

    /// `log` takes the retry lines; nil: standard error.
    public init(engine: Engine, options: ConsumeOptions, log: (@Sendable (String) -> Void)? = nil) throws(ConsumeError) {
        if let b = options.batch, b < 1 { throw .badOption("--batch must be at least 1") }
        if let idle = options.stopWhenIdle, idle <= 0 { throw .badOption("--stop-when-idle takes seconds above 0") }
        if options.retryFor < 0 { throw .badOption("--retry-for takes seconds, 0 or more") }
        self.engine = engine
        self.options = options
        self.log = log ?? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        route = try TableRoute(options.table)
    }

    /// Stops fetching; the batch in flight still commits and is acked.
    public func stop() { stopping.withLockedValue { $0 = true } }
    var isStopping: Bool { stopping.withLockedValue { $0 } }

    public func run(progress: (@Sendable (ConsumeSummary) -> Void)? = nil) async throws -> ConsumeSummary {
        let started = Date()
        do {
            try await engine.bootstrap()
            try await engine.state.transaction { tx in try await tx.ensureStreamTables() }
        } catch {
            // Workers started together on a new database race to create its schemas and
            // tables (PostgreSQL's IF NOT EXISTS is not atomic): the loser tries again once.
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...600)))
            try await engine.bootstrap()
            try await engine.state.transaction { tx in try await tx.ensureStreamTables() }
        }
        // A fetch commits as one engine batch, so the engine's size fits both (measured in
        // docs/benchmarks.md: larger fetches split into several commits were slower).
        let engineBatch = await engine.batchSize
        let batch = options.batch ?? engineBatch
        await engine.setBatchSize(batch)
        let settings = JetStreamClient.ConsumerSettings(
            filterSubject: options.subject, ackWait: options.ackWait, maxAckPending: max(1000, batch * 8))
        let client = try await connect(settings)
        var summary = ConsumeSummary(stream: options.stream, consumer: options.consumer)
        var tables = Set<String>()
        var lastMessage = Date()
        var lastPrune = Date.distantPast
        let wait = options.fetchWait
        // The next batch is fetched while this one commits; at a stop it is handed back (nak).
        var fetching: Task<Fetched, any Error>? = Task { try await self.fetch(client, batch: batch, wait: wait) }
        defer { fetching?.cancel() }
        while let pending = fetching {
            let fetched = try await pending.value
            let messages = fetched.messages
            if isStopping {
                noteAckFailures(await client.drainAcks())
                await client.nak(messages)
                summary.stoppedBy = "shutdown"
                fetching = nil
                break
            }
            // Time without a server is not idleness: the idle clock starts again when it is back.
            if fetched.recovered { lastMessage = Date() }
            fetching = Task { try await self.fetch(client, batch: batch, wait: wait) }
            if messages.isEmpty {
                if let idle = options.stopWhenIdle, Date().timeIntervalSince(lastMessage) >= idle {
                    let leftover = try await fetching?.value ?? Fetched(messages: [], recovered: false)
                    if !leftover.messages.isEmpty || leftover.recovered {
                        // A message came while deciding to stop (or the server was away): not idle after all.
                        fetching = Task { leftover }
                        continue
                    }
                    summary.stoppedBy = "idle"
                    fetching = nil
                    break
                }
                continue
            }
            lastMessage = Date()
            try await process(messages, client: client, summary: &summary, tables: &tables)
            summary.lastCommitAt = Date().timeIntervalSince1970
            progress?(summary)
            if Date().timeIntervalSince(lastPrune) > 5 {
                lastPrune = Date()
                try await prune(client)
            }
        }
        // Every ack out before the summary: a clean stop leaves nothing for redelivery.
        noteAckFailures(await client.drainAcks())
        try? await prune(client)
        summary.tables = tables.sorted()
        for t in summary.tables {
            summary.pendingApproval += try await engine.state.transaction { tx in
                try await tx.incidents(table: t, status: .pendingApproval).map(\.id)
            }
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// What one fetch brought, and whether it came only after failed tries.
    struct Fetched: Sendable {
        var messages: [JetStreamMessage]
        var recovered: Bool
    }

    /// One fetch. A fetch that fails (the server restarting, the consumer being bound again)
    /// is tried again after a backoff with jitter, with one line per attempt on the log, until
    /// it works, a stop comes (then nothing is fetched), or `retryFor` seconds have passed
    /// since the first failure (then the worker gives up with an error that says what to check).
    private func fetch(_ client: JetStreamClient, batch: Int, wait: Double) async throws -> Fetched {
        var backoff: Backoff?
        while true {
            do throws(JetStreamError) {
                let messages = try await client.fetch(batch: batch, timeout: wait)
                if let b = backoff {
                    log("mend consume: fetching from NATS works again after \(b.attempts) failed attempts")
                }
                return Fetched(messages: messages, recovered: backoff != nil)
            } catch {
                guard error.isRetryable else { throw error }
                if isStopping { return Fetched(messages: [], recovered: false) }
                var b = backoff ?? Backoff(budget: options.retryFor)
                guard let delay = b.next() else {
                    throw JetStreamError.gaveUp(
                        url: options.url, stream: client.stream, consumer: client.consumer, seconds: b.elapsed, attempts: b.attempts,
                        last: error.description)
                }
                backoff = b
                logRetry(error, delay: delay, backoff: b)
                try await pause(delay)
            }
        }
    }

    /// Connects and binds the consumer. A server that cannot be reached is tried again for up
    /// to `startupWindow` seconds (within `retryFor`), one line per attempt, as a Kafka worker
    /// waits 10 s for its first metadata: one refused or slow handshake (a busy host) is not a
    /// wrong address, and a wrong address should not wait minutes. Anything else (a malformed
    /// URL, no such stream, a consumer set up otherwise) fails at once.
    private func connect(_ settings: JetStreamClient.ConsumerSettings) async throws -> JetStreamClient {
        var backoff = Backoff(budget: min(options.retryFor, Self.startupWindow))
        while true {
            do throws(JetStreamError) {
                return try await JetStreamClient.connect(
                    url: options.url, stream: options.stream, consumer: options.consumer, settings: settings)
            } catch {
                guard case .connect = error, !isStopping, let delay = backoff.next() else { throw error }
                logRetry(error, delay: delay, backoff: backoff)
                try await pause(delay)
            }
        }
    }

    static let startupWindow = 10.0

    /// One redacted line per failed attempt: what failed, when the next try comes, and how much of the budget is left.
    private func logRetry(_ error: JetStreamError, delay: Double, backoff b: Backoff) {
        log(
            "mend consume: attempt \(b.attempts) failed: \(JetStreamClient.redactAll(error.description)); retrying in "
                + String(
                    format: "%.1f s (%.0f of %.0f s left)", delay, max(0, b.budget - b.elapsed), b.budget))
    }

    /// Sleeps, cut short by a stop (checked every 100 ms) and by cancellation of the task.
    private func pause(_ seconds: Double) async throws {
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while !isStopping, ContinuousClock.now < end {
            try await Task.sleep(for: min(.milliseconds(100), end - ContinuousClock.now))
        }
    }

    /// Acks that could not be sent are not an error: the server redelivers those messages
    /// after AckWait and the committed ranges skip them. Said once per occasion.
    private func noteAckFailures(_ failed: Int) {
        guard failed > 0 else { return }
        log("mend consume: \(failed) acks could not be sent to NATS; those messages come back after AckWait and are skipped as committed")
    }

    /// Drops the committed ranges the server will never redeliver (at or below its ack floor).
    /// Housekeeping: while the server is away it waits for the next round.
    private func prune(_ client: JetStreamClient) async throws {
        guard let floor = try? await client.consumerState().ackFloor, floor > 0 else { return }
        let (stream, consumer) = (client.stream, client.consumer)
        // Kept for ten AckWaits past the floor: a copy redelivered before the first copy's late
        // ack may still be in a fetched batch (the clean-clone run loaded such a copy twice).
        let age = max(60, options.ackWait * 10)
        try await engine.state.transaction { tx in
            try await tx.pruneStreamCommits(stream: stream, consumer: consumer, atOrBelow: floor, olderThan: age)
        }
    }

    /// One fetched batch: skip what is committed, route the rest, ingest each table's share.
    func process(
        _ fetched: [JetStreamMessage], client: JetStreamClient, summary: inout ConsumeSummary, tables: inout Set<String>
    ) async throws {
        summary.messages += Int64(fetched.count)
        let (stream, consumer) = (client.stream, client.consumer)
        var messages = fetched
        // A redelivery (NumDelivered > 1) may be a message whose batch committed before the
        // worker died, before its ack: look it up in the committed ranges.
        let redelivered = messages.filter { $0.deliveries > 1 }.map(\.sequence)
        if !redelivered.isEmpty {
            let done = try await engine.state.transaction { tx in
                try await tx.committedSequences(stream: stream, consumer: consumer, among: redelivered)
            }
            if !done.isEmpty {
                noteAckFailures(await client.ack(messages.filter { done.contains($0.sequence) }))
                summary.alreadyCommitted += Int64(done.count)
                messages.removeAll { done.contains($0.sequence) }
            }
        }
        // Keep AckWait from expiring while the batch validates, commits and repairs.
        let heartbeat = inProgressHeartbeat(messages, client: client)
        defer { heartbeat.cancel() }
        var groups: [(String, [JetStreamMessage])] = []
        var index: [String: Int] = [:]
        var unroutable: [(JetStreamMessage, ConsumeError)] = []
        for m in messages {
            switch route.table(for: m.subject) {
            case .success(let t):
                if let i = index[t] {
                    groups[i].1.append(m)
                } else {
                    index[t] = groups.count
                    groups.append((t, [m]))
                }
            case .failure(let why): unroutable.append((m, why))
            }
        }
        if !unroutable.isEmpty { try await quarantineUnroutable(unroutable, client: client, summary: &summary) }
        for (table, group) in groups {
            tables.insert(table)
            try await ingest(group, table: table, client: client, summary: &summary)
        }
    }

    /// Ingests one table's messages. If another worker committed some of them first (its
    /// copy was redelivered while this one worked), the batch rolled back: ack those as
    /// committed and ingest the rest again.
    private func ingest(_ group: [JetStreamMessage], table: String, client: JetStreamClient, summary: inout ConsumeSummary)
        async throws
    {
        var remaining = group
        while !remaining.isEmpty {
            let source = JetStreamSource(messages: remaining, client: client)
            do {
                let s = try await engine.ingest(source: source, table: table, resume: false, actor: "nats:\(client.consumer)")
                summary.loaded += s.loaded
                summary.parked += s.parked
                summary.quarantined += s.quarantined
                summary.coerced += s.coerced
                summary.repaired += s.repaired
                summary.incidentsOpened += s.incidentsOpened
                return
            } catch let taken as StateTransaction.StreamAlreadyCommitted {
                let skip = Set(taken.sequences)
                let rest = remaining.dropFirst(source.acknowledgedCount)
                noteAckFailures(await client.ack(rest.filter { skip.contains($0.sequence) }))
                summary.alreadyCommitted += Int64(skip.count)
                remaining = rest.filter { !skip.contains($0.sequence) }
            }
        }
    }

    /// A subject that names no table: quarantined (and acked) like any record Mend cannot
    /// take, under the --table template's name, so it is never redelivered forever.
    private func quarantineUnroutable(
        _ items: [(JetStreamMessage, ConsumeError)], client: JetStreamClient, summary: inout ConsumeSummary
    ) async throws {
        let name = "nats:\(client.stream)"
        let table = Identifier.canonical(options.table)
        let records = items.map { m, why in
            QuarantinedRecord(
                table: table, source: name, line: Int64(m.sequence), raw: String(decoding: m.payload, as: UTF8.self),
                reason: "sequence \(m.sequence): \(why)")
        }
        let (stream, consumer) = (client.stream, client.consumer)
        let sequences = items.map(\.0.sequence)
        try await engine.state.transaction { tx in
            try await tx.quarantine(records)
            try await tx.commitStreamSequences(stream: stream, consumer: consumer, sequences)
        }
        noteAckFailures(await client.ack(items.map(\.0)))
        summary.quarantined += Int64(items.count)
    }

    /// Sends in-progress acks every third of AckWait until cancelled.
    private func inProgressHeartbeat(_ messages: [JetStreamMessage], client: JetStreamClient) -> Task<Void, Never> {
        let every = max(0.5, options.ackWait / 3)
        return Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(every))
                if Task.isCancelled { return }
                await client.inProgress(messages)
            }
        }
    }
}
