import Foundation

/// Anything that turns an incident into a plan: the rules below, an LLM, an MCP client.
public protocol Planner: Sendable {
    var name: String { get }
    func plan(incident: Incident, schema: TableSchema?) async throws -> Plan
    /// Whether the planner weighs rename evidence; the engine reads samples for it only then.
    var readsRenameEvidence: Bool { get }
    /// `plan`, with what RenameDetector found per new field's column.
    func plan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async throws -> Plan
    /// Whether the planner does no I/O and answers at once: it then plans inside the
    /// repair unit's transaction. A planner that calls out (a model, an agent) plans
    /// between a read and the write, so no transaction waits on it.
    var isPure: Bool { get }
}

extension Planner {
    public var readsRenameEvidence: Bool { false }
    public var isPure: Bool { false }
    public func plan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async throws -> Plan {
        try await plan(incident: incident, schema: schema)
    }
}

/// What one planning attempt spent: tokens and an estimated price. Planners that
/// call a metered model report it so the Engine can record it (`mend stats` sums it).
public struct PlannerUsage: Sendable, Codable, Equatable {
    public var model: String
    public var tokensIn: Int
    public var tokensOut: Int
    /// Estimated cost in USD, from a per-model price table.
    public var cost: Double

    public init(model: String, tokensIn: Int = 0, tokensOut: Int = 0, cost: Double = 0) {
        self.model = model
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.cost = cost
    }

    /// The cost as the audit log writes it: six decimals, never exponent notation.
    public var costText: String { String(format: "%.6f", cost) }
}

/// A planner that spends tokens. It reports usage beside the outcome, also when it
/// fails, because a failed attempt still cost money. `plan(incident:schema:)` stays
/// the plain entry point; the Engine prefers this one when it is available.
public protocol MeteredPlanner: Planner {
    func meteredPlan(incident: Incident, schema: TableSchema?) async -> (result: Result<Plan, any Error>, usage: PlannerUsage?)
    /// `meteredPlan`, with rename findings (see `Planner`).
    func meteredPlan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async
        -> (result: Result<Plan, any Error>, usage: PlannerUsage?)
}

extension MeteredPlanner {
    public func meteredPlan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async
        -> (result: Result<Plan, any Error>, usage: PlannerUsage?)
    {
        await meteredPlan(incident: incident, schema: schema)
    }

    public func plan(incident: Incident, schema: TableSchema?) async throws -> Plan {
        try await meteredPlan(incident: incident, schema: schema).result.get()
    }
}
