import Foundation
import MendCore
public import MendPipeline
import MendStore
import NIOConcurrencyHelpers

/// What `mend consume kafka://…` is told.
public struct KafkaConsumeOptions: Sendable {
    public var config: KafkaConfig
    /// Topic names, or one regular expression when `pattern` is true.
    public var topics: [String]
    public var pattern: Bool
    public var group: String
    /// The target table, or a template: `{topic}` is the topic's name normalized as an
    /// identifier, so `orders.v1` goes to `orders_v1`.
    public var table: String
    /// Messages per poll; each (table, partition) share of a poll commits in one
    /// transaction. Nil: `KafkaConsumer.sharesPerPoll` times the engine's batch size (15,000
    /// on SQLite, 60,000 on PostgreSQL), so that a share is about a file ingest's batch.
    public var batch: Int?
    /// Stop once no message arrived for this long (tests, backfills); nil: run until stopped.
    public var stopWhenIdle: Double?
    /// How long one poll waits for a first message: the bound on noticing a stop request.
    public var pollWait: Double
    /// Seconds without a reachable broker before the worker gives up and exits non-zero.
    public var retryFor: Double

    public init(
        config: KafkaConfig, topics: [String], pattern: Bool = false, group: String, table: String, batch: Int? = nil,
        stopWhenIdle: Double? = nil, pollWait: Double = 1, retryFor: Double = 300
    ) {
        self.config = config
        self.topics = topics
        self.pattern = pattern
        self.group = group
        self.table = table
        self.batch = batch
        self.stopWhenIdle = stopWhenIdle
        self.pollWait = pollWait
        self.retryFor = retryFor
    }
}

/// What `mend consume kafka://…` reports when it stops.
public struct KafkaConsumeSummary: Sendable, Codable, Equatable {
    public var brokers: String
    public var group: String
    public var topics: [String]
    public var messages: Int64 = 0
    public var loaded: Int64 = 0
    public var parked: Int64 = 0
    public var quarantined: Int64 = 0
    public var coerced: Int64 = 0
    /// Messages with a null value: counted, skipped, their offsets committed.
    public var tombstones: Int64 = 0
    /// Messages found already in the warehouse (read again after a rebalance or a crash): not loaded again.
    public var alreadyCommitted: Int64 = 0
    public var repaired: Int64 = 0
    public var incidentsOpened: Int64 = 0
    public var rebalances: Int = 0
    public var tables: [String] = []
    public var pendingApproval: [Int64] = []
    /// Why it stopped: "idle" or "shutdown".
    public var stoppedBy: String = ""
    public var seconds: Double = 0
    /// Unix time when the last batch was committed (0: none): with --stop-when-idle the
    /// process exits later, so rates are measured to here.
    public var lastCommitAt: Double = 0
}

/// Where `--table` sends a message, from its topic.
public struct KafkaTableRoute: Sendable, Equatable {
    public let template: String

    public init(_ template: String) throws(KafkaError) {
        self.template = template
        let probe = template.replacingOccurrences(of: "{topic}", with: "")
        if probe.contains("{") || probe.contains("}") {
            throw .badOption(
                "--table '\(template)' is not usable: the only placeholder is {topic} (for example --table '{topic}' or raw_{topic})")
        }
        if !template.contains("{topic}"), let why = Identifier.validateUserName(Identifier.canonical(template)) {
            throw .badOption("--table '\(template)' is not usable: \(why)")
        }
    }

    /// The table for a topic, or why there is none.
    public func table(for topic: String) -> Result<String, KafkaError> {
        let name = Identifier.canonical(template.replacingOccurrences(of: "{topic}", with: Identifier.normalize(topic)))
        if let why = Identifier.validateUserName(name) { return .failure(.unroutable(topic, "table '\(name)': \(why)")) }
        return .success(name)
    }
}

