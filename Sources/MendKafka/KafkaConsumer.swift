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
    /// Messages per poll; each table's share of a poll (every partition routed to it) commits
    /// in one transaction. Nil: `KafkaConsumer.batchesPerPoll` times the engine's batch size
    /// (15,000 on SQLite, 60,000 on PostgreSQL).
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

/// A member of a Kafka consumer group: poll a batch, split it by table, ingest each table's
/// share through the engine (the same path as a file: validation, parking, repair), commit
/// the offsets of each of its partitions as ranges with the rows, and only then commit them
/// to Kafka. The next poll's shares are parsed and validated while the current one commits.
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
        let batch = options.batch ?? engineBatch * Self.batchesPerPoll
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
            // Marked before the next poll starts: a revocation in that poll waits for this batch.
            inFlight.withLockedValue { $0 = polled.partitions }
            polling = Task { try await self.poll(client, batch: batch, wait: wait) }
            if polled.count == 0 {
                if let idle = options.stopWhenIdle, Date().timeIntervalSince(lastMessage) >= idle {
                    let leftover = try await polling?.value ?? Polled()
                    if leftover.count > 0 || leftover.brokerAway {
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
                try await process(polled, client: client, summary: &summary, tables: &tables)
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

    /// A poll is this many engine batches by default: each table's share of it is one engine
    /// ingest, one transaction (docs/benchmarks.md, Kafka).
    public static let batchesPerPoll = 3

    /// Seconds the idle clock of --stop-when-idle waits for partitions (after joining, a
    /// rebalance or an outage) before it counts a member holding none as idle.
    public static let joinGrace: Double = 30

    /// What one poll brought, split into shares, and whether no broker was reachable meanwhile.
    struct Polled: Sendable {
        var count = 0
        /// The partitions of every message polled.
        var partitions = Set<TopicPartition>()
        var shares: [Share] = []
        /// Messages at or below their partition's committed offset: skipped unread.
        var alreadyCommitted = 0
        var brokerAway = false
    }

    /// A poll's messages for one table: those of every partition routed to it, one engine
    /// ingest and one transaction, with each partition's offsets. One partition's only for a
    /// table with child tables (a record's child ids name its source when it has no key) and
    /// for a topic that routes to no table.
    struct Share: Sendable {
        var messages: [KafkaMessage]
        var route: Result<String, KafkaError>
        /// Its reader, started on the poll's side while the previous poll commits (nil: the
        /// ingest reads at its turn).
        var started: StartedIngest<KafkaSource>? = nil
    }

    /// One poll, split into shares whose readers start at once. librdkafka reconnects by
    /// itself; a worker that has had no reachable broker for `retryFor` seconds gives up with
    /// an error that says what to check.
    private func poll(_ client: KafkaClient, batch: Int, wait: Double) async throws -> Polled {
        let messages = try await client.poll(batch: batch, timeout: wait)
        guard messages.isEmpty else { return await split(messages, client: client) }
        guard let away = client.unreachable else { return Polled() }
        if away.seconds > options.retryFor { throw KafkaError.gaveUp(brokers: client.brokers, seconds: away.seconds, last: away.why) }
        return Polled(brokerAway: true)
    }

    /// Splits a poll by partition (in the order polled), skips what the warehouse holds, and
    /// gathers the partitions of each table into its share; each share's reader starts parsing
    /// and validating now, while the previous poll commits.
    private func split(_ messages: [KafkaMessage], client: KafkaClient) async -> Polled {
        var polled = Polled(count: messages.count)
        var groups: [(tp: TopicPartition, messages: [KafkaMessage])] = []
        var index: [TopicPartition: Int] = [:]
        var last = -1
        for m in messages {
            // Consecutive messages mostly share a partition: compared before hashed.
            if last >= 0, groups[last].tp.partition == m.partition, groups[last].tp.topic == m.topic {
                groups[last].messages.append(m)
                continue
            }
            let tp = m.topicPartition
            if let i = index[tp] {
                last = i
            } else {
                last = groups.count
                index[tp] = last
                groups.append((tp, []))
            }
            groups[last].messages.append(m)
        }
        polled.partitions = Set(groups.map(\.tp))
        let known = floors.withLockedValue { $0 }
        let policy = await engine.policy
        var byTable: [String: Int] = [:]
        for (tp, all) in groups {
            let floor = known[tp] ?? -1
            let fresh = all.first.map { $0.offset > floor } == true ? all : all.filter { $0.offset > floor }
            polled.alreadyCommitted += all.count - fresh.count
            if fresh.isEmpty { continue }
            let route = route.table(for: tp.topic)
            guard case .success(let table) = route, policy.nesting(table: table) == nil else {
                polled.shares.append(Share(messages: fresh, route: route))
                continue
            }
            if let i = byTable[table] {
                polled.shares[i].messages += fresh
            } else {
                byTable[table] = polled.shares.count
                polled.shares.append(Share(messages: fresh, route: route))
            }
        }
        let actor = "kafka:\(options.group)"
        for i in polled.shares.indices {
            guard case .success(let table) = polled.shares[i].route, byTable[table] == i else { continue }
            let source = source(polled.shares[i].messages, client: client)
            // No record (only tombstones): nothing to read. A failure here (the table's schema
            // unreadable) is met again, and said, when the share's turn comes.
            if source.recordCount > 0 {
                polled.shares[i].started = try? await engine.startIngest(source: source, table: table, actor: actor)
            }
        }
        return polled
    }

    /// A share's messages as a record source that reports each commit back.
    private func source(_ messages: [KafkaMessage], client: KafkaClient) -> KafkaSource {
        KafkaSource(messages: messages, group: options.group) { [self] tp, offset in committed(client, tp, offset) }
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

    /// One polled batch, share after share.
    func process(_ polled: Polled, client: KafkaClient, summary: inout KafkaConsumeSummary, tables: inout Set<String>) async throws {
        summary.messages += Int64(polled.count)
        summary.alreadyCommitted += Int64(polled.alreadyCommitted)
        for share in polled.shares {
            switch share.route {
            case .success(let table):
                tables.insert(table)
                try await ingest(share, table: table, client: client, summary: &summary)
            case .failure(let why):
                try await quarantineUnroutable(share.messages, why: why, client: client, summary: &summary)
            }
        }
    }

    /// Ingests one share's messages into its table. If another member committed some of
    /// them first (it owned a partition before this one, and its batch was still in
    /// flight), the batch rolled back: skip those and ingest the rest again.
    private func ingest(_ share: Share, table: String, client: KafkaClient, summary: inout KafkaConsumeSummary) async throws {
        let group = options.group
        var remaining = share.messages
        var started = share.started
        while !remaining.isEmpty {
            let source = started?.source ?? source(remaining, client: client)
            do {
                if source.recordCount == 0 {
                    // Only tombstones: nothing for the engine, but their offsets commit.
                    let byPartition = source.offsetsByPartition
                    try await engine.state.transaction { tx in
                        for (tp, offsets) in byPartition { try await tx.commitKafkaOffsets(tp, group: group, offsets) }
                    }
                    for (tp, offsets) in byPartition {
                        if let last = offsets.last { committed(client, tp, last) }
                    }
                } else {
                    let s: IngestSummary
                    if let started {
                        s = try await engine.ingest(started: started)
                    } else {
                        s = try await engine.ingest(source: source, table: table, resume: false, actor: "kafka:\(group)")
                    }
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
                started = nil
                let skip = Set(taken.offsets)
                let rest = remaining.dropFirst(source.acknowledgedMessages)
                summary.tombstones += Int64(remaining.prefix(source.acknowledgedMessages).filter { $0.payload == nil }.count)
                let isTaken = { (m: KafkaMessage) in
                    m.partition == taken.partition.partition && m.topic == taken.partition.topic && skip.contains(m.offset)
                }
                summary.alreadyCommitted += Int64(rest.filter(isTaken).count)
                remaining = rest.filter { !isTaken($0) }
            }
        }
    }

    /// A topic that names no table: its records are quarantined (and committed) like any
    /// record Mend cannot take, under the --table template's name, so they are never read
    /// again forever.
    private func quarantineUnroutable(
        _ messages: [KafkaMessage], why: KafkaError, client: KafkaClient, summary: inout KafkaConsumeSummary
    ) async throws {
        guard let tp = messages.first?.topicPartition else { return }
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
