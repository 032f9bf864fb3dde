public import MendPipeline
public import MendStore
import NIOConcurrencyHelpers

/// A poll's messages for one table, as a record source: one message is one record, a
/// tombstone (null value) none. The messages may come from several partitions (of one or
/// more topics routed to the table), each partition's in offset order. `next` is
/// synchronous over messages already in memory (the blocking poll happened before, off the
/// cooperative pool).
///
/// Each record's source is its partition's `kafka:TOPIC:PARTITION` and its stored line its
/// offset, so parked and quarantined records carry topic:partition:offset. Each batch's
/// transaction records the offsets of every partition in it as committed ranges (tombstones
/// included, so the position moves past them); only after the commit are the offsets
/// committed to Kafka.
public final class KafkaSource: RecordSource, @unchecked Sendable {
    // Unchecked: `cursor` is touched only by the batch reader's task (one at a time, as
    // the seam promises); `acked` is behind a lock because the engine's task reads it.
    public let name: String
    public let isResumable = false
    /// The partitions of the messages, in the order they first appear.
    public let partitions: [TopicPartition]
    /// Every message (records and tombstones), each partition's in offset order.
    public let messages: [KafkaMessage]
    /// Indices into `messages` of those with a value: the records handed out.
    private let records: [Int]
    /// Per message, the index of its partition in `partitions`.
    private let partitionOf: [Int]
    private let group: String
    private let committed: @Sendable (TopicPartition, Int64) -> Void
    private var cursor = 0
    /// Records committed so far, from the first.
    private let acked = NIOLockedValueBox(0)

    /// `committed` is told, after each batch's commit, the offset of the last message of
    /// each partition in it.
    public init(messages: [KafkaMessage], group: String, committed: @escaping @Sendable (TopicPartition, Int64) -> Void) {
        self.messages = messages
        self.group = group
        self.committed = committed
        var partitions: [TopicPartition] = []
        var index: [TopicPartition: Int] = [:]
        var partitionOf: [Int] = []
        partitionOf.reserveCapacity(messages.count)
        var records: [Int] = []
        records.reserveCapacity(messages.count)
        // Consecutive messages mostly share a partition: compared before hashed.
        var last: (tp: TopicPartition, i: Int)? = nil
        for (n, m) in messages.enumerated() {
            if m.payload != nil { records.append(n) }
            if let l = last, l.tp.partition == m.partition, l.tp.topic == m.topic {
                partitionOf.append(l.i)
                continue
            }
            let tp = m.topicPartition
            let i: Int
            if let known = index[tp] {
                i = known
            } else {
                i = partitions.count
                index[tp] = i
                partitions.append(tp)
            }
            partitionOf.append(i)
            last = (tp, i)
        }
        self.partitions = partitions
        self.partitionOf = partitionOf
        self.records = records
        name = partitions.count == 1 ? partitions[0].sourceName : "kafka:" + partitions.map(\.description).joined(separator: ",")
    }

    public var recordCount: Int { records.count }

