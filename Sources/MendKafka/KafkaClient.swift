import CRdKafka
import Dispatch
import Foundation
import NIOConcurrencyHelpers

/// What can go wrong talking to Kafka, each case saying what to check.
public enum KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    case badURL(String, String)
    case config(String)
    case badOption(String)
    /// A topic whose name gives no usable table under the --table template.
    case unroutable(String, String)
    case connect(brokers: String, detail: String)
    case topicNotFound(String, brokers: String)
    case subscribe(String)
    /// librdkafka raised a fatal error: this consumer cannot go on.
    case fatal(String)
    /// The partitions were assigned but their committed positions could not be read.
    case assignment(String)
    /// Every broker stayed unreachable for the whole retry budget (`--retry-for`).
    case gaveUp(brokers: String, seconds: Double, last: String)

    public var description: String {
        switch self {
        case .badURL(let url, let why): "cannot use Kafka URL '\(url)': \(why)"
        case .config(let why), .badOption(let why): why
        case .unroutable(let topic, let why): "topic '\(topic)' routes to no table: \(why)"
        case .connect(let brokers, let detail):
            "cannot reach Kafka at \(brokers): \(detail). Check that a broker listens there and advertises an address this host can reach, "
                + "and the security settings in --kafka-config"
        case .topicNotFound(let t, let brokers):
            "topic '\(t)' does not exist on \(brokers): create it (kafka-topics.sh --create --topic \(t)) or check --topic"
        case .subscribe(let why): "cannot subscribe: \(why)"
        case .fatal(let why): "Kafka consumer failed for good: \(why). Start mend consume again; what was committed stays committed"
        case .assignment(let why):
            "cannot read the committed positions of newly assigned partitions from the database: \(why). "
                + "Start mend consume again once the database answers; nothing uncommitted was loaded"
        case .gaveUp(let brokers, let seconds, let last):
            "gave up on Kafka at \(brokers) after \(Int(seconds.rounded())) s without a reachable broker (last: \(last)): check that the "
                + "brokers run and the network in between; --retry-for SECONDS sets how long to keep trying. What was committed stays committed; "
                + "the rest is read again by the group's next owner of each partition"
        }
    }
}

/// One partition of one topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// The source name of its records and the key of its committed ranges: `kafka:TOPIC:PARTITION`,
    /// so that a parked or quarantined record reads as topic:partition:offset.
    public var sourceName: String { "kafka:\(topic):\(partition)" }
    public var description: String { "\(topic):\(partition)" }
    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// One Kafka message, copied out of librdkafka's buffer (freed at once).
public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// Nil for a tombstone (a null value).
    public let payload: [UInt8]?

    public init(topic: String, partition: Int32, offset: Int64, payload: [UInt8]?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.payload = payload
    }

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}

/// What the consumer asks of its owner while the group rebalances. Both run on the poll
/// thread, inside librdkafka's rebalance callback, and may block it.
public struct RebalanceHooks: Sendable {
    /// The offset to start each newly assigned partition at (nil: the group's committed
    /// offset in Kafka, else `auto.offset.reset`).
    public var assigned: @Sendable ([TopicPartition]) async throws -> [TopicPartition: Int64]
    /// Called before partitions are given up: returns once no batch holding them is in flight.
    public var revoking: @Sendable ([TopicPartition]) async -> Void

    public init(
        assigned: @escaping @Sendable ([TopicPartition]) async throws -> [TopicPartition: Int64],
        revoking: @escaping @Sendable ([TopicPartition]) async -> Void
    ) {
        self.assigned = assigned
        self.revoking = revoking
    }
}

