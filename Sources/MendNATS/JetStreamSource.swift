public import MendPipeline
public import MendStore
import NIOConcurrencyHelpers

/// The messages of one fetched batch bound for one table, as a record source: one
/// message is one record. `next` is synchronous over messages already in memory (the
/// blocking fetch happened before, off the cooperative pool).
///
/// Positions count messages: `position.line` is how many were handed out, and a record's
/// stored line is its stream sequence, so parked and quarantined records carry
/// `nats:STREAM` and the sequence. Each batch's transaction records its sequences as
/// committed (`commit`), and only after the commit are the messages acked (`acknowledge`).
public final class JetStreamSource: RecordSource, @unchecked Sendable {
    // Unchecked: `cursor` is touched only by the batch reader's task (one at a time, as
    // the seam promises); `acked` is behind a lock because the engine's task reads it.
    public let name: String
    public let isResumable = false
    public let messages: [JetStreamMessage]
    private let client: JetStreamClient
    private var cursor = 0
    private let acked = NIOLockedValueBox(0)

    public init(messages: [JetStreamMessage], client: JetStreamClient) {
        self.messages = messages
        self.client = client
        name = "nats:\(client.stream)"
    }

    public func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        guard cursor < messages.count else { return false }
        messages[cursor].payload.withUnsafeBufferPointer(body)
        cursor += 1
        return true
    }

    public var position: StateStore.Offset { StateStore.Offset(line: Int64(cursor), byteOffset: Int64(cursor), fingerprint: nil) }

    public func resume(from offset: StateStore.Offset) {}

    public func recordLine(counted: Int64) -> Int64 {
        let i = Int(counted) - 1
        return messages.indices.contains(i) ? Int64(messages[i].sequence) : counted
    }

    /// How many messages, from the first, are committed and acked.
    public var acknowledgedCount: Int { acked.withLockedValue { $0 } }

    /// The messages of the batch that ends at `position`: from the last acknowledged one on.
    private func batch(through position: StateStore.Offset) -> ArraySlice<JetStreamMessage> {
        let start = acked.withLockedValue { $0 }
        let end = min(messages.count, max(start, Int(position.line)))
        return messages[start..<end]
    }

    public func commit(through position: StateStore.Offset, in tx: StateTransaction) async throws {
        try await tx.commitStreamSequences(
            stream: client.stream, consumer: client.consumer, batch(through: position).map(\.sequence))
    }

    /// The batch's sequences are in the committed ranges exactly when its transaction committed.
    public func wasCommitted(through position: StateStore.Offset, in tx: StateTransaction) async throws -> Bool? {
        let sequences = batch(through: position).map(\.sequence)
        let done = try await tx.committedSequences(stream: client.stream, consumer: client.consumer, among: sequences)
        return !sequences.isEmpty && done.count == sequences.count
    }

    public func acknowledge(through position: StateStore.Offset) async throws {
        client.ackLater(Array(batch(through: position)))
        acked.withLockedValue { $0 = max($0, Int(position.line)) }
    }
}
