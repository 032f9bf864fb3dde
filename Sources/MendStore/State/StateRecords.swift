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

public struct TableStats: Sendable, Codable, Equatable {
    public var table: String
    public var input: Int64
    public var loaded: Int64
    public var parked: Int64
    public var quarantined: Int64
    public var coerced: Int64
    public var openIncidents: Int64
    public var schemaVersion: Int64
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
