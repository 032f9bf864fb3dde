public import MendStore

/// Where records come from: a file, standard input, an HTTP body, a stream. The engine
/// reads JSON texts with their positions from one of these, commits each batch's end
/// position in the same transaction as its rows, and acknowledges it after the commit.
///
/// Sources are read by one task at a time (the batch reader's), never concurrently.
public protocol RecordSource: AnyObject, Sendable {
    /// Names the source in parked records, quarantine and offsets.
    var name: String { get }
    /// Calls `body` with the next record's JSON text (without its line end); false at the end.
    func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool
    /// The position after the last text read: the offset a batch commits.
    var position: StateStore.Offset { get }
    /// True when a committed position means something on the next run: Mend then
    /// stores it with each batch and `resume` skips what was already committed.
    var isResumable: Bool { get }
    /// Skips to a committed position.
    func resume(from offset: StateStore.Offset)
    /// Called once the batch that ends at `position` is committed, parked and quarantined
    /// included: a stream acknowledges its messages here, never before.
    func acknowledge(through position: StateStore.Offset) async throws
    /// Called inside the batch's transaction, after its rows, parked and quarantined records:
    /// a stream records there which messages the batch holds, so that a redelivery after a
    /// crash is recognized as committed. It may throw to roll the batch back.
    func commit(through position: StateStore.Offset, in tx: StateTransaction) async throws
    /// The line number stored with a record (parked, quarantined) that the reader counted
    /// as `counted`, from 1 at the source's start: a stream answers the message's sequence.
    func recordLine(counted: Int64) -> Int64
    /// The source name stored with the record the reader counted as `counted` (parked,
    /// quarantined): `name`, but for a source whose records come from several streams (a
    /// Kafka poll's partitions of one table), which names each record's own.
    func recordSource(counted: Int64) -> String
    /// After a COMMIT whose outcome is unknown (the connection broke on the way): whether
    /// the batch that ends at `position` committed, read from what this source records in
    /// the batch's transaction; nil when it records nothing (the caller cannot tell).
    /// Resumable sources need not answer: the engine reads their stored position.
    func wasCommitted(through position: StateStore.Offset, in tx: StateTransaction) async throws -> Bool?
}

extension RecordSource {
    public func acknowledge(through position: StateStore.Offset) async throws {}
    public func commit(through position: StateStore.Offset, in tx: StateTransaction) async throws {}
    @inline(__always) public func recordLine(counted: Int64) -> Int64 { counted }
    public func recordSource(counted: Int64) -> String { name }
    public func wasCommitted(through position: StateStore.Offset, in tx: StateTransaction) async throws -> Bool? { nil }
}