/// A member of a Kafka consumer group: poll a batch, split it by partition, ingest each
/// partition's share through the engine (the same path as a file: validation, parking,
/// repair), commit its offsets as ranges with the rows, and only then commit them to Kafka.
///
/// Exactly once: the warehouse is the source of truth for offsets. A partition assigned to
/// this member starts after the last offset the warehouse holds for (group, topic,
/// partition); a message read again anyway (an old owner's batch racing a new owner's) is
/// refused inside the transaction and skipped. Before a partition is given up in a
/// rebalance, the batch in flight for it commits.
public final class KafkaConsumer: Sendable {
    let engine: Engine
    public let options: KafkaConsumeOptions
    let route: KafkaTableRoute
    private let stopping = NIOLockedValueBox(false)
    /// Partitions of the batch in flight: a revocation waits until it committed.
    private let inFlight = NIOLockedValueBox(Set<TopicPartition>())
    /// Per assigned partition, the highest offset the warehouse holds (-1: none), read at
    /// assignment and raised by each commit: messages at or below it are skipped unread.
    private let floors = NIOLockedValueBox([TopicPartition: Int64]())
    /// Where the operational lines go (standard error in `mend consume`).
    let log: @Sendable (String) -> Void

    /// `log` takes the operational lines; nil: standard error.
    public init(engine: Engine, options: KafkaConsumeOptions, log: (@Sendable (String) -> Void)? = nil) throws(KafkaError) {
        if let b = options.batch, b < 1 { throw .badOption("--batch must be at least 1") }
        if let idle = options.stopWhenIdle, idle <= 0 { throw .badOption("--stop-when-idle takes seconds above 0") }
        if options.retryFor < 0 { throw .badOption("--retry-for takes seconds, 0 or more") }
        if options.group.isEmpty { throw .badOption("--group names the consumer group; members with the same group share the partitions") }
        if options.topics.isEmpty || options.topics.contains(where: \.isEmpty) {
            throw .badOption("name the topics: --topic T (repeatable) or --topic-pattern REGEX")
        }
        self.engine = engine
        self.options = options
        self.log = log ?? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        route = try KafkaTableRoute(options.table)
    }

    /// Stops polling; the batch in flight still commits.
    public func stop() { stopping.withLockedValue { $0 = true } }
    var isStopping: Bool { stopping.withLockedValue { $0 } }