    public func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        guard cursor < records.count, let payload = messages[records[cursor]].payload else { return false }
        payload.withUnsafeBufferPointer(body)
        cursor += 1
        return true
    }

    public var position: StateStore.Offset { StateStore.Offset(line: Int64(cursor), byteOffset: Int64(cursor), fingerprint: nil) }

    public func resume(from offset: StateStore.Offset) {}

    public func recordLine(counted: Int64) -> Int64 {
        let i = Int(counted) - 1
        return records.indices.contains(i) ? messages[records[i]].offset : counted
    }

    public func recordSource(counted: Int64) -> String {
        let i = Int(counted) - 1
        return records.indices.contains(i) ? partitions[partitionOf[records[i]]].sourceName : name
    }

    /// How many messages, from the first, are committed (tombstones included).
    public var acknowledgedMessages: Int { messageEnd(records: acked.withLockedValue { $0 }) }

    /// Where in `messages` the batch that ends after `n` records ends: after the n-th
    /// record, or at the very end (trailing tombstones) when it is the last record.
    private func messageEnd(records n: Int) -> Int {
        if n >= records.count { return messages.count }
        return n == 0 ? 0 : records[n - 1] + 1
    }

    /// The messages of the batch that ends at `position`: from the last committed one on.
    private func batch(through position: StateStore.Offset) -> Range<Int> {
        let done = acked.withLockedValue { $0 }
        let start = messageEnd(records: done)
        let end = max(start, messageEnd(records: max(done, min(records.count, Int(position.line)))))
        return start..<end
    }

    /// A batch's offsets by partition, partitions in order of first appearance.
    private func offsets(_ range: Range<Int>) -> [(TopicPartition, [Int64])] {
        var out = [[Int64]](repeating: [], count: partitions.count)
        for n in range { out[partitionOf[n]].append(messages[n].offset) }
        return zip(partitions, out).filter { !$0.1.isEmpty }
    }

    /// The offsets of every message, by partition: for a share with no record (only tombstones).
    public var offsetsByPartition: [(TopicPartition, [Int64])] { offsets(messages.indices) }

    public func commit(through position: StateStore.Offset, in tx: StateTransaction) async throws {
        for (tp, offsets) in offsets(batch(through: position)) {
            try await tx.commitKafkaOffsets(tp, group: group, offsets)
        }
    }

    /// The batch's offsets are in the committed ranges exactly when its transaction committed.
    public func wasCommitted(through position: StateStore.Offset, in tx: StateTransaction) async throws -> Bool? {
        let byPartition = offsets(batch(through: position))
        if byPartition.isEmpty { return false }
        for (tp, offsets) in byPartition {
            let wanted = offsets.map { UInt64(max(0, $0)) }
            let done = try await tx.committedSequences(stream: tp.sourceName, consumer: group, among: wanted)
            if done.count != wanted.count { return false }
        }
        return true
    }

    public func acknowledge(through position: StateStore.Offset) async throws {
        for (tp, offsets) in offsets(batch(through: position)) {
            if let last = offsets.last { committed(tp, last) }
        }
        acked.withLockedValue { $0 = max($0, min(records.count, Int(position.line))) }
    }
}

/// A batch holds offsets the warehouse already has for this partition and group (another
/// member of the group committed them before a rebalance reached this one). The
/// transaction must roll back; the worker skips those offsets and loads the rest.
public struct KafkaOffsetsAlreadyCommitted: Error, Sendable, CustomStringConvertible {
    public var partition: TopicPartition
    public var offsets: [Int64]
    public var description: String {
        "offsets of \(partition) already committed by another member of the group: "
            + offsets.prefix(10).map(String.init).joined(separator: ", ")
    }
}

extension StateTransaction {
    /// Records a batch's offsets of one partition as committed for a consumer group, in the
    /// batch's transaction: the committed ranges of `mend consume` (stream `kafka:TOPIC:PARTITION`,
    /// consumer = the group). A partition has one owner at a time and is read in order, so
    /// anything at or below the highest committed offset is committed already (or was never
    /// a message: a compacted or transaction-marker offset); the ranges catch the rest of a
    /// race between an old and a new owner. Either way it throws and the batch rolls back.
    public func commitKafkaOffsets(_ partition: TopicPartition, group: String, _ offsets: [Int64]) async throws {
        guard !offsets.isEmpty else { return }
        let stream = partition.sourceName
        if let head = try await streamHead(stream: stream, consumer: group)?.high {
            let below = offsets.filter { $0 >= 0 && UInt64($0) <= head }
            if !below.isEmpty { throw KafkaOffsetsAlreadyCommitted(partition: partition, offsets: below) }
        }
        do {
            try await commitStreamSequences(stream: stream, consumer: group, offsets.map { UInt64(max(0, $0)) })
        } catch let taken as StreamAlreadyCommitted {
            throw KafkaOffsetsAlreadyCommitted(partition: partition, offsets: taken.sequences.map { Int64($0) })
        }
    }

    /// The offset after the highest committed one for each partition, where the warehouse has one.
    func kafkaStartOffsets(_ partitions: [TopicPartition], group: String) async throws -> [TopicPartition: Int64] {
        var out: [TopicPartition: Int64] = [:]
        for tp in partitions {
            if let head = try await streamHead(stream: tp.sourceName, consumer: group)?.high { out[tp] = Int64(head) + 1 }
        }
        return out
    }
}
