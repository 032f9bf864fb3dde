import MendCore

/// Which stream messages are committed, per stream and consumer: the exactly-once guard of
/// `mend consume`. Written in the batch's transaction, beside its rows (docs/decisions.md D14).
///
/// Ranges, not a high-water mark: workers on one durable consumer interleave sequences,
/// so a redelivered 41 can arrive after another worker committed 57. `stream_heads` keeps
/// the highest committed sequence too, for people and metrics, never as the guard.
extension StateTransaction {
    /// A batch holds a sequence another worker committed first (its copy was redelivered
    /// while this one was still at work). The transaction must roll back.
    public struct StreamAlreadyCommitted: Error, Sendable, CustomStringConvertible {
        public var sequences: [UInt64]
        public var description: String {
            "stream sequences already committed by another worker: \(sequences.prefix(10).map(String.init).joined(separator: ", "))"
        }
    }

    static let streamDDL = [
        (
            "stream_commits",
            "(stream TEXT NOT NULL, consumer TEXT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL, committed_at DOUBLE PRECISION)"
        ),
        (
            "stream_heads",
            "(stream TEXT NOT NULL, consumer TEXT NOT NULL, high BIGINT NOT NULL, updated_at DOUBLE PRECISION, PRIMARY KEY (stream, consumer))"
        ),
    ]

    /// Statements `bootstrap` runs for a new database.
    var streamTableDDL: [String] {
        Self.streamDDL.map { "CREATE TABLE IF NOT EXISTS \(t($0.0)) \($0.1)" } + [
            "CREATE INDEX IF NOT EXISTS \(pg ? "" : "_mend_")stream_commits_hi ON \(t("stream_commits")) (stream, consumer, hi)"
        ]
    }

    /// Creates the stream tables on a database bootstrapped before they existed. It looks
    /// first: a least-privilege role may not CREATE, and needs not once they exist.
    public func ensureStreamTables() async throws {
        if try await stateTableExists("stream_heads") { return }
        for sql in streamTableDDL { try await session.execute(sql) }
    }

    /// Of `sequences`, those already committed for this stream and consumer.
    public func committedSequences(stream: String, consumer: String, among sequences: [UInt64]) async throws -> Set<UInt64> {
        guard let lo = sequences.min(), let hi = sequences.max() else { return [] }
        let ranges = try await session.query(
            "SELECT lo, hi FROM \(t("stream_commits")) WHERE stream = ? AND consumer = ? AND hi >= ? AND lo <= ?",
            [.text(stream), .text(consumer), .int(Int64(lo)), .int(Int64(hi))]
        ).map { (UInt64($0[0].int ?? 0), UInt64($0[1].int ?? 0)) }
        if ranges.isEmpty { return [] }
        return Set(sequences.filter { s in ranges.contains { $0.0 <= s && s <= $0.1 } })
    }

    /// Records a batch's sequences as committed, in the batch's transaction. Under a lock
    /// on (stream, consumer) it first checks that no other worker committed any of them;
    /// if one did, it throws `StreamAlreadyCommitted` and the batch rolls back.
    /// Call it last in the transaction: the lock is then held only until commit.
    public func commitStreamSequences(stream: String, consumer: String, _ sequences: [UInt64]) async throws {
        guard !sequences.isEmpty else { return }
        if pg {
            // SQLite's write lock already serializes writers (BEGIN IMMEDIATE).
            _ = try await session.query(
                "SELECT pg_advisory_xact_lock(hashtext(?))", [.text("mend-stream\u{1F}\(stream)\u{1F}\(consumer)")])
        }
        let taken = try await committedSequences(stream: stream, consumer: consumer, among: sequences)
        if !taken.isEmpty { throw StreamAlreadyCommitted(sequences: taken.sorted()) }
        let now = Self.now()
        let runs = Self.runs(sequences)
        try await session.insertMany(
            "INSERT INTO \(t("stream_commits")) (stream, consumer, lo, hi, committed_at) VALUES", tuple: "(?, ?, ?, ?, ?)",
            runs.map { [.text(stream), .text(consumer), .int(Int64($0.lowerBound)), .int(Int64($0.upperBound)), .double(now)] })
        let high = Int64(runs.last?.upperBound ?? 0)
        try await session.execute(
            "INSERT INTO \(t("stream_heads")) (stream, consumer, high, updated_at) VALUES (?, ?, ?, ?) "
                + "ON CONFLICT (stream, consumer) DO UPDATE SET high = CASE WHEN excluded.high > \(t("stream_heads")).high "
                + "THEN excluded.high ELSE \(t("stream_heads")).high END, updated_at = excluded.updated_at",
            [.text(stream), .text(consumer), .int(high), .double(now)])
    }

    /// Forgets the ranges at or below the consumer's ack floor that are older than
    /// `olderThan` seconds: the server never redelivers those sequences. The age matters: a
    /// copy redelivered after its AckWait ran out may already sit in a worker's fetched
    /// batch when the late ack of the first copy moves the floor past it, and that copy
    /// must still find its range. Returns how many ranges went.
    @discardableResult
    public func pruneStreamCommits(stream: String, consumer: String, atOrBelow floor: UInt64, olderThan age: Double = 0) async throws
        -> Int
    {
        try await session.query(
            "DELETE FROM \(t("stream_commits")) WHERE stream = ? AND consumer = ? AND hi <= ? AND committed_at <= ? RETURNING hi",
            [.text(stream), .text(consumer), .int(Int64(floor)), .double(Self.now() - age)]
        ).count
    }

    /// The highest sequence committed for this stream and consumer, and how many ranges are kept.
    public func streamHead(stream: String, consumer: String) async throws -> (high: UInt64, ranges: Int64)? {
        guard
            let high = try await session.query(
                "SELECT high FROM \(t("stream_heads")) WHERE stream = ? AND consumer = ?", [.text(stream), .text(consumer)]
            ).first?[0].int
        else { return nil }
        let n = try await session.scalarInt(
            "SELECT COUNT(*) FROM \(t("stream_commits")) WHERE stream = ? AND consumer = ?", [.text(stream), .text(consumer)])
        return (UInt64(high), n)
    }

    /// Sorted sequences as runs of consecutive numbers: [3, 4, 5, 9] -> [3...5, 9...9].
    public static func runs(_ sequences: [UInt64]) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        for s in sequences.sorted() {
            if let last = out.last, s <= last.upperBound + 1 {
                if s > last.upperBound { out[out.count - 1] = last.lowerBound...s }
            } else {
                out.append(s...s)
            }
        }
        return out
    }
}