    public func run(progress: (@Sendable (KafkaConsumeSummary) -> Void)? = nil) async throws -> KafkaConsumeSummary {
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
        let engineBatch = await engine.batchSize
        let batch = options.batch ?? engineBatch * Self.sharesPerPoll
        await engine.setBatchSize(batch)
        let client = try await KafkaClient.connect(
            config: options.config, group: options.group, topics: options.topics, pattern: options.pattern, hooks: hooks(), log: log)
        var summary = KafkaConsumeSummary(brokers: options.config.brokers, group: options.group, topics: options.topics)
        do {
            try await consume(client, batch: batch, summary: &summary, progress: progress)
        } catch {
            await client.close()
            throw error
        }
        // Leaves the group: the partitions go to the other members now, not after a session timeout.
        await client.close()
        try? await prune()
        summary.rebalances = client.rebalances
        for t in summary.tables {
            summary.pendingApproval += try await engine.state.transaction { tx in
                try await tx.incidents(table: t, status: .pendingApproval).map(\.id)
            }
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// The rebalance hooks: where an assigned partition starts, and the wait before one goes.
    private func hooks() -> RebalanceHooks {
        let (engine, group, floors, inFlight) = (self.engine, options.group, self.floors, self.inFlight)
        return RebalanceHooks(
            assigned: { partitions in
                let start = try await engine.state.transaction { tx in try await tx.kafkaStartOffsets(partitions, group: group) }
                floors.withLockedValue { f in
                    for tp in partitions { f[tp] = (start[tp] ?? 0) - 1 }
                }
                return start
            },
            revoking: { partitions in
                let gone = Set(partitions)
                // Bounded: a batch that cannot commit within ten minutes has failed the worker anyway.
                let end = ContinuousClock.now + .seconds(600)
                while !inFlight.withLockedValue({ $0.isDisjoint(with: gone) }), ContinuousClock.now < end {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                floors.withLockedValue { f in
                    for tp in partitions { f[tp] = nil }
                }
            })
    }

    private func consume(
        _ client: KafkaClient, batch: Int, summary: inout KafkaConsumeSummary, progress: (@Sendable (KafkaConsumeSummary) -> Void)?
    ) async throws {
        var tables = Set<String>()
        var lastMessage = Date()
        var lastPrune = Date()
        let wait = options.pollWait
        // The next batch is polled while this one commits; at a stop it is not loaded (its
        // offsets are not committed, so the partition's next owner reads it).
        var polling: Task<Polled, any Error>? = Task { try await self.poll(client, batch: batch, wait: wait) }
        defer { polling?.cancel() }
        while let pending = polling {
            let polled = try await pending.value
            if isStopping {
                summary.stoppedBy = "shutdown"
                polling = nil
                break
            }
            // Time without a broker is not idleness: the idle clock starts again when one answers.
            // Nor is a wait for partitions or for the first fetches after joining, a rebalance or
            // an outage, up to `joinGrace`: only a worker that has read every partition it holds
            // to its end is idle (or, after the grace, one that was given nothing).
            if polled.brokerAway || client.settling(within: Self.joinGrace) {
                lastMessage = Date()
            }
            let messages = polled.messages
            // Marked before the next poll starts: a revocation in that poll waits for this batch.
            inFlight.withLockedValue { $0 = Set(messages.map(\.topicPartition)) }
            polling = Task { try await self.poll(client, batch: batch, wait: wait) }
            if messages.isEmpty {
                if let idle = options.stopWhenIdle, Date().timeIntervalSince(lastMessage) >= idle {
                    let leftover = try await polling?.value ?? Polled(messages: [], brokerAway: false)
                    if !leftover.messages.isEmpty || leftover.brokerAway {
                        // A message came while deciding to stop (or no broker answered): not idle after all.
                        polling = Task { leftover }
                        continue
                    }
                    summary.stoppedBy = "idle"
                    polling = nil
                    break
                }
                continue
            }
            lastMessage = Date()
            do {
                try await process(messages, client: client, summary: &summary, tables: &tables)
            } catch {
                inFlight.withLockedValue { $0 = [] }
                throw error
            }
            inFlight.withLockedValue { $0 = [] }
            summary.lastCommitAt = Date().timeIntervalSince1970
            summary.tables = tables.sorted()
            summary.rebalances = client.rebalances
            progress?(summary)
            if Date().timeIntervalSince(lastPrune) > 10 {
                lastPrune = Date()
                try await prune()
            }
        }
        summary.tables = tables.sorted()
    }

    /// A poll is split by partition and each share is one engine ingest, so a poll of the
    /// engine's batch made transactions a third of a file ingest's on a 3-partition topic.
    /// Measured (1,000,000 records, 3 partitions, PostgreSQL fsync on, docs/benchmarks.md):
    /// polls of 60,000 loaded in 7.86 and 8.25 s, of 20,000 in 9.42 and 9.51 s, of 2,000 in 12.39 s.
    public static let sharesPerPoll = 3

    /// Seconds the idle clock of --stop-when-idle waits for partitions (after joining, a
    /// rebalance or an outage) before it counts a member holding none as idle.
    public static let joinGrace: Double = 30

    /// What one poll brought, and whether no broker was reachable meanwhile.
    struct Polled: Sendable {
        var messages: [KafkaMessage]
        var brokerAway: Bool
    }

    /// One poll. librdkafka reconnects by itself; a worker that has had no reachable broker
    /// for `retryFor` seconds gives up with an error that says what to check.
    private func poll(_ client: KafkaClient, batch: Int, wait: Double) async throws -> Polled {
        let messages = try await client.poll(batch: batch, timeout: wait)
        guard messages.isEmpty, let away = client.unreachable else { return Polled(messages: messages, brokerAway: false) }
        if away.seconds > options.retryFor { throw KafkaError.gaveUp(brokers: client.brokers, seconds: away.seconds, last: away.why) }
        return Polled(messages: [], brokerAway: true)
    }

    /// After a partition's batch committed: raise its floor and tell Kafka (for lag tools).
    private func committed(_ client: KafkaClient, _ tp: TopicPartition, _ offset: Int64) {
        floors.withLockedValue { f in
            if let old = f[tp] { f[tp] = max(old, offset) }
        }
        client.commitLater([tp: offset + 1])
    }

    /// Drops the committed ranges below each held partition's last batch that are a minute
    /// old: the highest committed offset guards everything below it (KafkaSource's commit).
    private func prune() async throws {
        let held = floors.withLockedValue { $0 }.filter { $0.value > 0 }
        guard !held.isEmpty else { return }
        let group = options.group
        try await engine.state.transaction { tx in
            for (tp, floor) in held {
                try await tx.pruneStreamCommits(stream: tp.sourceName, consumer: group, atOrBelow: UInt64(floor - 1), olderThan: 60)
            }
        }
    }

    /// One polled batch: split it by partition (in the order polled), skip what the
    /// warehouse holds, ingest each partition's share into its topic's table.
    func process(_ messages: [KafkaMessage], client: KafkaClient, summary: inout KafkaConsumeSummary, tables: inout Set<String>)
        async throws
    {
        summary.messages += Int64(messages.count)
        var groups: [(TopicPartition, [KafkaMessage])] = []
        var index: [TopicPartition: Int] = [:]
        for m in messages {
            let tp = m.topicPartition
            if let i = index[tp] {
                groups[i].1.append(m)
            } else {
                index[tp] = groups.count
                groups.append((tp, [m]))
            }
        }
        let known = floors.withLockedValue { $0 }
        for (tp, all) in groups {
            let floor = known[tp] ?? -1
            let fresh = all.filter { $0.offset > floor }
            summary.alreadyCommitted += Int64(all.count - fresh.count)
            if fresh.isEmpty { continue }
            switch route.table(for: tp.topic) {
            case .success(let table):
                tables.insert(table)
                try await ingest(fresh, partition: tp, table: table, client: client, summary: &summary)
            case .failure(let why):
                try await quarantineUnroutable(fresh, partition: tp, why: why, client: client, summary: &summary)
            }
        }
    }

    /// Ingests one partition's messages into its table. If another member committed some of
    /// them first (it owned the partition before this one, and its batch was still in
    /// flight), the batch rolled back: skip those and ingest the rest again.
    private func ingest(
        _ messages: [KafkaMessage], partition tp: TopicPartition, table: String, client: KafkaClient, summary: inout KafkaConsumeSummary
    ) async throws {
        let group = options.group
        let done: @Sendable (TopicPartition, Int64) -> Void = { [self] tp, offset in committed(client, tp, offset) }
        var remaining = messages
        while !remaining.isEmpty {
            let source = KafkaSource(partition: tp, messages: remaining, group: group, committed: done)
            do {
                if source.recordCount == 0 {
                    // Only tombstones: nothing for the engine, but their offsets commit.
                    let offsets = remaining.map(\.offset)
                    try await engine.state.transaction { tx in try await tx.commitKafkaOffsets(tp, group: group, offsets) }
                    if let last = offsets.last { done(tp, last) }
                } else {
                    let s = try await engine.ingest(source: source, table: table, resume: false, actor: "kafka:\(group)")
                    summary.loaded += s.loaded
                    summary.parked += s.parked
                    summary.quarantined += s.quarantined
                    summary.coerced += s.coerced
                    summary.repaired += s.repaired
                    summary.incidentsOpened += s.incidentsOpened
                }
                summary.tombstones += Int64(remaining.count - source.recordCount)
                return
            } catch let taken as KafkaOffsetsAlreadyCommitted {
                let skip = Set(taken.offsets)
                let rest = remaining.dropFirst(source.acknowledgedMessages)
                summary.tombstones += Int64(remaining.prefix(source.acknowledgedMessages).filter { $0.payload == nil }.count)
                summary.alreadyCommitted += Int64(rest.filter { skip.contains($0.offset) }.count)
                remaining = rest.filter { !skip.contains($0.offset) }
            }
        }
    }

    /// A topic that names no table: its records are quarantined (and committed) like any
    /// record Mend cannot take, under the --table template's name, so they are never read
    /// again forever.
    private func quarantineUnroutable(
        _ messages: [KafkaMessage], partition tp: TopicPartition, why: KafkaError, client: KafkaClient, summary: inout KafkaConsumeSummary
    ) async throws {
        let table = Identifier.canonical(options.table)
        let group = options.group
        var remaining = messages
        while !remaining.isEmpty {
            let batch = remaining
            let records = batch.compactMap { m in
                m.payload.map {
                    QuarantinedRecord(
                        table: table, source: tp.sourceName, line: m.offset, raw: String(decoding: $0, as: UTF8.self),
                        reason: "\(tp):\(m.offset): \(why)")
                }
            }
            do {
                try await engine.state.transaction { tx in
                    try await tx.quarantine(records)
                    try await tx.commitKafkaOffsets(tp, group: group, batch.map(\.offset))
                }
                if let last = batch.last { committed(client, tp, last.offset) }
                summary.quarantined += Int64(records.count)
                summary.tombstones += Int64(batch.count - records.count)
                return
            } catch let taken as KafkaOffsetsAlreadyCommitted {
                let skip = Set(taken.offsets)
                summary.alreadyCommitted += Int64(skip.count)
                remaining = batch.filter { !skip.contains($0.offset) }
            }
        }
    }
}
