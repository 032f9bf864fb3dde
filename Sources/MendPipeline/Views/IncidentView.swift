import Foundation
public import MendCore

/// The one view of an incident, for `mend incidents --json` and MCP's `list_incidents` and
/// `get_incident` (whose output schema, `OutputSchema.incident`, is tested against what
/// this encodes). Encoded with snake_case keys and ISO 8601 dates.
public struct IncidentView: Encodable, Sendable, Equatable {
    public var id: Int64
    public var table: String
    public var status: IncidentStatus
    public var kinds: [DriftKind]
    public var parked: Int
    public var signature: String
    public var openedAt: String
    /// The first drift's reason, in words.
    public var firstReason: String?
    /// The incident as an MCP resource.
    public var resource: String

    public init(_ i: Incident) {
        (id, table, status, kinds, parked, signature) = (i.id, i.table, i.status, i.kinds, i.parked, i.signature)
        openedAt = ISO8601DateFormatter().string(from: i.openedAt)
        firstReason = i.drifts.first?.reason
        resource = "mend://incidents/\(i.id)"
    }

    /// Keys spelled out: `first_reason` is written as null when there is none, as the schema says.
    enum CodingKeys: String, CodingKey {
        case id, table, status, kinds, parked, signature, resource
        case openedAt = "opened_at", firstReason = "first_reason"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(table, forKey: .table)
        try c.encode(status, forKey: .status)
        try c.encode(kinds, forKey: .kinds)
        try c.encode(parked, forKey: .parked)
        try c.encode(signature, forKey: .signature)
        try c.encode(openedAt, forKey: .openedAt)
        try c.encode(firstReason, forKey: .firstReason)
        try c.encode(resource, forKey: .resource)
    }
}
