public import Foundation

public enum IncidentStatus: String, Codable, Sendable {
    case open, pendingApproval = "pending_approval", resolved, rejected
}

/// Drifts of one table with one signature, and the records parked because of them.
public struct Incident: Codable, Sendable, Equatable {
    public var id: Int64
    public var table: String
    public var signature: String
    public var kinds: [DriftKind]
    public var status: IncidentStatus
    public var parked: Int
    public var openedAt: Date
    public var resolvedAt: Date?
    /// A sample of the drifts, for people and planners.
    public var drifts: [Drift]

    public init(
        id: Int64, table: String, signature: String, kinds: [DriftKind], status: IncidentStatus, parked: Int,
        openedAt: Date, resolvedAt: Date? = nil, drifts: [Drift]
    ) {
        self.id = id
        self.table = table
        self.signature = signature
        self.kinds = kinds
        self.status = status
        self.parked = parked
        self.openedAt = openedAt
        self.resolvedAt = resolvedAt
        self.drifts = drifts
    }
}
