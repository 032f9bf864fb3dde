public import MendStore

/// The one view of a table's counts, for `mend stats --json` and MCP's `pipeline_stats`
/// (a map of table name → this; its output schema is tested against what this encodes).
public struct TableStatsView: Encodable, Sendable, Equatable {
    public var input, accounted, loaded, parked, quarantined, coerced, openIncidents, schemaVersion: Int64
    public var conserved: Bool

    public init(_ t: TableStats) {
        (input, accounted, loaded, parked, quarantined, coerced) = (t.input, t.accounted, t.loaded, t.parked, t.quarantined, t.coerced)
        (openIncidents, schemaVersion, conserved) = (t.openIncidents, t.schemaVersion, t.conserved)
    }

    enum CodingKeys: String, CodingKey {
        case input, accounted, loaded, parked, quarantined, coerced, conserved
        case openIncidents = "open_incidents", schemaVersion = "schema_version"
    }
}
