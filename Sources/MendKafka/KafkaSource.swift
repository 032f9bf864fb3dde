public import MendPipeline
public import MendStore
import NIOConcurrencyHelpers

/// The messages of one polled batch from one partition, as a record source: one message
/// is one record, a tombstone (null value) none. `next` is synchronous over messages
/// already in memory (the blocking poll happened before, off the cooperative pool).
///
/// The source is named `kafka:TOPIC:PARTITION` and a record's stored line is its offset,
/// so parked and quarantined records carry topic:partition:offset. Each batch's
/// transaction records its offsets as committed ranges (tombstones included, so the
/// position moves past them); only after the commit are the offsets committed to Kafka.
public final class KafkaSource: RecordSource, @unchecked Sendable {
    // Unchecked: `cursor` is touched only by the batch reader's task (one at a time, as
    // the seam promises); `acked` is behind a lock because the engine's task reads it.
    public let name: String
    public let isResumable = false
    public let partition: TopicPartition
    /// Every message of the batch (records and tombstones), in offset order.
    public let messages: [KafkaMessage]
    /// Indices into `messages` of those with a value: the records handed out.
    private let records: [Int]
    private let group: String
    private let committed: @Sendable (TopicPartition, Int64) -> Void
    private var cursor = 0
    /// Records committed so far, from the first.
    private let acked = NIOLockedValueBox(0)

    /// `committed` is told the offset of the last message of each batch after its commit.
    public init(
        partition: TopicPartition, messages: [KafkaMessage], group: String, committed: @escaping @Sendable (TopicPartition, Int64) -> Void
    ) {
        self.partition = partition
        self.messages = messages
        self.group = group
        self.committed = committed
        records = messages.indices.filter { messages[$0].payload != nil }
        name = partition.sourceName
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

    /// How many messages, from the first, are committed (tombstones included).
    public var acknowledgedMessages: Int { messageEnd(records: acked.withLockedValue { $0 }) }

    /// Where in `messages` the batch that ends after `n` records ends: after the n-th
    /// record, or at the very end (trailing tombstones) when it is the last record.
    private func messageEnd(records n: Int) -> Int {
        if n >= records.count { return messages.count }
        return n == 0 ? 0 : records[n - 1] + 1
    }

    /// The messages of the batch that ends at `position`: from the last committed one on.
    private func batch(through position: StateStore.Offset) -> ArraySlice<KafkaMessage> {
        let done = acked.withLockedValue { $0 }
        let start = messageEnd(records: done)
        let end = max(start, messageEnd(records: max(done, min(records.count, Int(position.line)))))
        return messages[start..<end]
    }

    public func commit(through position: StateStore.Offset, in tx: StateTransaction) async throws {
        try await tx.commitKafkaOffsets(partition, group: group, batch(through: position).map(\.offset))
    }

    /// The batch's offsets are in the committed ranges exactly when its transaction committed.
    public func wasCommitted(through position: StateStore.Offset, in tx: StateTransaction) async throws -> Bool? {
        let offsets = batch(through: position).map { UInt64($0.offset) }
        let done = try await tx.committedSequences(stream: partition.sourceName, consumer: group, among: offsets)
        return !offsets.isEmpty && done.count == offsets.count
    }

    public func acknowledge(through position: StateStore.Offset) async throws {
        if let last = batch(through: position).last { committed(partition, last.offset) }
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
