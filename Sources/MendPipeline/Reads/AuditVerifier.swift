public import MendStore

/// Checks the audit chain: sequence numbers without gaps, each entry pointing at the
/// hash of the one before, each hash matching its content.
public enum AuditVerifier {
    public struct Report: Sendable, Codable, Equatable {
        public var ok: Bool
        public var entries: Int
        /// The first entry that does not verify.
        public var firstBroken: Int64?
        public var reason: String?
        /// Hash of the last entry: keep it elsewhere to detect a truncated tail too.
        public var head: String?
    }

    /// Where a walk starts: the genesis, or an entry already verified.
    public struct Start: Sendable, Equatable {
        public var seq: Int64
        public var hash: String
        public static let genesis = Start(seq: 0, hash: String(repeating: "0", count: 64))
        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }
    }

    /// Verifies `entries`, which must follow `start` directly.
    public static func verify(_ entries: [AuditEntry], after start: Start = .genesis) -> Report {
        var prev = start.hash
        var expected: Int64 = start.seq + 1
        for e in entries {
            if e.seq != expected {
                return Report(
                    ok: false, entries: entries.count, firstBroken: e.seq < expected ? e.seq : expected,
                    reason: e.seq > expected
                        ? "entry \(expected) is missing (found \(e.seq) next): an entry was deleted"
                        : "entry \(e.seq) is out of order", head: nil)
            }
            if e.prevHash != prev {
                return Report(
                    ok: false, entries: entries.count, firstBroken: e.seq,
                    reason: "entry \(e.seq) does not point at the hash of entry \(e.seq - 1): entries were removed, reordered or rewritten",
                    head: nil)
            }
            let h = AuditEntry.digest(
                seq: e.seq, at: e.at, kind: e.kind, subject: e.subject, actor: e.actor, detail: e.detail, prevHash: e.prevHash)
            if h != e.hash {
                return Report(
                    ok: false, entries: entries.count, firstBroken: e.seq,
                    reason: "entry \(e.seq) was edited: its content no longer matches its hash", head: nil)
            }
            prev = e.hash
            expected += 1
        }
        return Report(
            ok: true, entries: entries.count, firstBroken: nil, reason: nil,
            head: entries.last?.hash ?? (start == .genesis ? nil : start.hash))
    }
}
