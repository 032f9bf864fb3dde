import Crypto
import Foundation
public import MendCore

/// A record parked because it does not fit, with what is needed to replay it.
public struct ParkedRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var table: String
    public var incidentID: Int64
    public var source: String
    public var line: Int64
    /// The record as JSON text, exactly as it will be replayed.
    public var record: String
    public var drifts: [Drift]
    public var reason: String

    public init(
        id: Int64 = 0, table: String, incidentID: Int64 = 0, source: String, line: Int64, record: String,
        drifts: [Drift], reason: String
    ) {
        self.id = id
        self.table = table
        self.incidentID = incidentID
        self.source = source
        self.line = line
        self.record = record
        self.drifts = drifts
        self.reason = reason
    }
}

/// A record set aside for good (unparseable, or quarantined by a plan), raw bytes kept.
public struct QuarantinedRecord: Sendable, Equatable, Codable {
    public var table: String
    public var source: String
    public var line: Int64
    public var raw: String
    public var reason: String
    public init(table: String, source: String, line: Int64, raw: String, reason: String) {
        self.table = table
        self.source = source
        self.line = line
        self.raw = raw
        self.reason = reason
    }
}

/// One table's counts. `input` is counted: the records read from its sources, committed in
/// the transaction of the batch that read them. `accounted` is where they are now (loaded +
/// parked + quarantined). They are equal unless something outside Mend removed records
/// (DESIGN invariant 1); `conserved` says whether they are.
public struct TableStats: Sendable, Codable, Equatable {
    public var table: String
    public var input: Int64
    public var loaded: Int64
    public var parked: Int64
    public var quarantined: Int64
    public var coerced: Int64
    public var openIncidents: Int64
    public var schemaVersion: Int64
    public var accounted: Int64
    public var conserved: Bool

    public init(
        table: String, input: Int64, loaded: Int64, parked: Int64, quarantined: Int64, coerced: Int64, openIncidents: Int64,
        schemaVersion: Int64
    ) {
        self.table = table
        self.input = input
        self.loaded = loaded
        self.parked = parked
        self.quarantined = quarantined
        self.coerced = coerced
        self.openIncidents = openIncidents
        self.schemaVersion = schemaVersion
        accounted = loaded + parked + quarantined
        conserved = input == accounted
    }

    /// What to tell a person when `conserved` is false.
    public var gap: String? {
        guard !conserved else { return nil }
        return "table \(table): \(input) records read, but \(accounted) are loaded, parked or quarantined "
            + "(\(input > accounted ? "\(input - accounted) missing" : "\(accounted - input) more than read")); "
            + "something outside Mend removed or added rows in Mend's state: see `mend audit` and the database's logs"
    }
}

public struct AuditEntry: Sendable, Codable, Equatable {
    public var seq: Int64
    public var at: String
    public var kind: String
    public var subject: String
    public var actor: String
    public var detail: String
    public var prevHash: String
    public var hash: String

    /// SHA-256 over the previous hash and every field: editing, deleting or reordering
    /// any entry breaks the chain from that entry on.
    public static func digest(
        seq: Int64, at: String, kind: String, subject: String, actor: String, detail: String, prevHash: String
    ) -> String {
        var h = SHA256()
        for part in [prevHash, String(seq), at, kind, subject, actor, detail] {
            h.update(data: Data(part.utf8))
            h.update(data: Data([0x1F]))  // unit separator: "ab"+"c" never hashes like "a"+"bc"
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

public struct StoredPlan: Sendable, Codable, Equatable {
    public var plan: Plan
    public var decision: PolicyDecision?
    public var verdicts: [GuardVerdict]
    public var decidedBy: String?
    public var note: String?
}
