public import Foundation

public enum IncidentStatus: String, Codable, Sendable, CaseIterable {
    case open, pendingApproval = "pending_approval", resolved, rejected

    /// The one definition of an open incident, for the CLI, the dashboard, `/metrics`, MCP
    /// and the store's SQL: its records still wait (for a plan or for a person). A rejected
    /// incident is closed: a person decided, and its records stay parked until quarantined.
    public var isOpen: Bool { self == .open || self == .pendingApproval }

    /// The open statuses, as the store's SQL lists them.
    public static let openCases: [IncidentStatus] = allCases.filter(\.isOpen)
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