/// A consumer in a Kafka consumer group, on librdkafka. librdkafka blocks, so every call
/// that may wait runs on a Dispatch queue of its own, bridged with a continuation: a blocked
/// thread of Swift's cooperative pool (two here) would stall the engine. The rebalance
/// callback runs on that queue too, inside a poll, so it may block for the owner's hooks.
///
/// Offsets are the warehouse's: automatic commits and offset stores are off; the owner
/// seeks each assigned partition to the offset after its last committed one, and commits
/// offsets to Kafka (asynchronously) only after the warehouse commit, for lag tools.
public final class KafkaClient: @unchecked Sendable {
    // Unchecked: `collecting`, `assignment` and `atEnd` are touched on `pollQueue` only (the
    // rebalance callback runs inside a poll there); the rest is behind locks. librdkafka's
    // handle is thread-safe; it is nil once closed, so no call reaches a freed handle.
    private let handle = NIOLockedValueBox<OpaquePointer?>(nil)
    private let pollQueue = DispatchQueue(label: "mend.kafka.poll")
    private var collecting: [KafkaMessage] = []
    private var assignment = Set<TopicPartition>()
    /// Held partitions read to their end (librdkafka's end-of-partition event) with no message since.
    private var atEnd = Set<TopicPartition>()
    private let hooks: RebalanceHooks
    private let hookFailure = NIOLockedValueBox<String?>(nil)
    private let downSince = NIOLockedValueBox<(at: ContinuousClock.Instant, why: String)?>(nil)
    private let rebalanceCount = NIOLockedValueBox(0)
    /// Partitions held now, and since when the member may be waiting for some (it started,
    /// gave partitions up, or lost the brokers): read by the worker's idle clock.
    private let holding = NIOLockedValueBox(0)
    private let unsettledSince = NIOLockedValueBox(ContinuousClock.now)
    /// Every held partition is read to its end: only then does the idle clock run.
    private let caughtUp = NIOLockedValueBox(false)
    private let log: @Sendable (String) -> Void
    public let brokers: String
    public let group: String

    /// Creates the consumer, checks that a broker answers and that named topics exist, and
    /// subscribes. `topics` are names, or one regular expression when `pattern` is true.
    /// An unreachable cluster is an error at once: a wrong address should not wait minutes.
    public static func connect(
        config: KafkaConfig, group: String, topics: [String], pattern: Bool, hooks: RebalanceHooks,
        log: @escaping @Sendable (String) -> Void
    ) async throws(KafkaError) -> KafkaClient {
        let client = KafkaClient(brokers: config.brokers, group: group, hooks: hooks, log: log)
        try await client.onQueue { () throws(KafkaError) in try client.start(config: config, topics: topics, pattern: pattern) }
        return client
    }

    private init(brokers: String, group: String, hooks: RebalanceHooks, log: @escaping @Sendable (String) -> Void) {
        self.brokers = brokers
        self.group = group
        self.hooks = hooks
        self.log = log
    }

