import Foundation
public import MCP
public import MendCore
import MendPlanFormat

/// The `submit_plan` tool: the shared plan wire format (`PlanFormat`, also what MCP
/// clients write) as its input schema and decoder, plus the checks only the agent's
/// loop can make here: the incident's catalog, and a cap on the rationale it keeps.
public enum SubmitPlanTool {
    public static let toolName = "submit_plan"
    static let maxRationale = 2_000

    public static var inputSchema: Value { PlanFormat.schema }

    public static var tool: ToolSpec {
        ToolSpec(
            name: toolName,
            description:
                "Submit the repair plan for the incident. This ends the conversation. Mend checks the plan, compiles it to SQL itself, and its guard and policy decide whether it runs or waits for a person.",
            inputSchema: inputSchema)
    }

    /// The model's input as a Plan, or every problem in words the model can act on.
    public static func read(_ input: Value, incident: Incident, schema: TableSchema?, plannedBy: String) -> Result<Plan, PlanRejection> {
        var plan: Plan
        do {
            plan = try PlanFormat.decode(input, plannedBy: plannedBy)
        } catch {
            return .failure(PlanRejection(message: error.problems.joined(separator: "; ")))
        }
        plan.incidentID = incident.id
        plan.table = incident.table
        // The rationale lands in the audit log and in front of an approver; keep it readable.
        plan.rationale = DataFence.capString(plan.rationale, maxRationale)
        if let p = againstSchema(plan.operations, schema: schema) { return .failure(PlanRejection(message: p)) }
        return .success(plan)
    }

    /// What the catalog says about the operations: columns that must or must not exist,
    /// and conversions that fit the target column's type.
    static func againstSchema(_ ops: [PlanOperation], schema: TableSchema?) -> String? {
        guard let schema else { return nil }
        var added: [String: LogicalType] = [:]
        func type(of c: String) -> LogicalType?? {
            if let t = added[c] { return .some(t) }
            if let col = schema.column(named: c) { return .some(col.type) }
            return nil
        }
        for (i, op) in ops.enumerated() {
            let n = "operation \(i + 1)"
            let column = op.column ?? ""
            switch op.kind {
            case .addColumn, .addVariantColumn, .promoteField:
                if type(of: column) != nil { return "\(n): column \(column) already exists" }
                if op.kind == .addVariantColumn, let of = op.of, type(of: of) == nil { return "\(n): column \(of) does not exist" }
                added[column] = op.type
            case .widenColumn:
                guard let current = type(of: column) else { return "\(n): column \(column) does not exist" }
                if let current, let from = op.from, current != from {
                    return "\(n): column \(column) is \(current.rawValue), not \(from.rawValue)"
                }
            case .mapField:
                if type(of: column) == nil {
                    return "\(n): map_field's target column \(column) does not exist; add it or map onto an existing column"
                }
                if op.source == op.column { return "\(n): a field cannot be mapped onto itself" }
                if let s = op.source, schema.column(named: s) != nil {
                    return "\(n): \(s) is itself a column; map_field is for an incoming field that has no column"
                }
            case .convertValue:
                guard let t = type(of: column) else { return "\(n): column \(column) does not exist" }
                let target = t ?? .text
                let numeric: Set<LogicalType> = [.bigint, .double, .numeric]
                switch op.conversion {
                case .epochSecondsToTimestamp?, .epochMillisToTimestamp?:
                    if ![.timestamptz, .text].contains(target) {
                        return "\(n): \(op.conversion?.name ?? "") yields timestamps but \(column) is \(target.rawValue)"
                    }
                case .timestampToEpochSeconds?, .numericString?, .scale?:
                    if !numeric.contains(target) {
                        return "\(n): \(op.conversion?.name ?? "") yields numbers but \(column) is \(target.rawValue)"
                    }
                case nil: break
                }
            case .quarantine, .createTable:
                break
            }
        }
        return nil
    }
}

/// Why a submitted plan was not accepted, in words the model (and a person) can act on.
public struct PlanRejection: Error, Sendable, Equatable {
    public var message: String
}