    deinit {
        // `close` normally ran; a handle left open is destroyed without leaving the group.
        if let rk = handle.withLockedValue({ $0 }) { rd_kafka_destroy(rk) }
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws(KafkaError) -> T) async throws(KafkaError) -> T {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, KafkaError>, Never>) in
            pollQueue.async { c.resume(returning: Result { () throws(KafkaError) in try body() }) }
        }
        return try result.get()
    }

    /// cooperative-sticky moves only the partitions that change owner, so a rebalance does not
    /// stop the others. librdkafka 2.0.2 (Debian 12's) aborts in its sticky assignor
    /// (`rd_kafka_sticky_assignor_state_destroy: Assertion 'assignor_state' failed`) when a member
    /// closes before its first assignment, so before 2.2 the default is the eager range and
    /// round-robin assignors. `partition.assignment.strategy` in --kafka-config overrides either.
    static var assignmentStrategy: String { rd_kafka_version() >= 0x0202_0000 ? "cooperative-sticky" : "range,roundrobin" }

    /// Messages per partition librdkafka keeps fetched ahead (its default: 100,000).
    static let queuedMinMessages = 1_000_000

    static func text(_ err: rd_kafka_resp_err_t) -> String { String(cString: rd_kafka_err2str(err)) }

    /// A C error buffer librdkafka filled, up to its terminating zero.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func start(config: KafkaConfig, topics: [String], pattern: Bool) throws(KafkaError) {
        guard let conf = rd_kafka_conf_new() else { throw .config("librdkafka: out of memory") }
        var errstr = [CChar](repeating: 0, count: 512)
        // Mend's own settings first; the file may tune the rest (but not these: KafkaConfig.reserved).
        let settings: [(String, String)] =
            [
                ("bootstrap.servers", config.brokers), ("group.id", group), ("client.id", "mend-consume"),
                ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
                // End-of-partition events tell the idle clock that the worker has caught up.
                ("enable.partition.eof", "true"),
                // A partition the warehouse has no position for, and the group none in Kafka: from its start.
                ("auto.offset.reset", "earliest"),
                ("partition.assignment.strategy", Self.assignmentStrategy),
                // A worker slower than the broker fills librdkafka's queue past its default 100,000
                // messages per partition; the fetcher then backs off for a second, and the worker,
                // having drained the queue meanwhile, waits (1,000,000 records, 3 partitions: a stall
                // of 0.2 to 0.5 s every second). The queue stays bounded by queued.max.messages.kbytes.
                ("queued.min.messages", "\(Self.queuedMinMessages)"),
            ] + config.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        for (key, value) in settings {
            guard rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                // librdkafka's message quotes the value: not shown for a secret.
                let detail = KafkaConfig.isSecret(key) ? "invalid value (not shown)" : Self.string(errstr)
                throw .config("Kafka property \(key): \(detail); see librdkafka's CONFIGURATION.md for the property names")
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let opaque, let rk, let partitions else { return }
            Unmanaged<KafkaClient>.fromOpaque(opaque).takeUnretainedValue().rebalance(rk, err, partitions)
        }
        // librdkafka's log lines go to the worker's log, but for failed offset commits to Kafka:
        // those are for lag tools only (the warehouse holds the offsets), and during an outage
        // librdkafka says so once per batch.
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, line in
            guard let rk, let opaque = rd_kafka_opaque(rk), let facility, let line else { return }
            let fac = String(cString: facility)
            guard fac != "COMMITFAIL" else { return }
            Unmanaged<KafkaClient>.fromOpaque(opaque).takeUnretainedValue().log(
                "mend consume: librdkafka \(level) \(fac): \(String(cString: line))")
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let opaque else { return }
            let why = reason.map { String(cString: $0) } ?? KafkaClient.text(rd_kafka_resp_err_t(err))
            Unmanaged<KafkaClient>.fromOpaque(opaque).takeUnretainedValue().noteError(rd_kafka_resp_err_t(err), why)
        }
        // rd_kafka_new takes the configuration, also when it fails.
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            throw .config("cannot create the Kafka consumer: \(Self.string(errstr))")
        }
        handle.withLockedValue { $0 = rk }
        // Callbacks and messages come from rd_kafka_consumer_poll, on this queue.
        rd_kafka_poll_set_consumer(rk)
        let existing = try metadataTopics(rk, timeoutMs: 10_000)
        if !pattern {
            for t in topics where !existing.contains(t) { throw .topicNotFound(t, brokers: brokers) }
        }
        guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else { throw .config("librdkafka: out of memory") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for t in topics {
            // librdkafka reads a subscription that starts with ^ as a regular expression.
            let name = pattern && !t.hasPrefix("^") ? "^" + t : t
            rd_kafka_topic_partition_list_add(list, name, Int32(RD_KAFKA_PARTITION_UA))
        }
        let err = rd_kafka_subscribe(rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw .subscribe(Self.text(err)) }
    }

    /// The cluster's topic names; throws when no broker answers within the timeout.
    private func metadataTopics(_ rk: OpaquePointer, timeoutMs: Int32) throws(KafkaError) -> Set<String> {
        var md: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(rk, 1, nil, &md, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md else { throw .connect(brokers: brokers, detail: Self.text(err)) }
        defer { rd_kafka_metadata_destroy(md) }
        var names = Set<String>()
        for i in 0..<Int(md.pointee.topic_cnt) {
            if let t = md.pointee.topics?[i], let name = t.topic, t.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                names.insert(String(cString: name))
            }
        }
        return names
    }

    // MARK: - Errors and the broker's reachability

    private func noteError(_ err: rd_kafka_resp_err_t, _ why: String) {
        // A lost connection counts too: the next empty poll asks for metadata, and a broker
        // that answers (another one of the cluster, or this one back) clears it within a second.
        if err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT {
            let first = downSince.withLockedValue { d -> Bool in
                defer { if d == nil { d = (ContinuousClock.now, why) } }
                return d == nil
            }
            if first { log("mend consume: no Kafka broker reachable (\(why)); librdkafka reconnects by itself") }
            unsettledSince.withLockedValue { $0 = ContinuousClock.now }
        } else if err == RD_KAFKA_RESP_ERR__FATAL {
            log("mend consume: Kafka fatal error: \(why)")
        }
    }

    /// Seconds since every broker became unreachable, and why; nil while one is reachable.
    public var unreachable: (seconds: Double, why: String)? {
        downSince.withLockedValue { d in
            d.map { d in
                let e = ContinuousClock.now - d.at
                return (Double(e.components.seconds) + Double(e.components.attoseconds) / 1e18, d.why)
            }
        }
    }

    /// True for up to `seconds` after the member joined, was assigned or gave partitions up, or
    /// got the brokers back, while it holds no partition or has not read every held partition
    /// to its end: waiting for the group or for the first fetches, not idle. On a loaded host
    /// a first fetch can take longer than a short idle limit (CI saw a worker stop as idle with
    /// its topic unread), and an outage longer than the session makes the group evict the
    /// member, which learns it only at its next heartbeat and then joins again.
    public func settling(within seconds: Double) -> Bool {
        guard holding.withLockedValue({ $0 }) == 0 || !caughtUp.withLockedValue({ $0 }) else { return false }
        return ContinuousClock.now - unsettledSince.withLockedValue({ $0 }) < .milliseconds(Int64(seconds * 1000))
    }

    /// After the held set or `atEnd` changed (on the poll queue).
    private func noteProgress() {
        let done = !assignment.isEmpty && atEnd.isSuperset(of: assignment)
        caughtUp.withLockedValue { $0 = done }
    }

    /// How many rebalances (assignments and revocations) this consumer went through.
    public var rebalances: Int { rebalanceCount.withLockedValue { $0 } }

    // MARK: - Rebalances

    private static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        (0..<Int(list.pointee.cnt)).compactMap { i in
            guard let e = list.pointee.elems?[i], let t = e.topic else { return nil }
            return TopicPartition(topic: String(cString: t), partition: e.partition)
        }
    }

    /// Runs an owner's hook from the poll thread (a Dispatch thread, never the cooperative
    /// pool) and waits for it: librdkafka expects the rebalance settled when the callback returns.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = NIOLockedValueBox<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let value = try await body()
                box.withLockedValue { $0 = .success(value) }
            } catch {
                box.withLockedValue { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return box.withLockedValue { $0 } ?? .failure(KafkaError.assignment("no answer"))
    }

    private func rebalance(
        _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        rebalanceCount.withLockedValue { $0 += 1 }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let tps = Self.partitions(list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            switch blocking({ [hooks] in try await hooks.assigned(tps) }) {
            case .success(let start):
                for i in 0..<Int(list.pointee.cnt) {
                    guard let e = list.pointee.elems?[i], let t = e.topic else { continue }
                    let tp = TopicPartition(topic: String(cString: t), partition: e.partition)
                    list.pointee.elems?[i].offset = start[tp] ?? Int64(RD_KAFKA_OFFSET_INVALID)
                }
            case .failure(let error):
                // Assigned anyway (the group would otherwise stall); the next poll fails the worker.
                hookFailure.withLockedValue { $0 = "\(error)" }
            }
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, list) {
                    log("mend consume: Kafka incremental assign failed: \(String(cString: rd_kafka_error_string(e)))")
                    rd_kafka_error_destroy(e)
                }
            } else {
                _ = rd_kafka_assign(rk, list)
            }
            assignment.formUnion(tps)
            atEnd.subtract(tps)
            noteProgress()
            holding.withLockedValue { $0 = assignment.count }
            unsettledSince.withLockedValue { $0 = ContinuousClock.now }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            // The batch in flight for these partitions commits first (its rows and offsets).
            _ = blocking({ [hooks] in await hooks.revoking(tps) })
            let gone = Set(tps)
            collecting.removeAll { gone.contains($0.topicPartition) }
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, list) { rd_kafka_error_destroy(e) }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            assignment.subtract(tps)
            atEnd.subtract(tps)
            noteProgress()
            holding.withLockedValue { $0 = assignment.count }
            unsettledSince.withLockedValue { $0 = ContinuousClock.now }
        default:
            log("mend consume: Kafka rebalance error: \(Self.text(err)); giving up the assignment")
            _ = rd_kafka_assign(rk, nil)
            assignment.removeAll()
            atEnd.removeAll()
            noteProgress()
            holding.withLockedValue { $0 = 0 }
            unsettledSince.withLockedValue { $0 = ContinuousClock.now }
        }
    }

    // MARK: - Polling

    /// Up to `batch` messages, waiting at most `timeout` seconds for the first; empty when
    /// none came. Messages of partitions revoked during the poll are left out.
    public func poll(batch: Int, timeout: Double) async throws(KafkaError) -> [KafkaMessage] {
        try await onQueue { [self] () throws(KafkaError) in try pull(batch: max(1, batch), timeoutMs: Int(timeout * 1000)) }
    }

    private func pull(batch: Int, timeoutMs: Int) throws(KafkaError) -> [KafkaMessage] {
        guard let rk = handle.withLockedValue({ $0 }) else { return [] }
        collecting = []
        collecting.reserveCapacity(batch)
        var topicNames: [OpaquePointer: String] = [:]
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000
        while collecting.count < batch {
            if let why = hookFailure.withLockedValue({ $0 }) { throw .assignment(why) }
            let now = DispatchTime.now().uptimeNanoseconds
            // Wait only for the first message; then take what librdkafka already holds.
            let wait = collecting.isEmpty ? Int32(clamping: now < deadline ? (deadline - now) / 1_000_000 : 0) : 0
            guard let m = rd_kafka_consumer_poll(rk, wait) else {
                if collecting.isEmpty, DispatchTime.now().uptimeNanoseconds < deadline { continue }
                break
            }
            defer { rd_kafka_message_destroy(m) }
            let msg = m.pointee
            guard msg.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let rkt = msg.rkt {
                    atEnd.insert(TopicPartition(topic: String(cString: rd_kafka_topic_name(rkt)), partition: msg.partition))
                    noteProgress()
                    continue
                }
                try consumerError(rk, msg)
                continue
            }
            guard let rkt = msg.rkt else { continue }
            let topic: String
            if let t = topicNames[rkt] {
                topic = t
            } else {
                topic = String(cString: rd_kafka_topic_name(rkt))
                topicNames[rkt] = topic
            }
            let payload = msg.payload.map { p in Array(UnsafeRawBufferPointer(start: p, count: msg.len).bindMemory(to: UInt8.self)) }
            let message = KafkaMessage(topic: topic, partition: msg.partition, offset: msg.offset, payload: payload)
            // A partition that sends a message is not at its end (until its next event, which
            // may come later in this same pull: so removed here, in order, not after the loop).
            if !atEnd.isEmpty, atEnd.remove(message.topicPartition) != nil { noteProgress() }
            collecting.append(message)
        }
        if !collecting.isEmpty {
            downSince.withLockedValue { $0 = nil }
        } else if downSince.withLockedValue({ $0 }) != nil, (try? metadataTopics(rk, timeoutMs: 1000)) != nil {
            // Silence after an outage: a broker answers again; the group may still have to settle,
            // and where each partition stands is known again only at its next end-of-partition event.
            downSince.withLockedValue { $0 = nil }
            unsettledSince.withLockedValue { $0 = ContinuousClock.now }
            atEnd.removeAll()
            noteProgress()
        }
        defer { collecting = [] }
        return collecting
    }

    /// A message that carries an error instead of data: fatal ends the consumer; the rest
    /// (a topic deleted, a broker away) is said and librdkafka carries on.
    private func consumerError(_ rk: OpaquePointer, _ msg: rd_kafka_message_t) throws(KafkaError) {
        if msg.err == RD_KAFKA_RESP_ERR__FATAL {
            var buf = [CChar](repeating: 0, count: 512)
            _ = rd_kafka_fatal_error(rk, &buf, buf.count)
            throw .fatal(Self.string(buf))
        }
        let topic = msg.rkt.map { String(cString: rd_kafka_topic_name($0)) }
        let at = topic.map { " (\($0):\(msg.partition))" } ?? ""
        log("mend consume: Kafka consumer error\(at): \(Self.text(msg.err))")
    }

    /// The partitions this consumer holds now.
    public func assigned() async -> Set<TopicPartition> {
        (try? await onQueue { [self] in assignment }) ?? []
    }

    // MARK: - Offsets

    /// Commits offsets to Kafka without waiting (the warehouse already holds them: this is
    /// for lag tools). `next` is the offset of the next message to read, per partition.
    /// Safe from any thread; a commit for a partition given up meanwhile fails quietly.
    public func commitLater(_ next: [TopicPartition: Int64]) {
        guard !next.isEmpty, let list = rd_kafka_topic_partition_list_new(Int32(next.count)) else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in next {
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)?.pointee.offset = offset
        }
        // Under the lock: `close` cannot free the handle meanwhile (an async commit does not block).
        handle.withLockedValue { rk in
            if let rk { _ = rd_kafka_commit(rk, list, 1) }
        }
    }

    /// Leaves the group (the rebalance callback gives up the partitions, after the batch in
    /// flight) and frees the handle. Outstanding offset commits are sent first.
    public func close() async {
        _ = try? await onQueue { [self] in
            guard let rk = handle.withLockedValue({ $0 }) else { return }
            // Serves the last rebalance callback (the revocation) and waits for commits in flight.
            _ = rd_kafka_consumer_close(rk)
            handle.withLockedValue { $0 = nil }
            rd_kafka_destroy(rk)
        }
    }
}
