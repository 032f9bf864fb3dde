import Foundation
import MCP
import MendCore

/// The `submit_plan` tool: its JSON Schema (what the model is told) and a strict
/// reader (what Mend accepts). The reader refuses anything the schema does not
/// name, so a plan cannot smuggle SQL or other text that something might execute.
public enum SubmitPlanTool {
    public static let toolName = "submit_plan"
    static let maxOperations = 20
    static let maxRationale = 2_000

    static let conversions: [String: ValueConversion] = [
        "epoch_seconds_to_timestamptz": .epochSecondsToTimestamp,
        "epoch_millis_to_timestamptz": .epochMillisToTimestamp,
        "iso8601_to_epoch_seconds": .timestampToEpochSeconds,
        "numeric_string_to_number": .numericString,
    ]
    /// Kinds a planner may propose for an incident (the table exists: no create_table).
    static let kinds: [OperationKind] = [.addColumn, .widenColumn, .addVariantColumn, .mapField, .convertValue, .quarantine]

    public static var inputSchema: Value {
        let identifier: Value = ["type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$"]
        let types: Value = .array(LogicalType.allCases.map { .string($0.rawValue) })
        let conversionNames: [Value] = conversions.keys.sorted().map { .string($0) } + ["scale"]
        let op: Value = [
            "type": "object",
            "additionalProperties": false,
            "required": ["kind"],
            "properties": [
                "kind": ["type": "string", "enum": .array(kinds.map { .string($0.rawValue) })],
                "column": .object(
                    identifier.objectValue?.merging([
                        "description": "the column created or changed; for map_field the existing target column"
                    ]) {
                        $1
                    } ?? [:]),
                "type": [
                    "type": "string", "enum": types,
                    "description": "add_column / add_variant_column: the new type; widen_column: the target type",
                ],
                "from": ["type": "string", "enum": types, "description": "widen_column: the current type"],
                "source": .object(
                    identifier.objectValue?.merging(["description": "map_field: the incoming (normalized) field name to land in 'column'"])
                    { $1 }
                        ?? [:]),
                "of": .object(
                    identifier.objectValue?.merging([
                        "description": "add_variant_column: the column whose conflicting values move to the variant"
                    ]) {
                        $1
                    } ?? [:]),
                "conversion": [
                    "type": "string", "enum": .array(conversionNames),
                    "description": "convert_value: how incoming values of 'column' are converted",
                ],
                "factor": [
                    "type": "number", "description": "convert_value with conversion 'scale': the multiplier (100 for euros → cents)",
                ],
            ],
        ]
        return [
            "type": "object",
            "additionalProperties": false,
            "required": ["operations", "rationale", "confidence"],
            "properties": [
                "operations": ["type": "array", "minItems": 1, "maxItems": .int(maxOperations), "items": op],
                "rationale": ["type": "string", "description": "why these operations fix the drift, for the person who approves them"],
                "confidence": ["type": "number", "minimum": 0, "maximum": 1],
            ],
        ]
    }

    public static var tool: ToolSpec {
        ToolSpec(
            name: toolName,
            description:
                "Submit the repair plan for the incident. This ends the conversation. Mend checks the plan, compiles it to SQL itself, and its guard and policy decide whether it runs or waits for a person.",
            inputSchema: inputSchema)
    }

    /// The model's input as a Plan, or the first problem in words the model can act on.
    public static func read(_ input: Value, incident: Incident, schema: TableSchema?, plannedBy: String) -> Result<Plan, PlanRejection> {
        func fail(_ m: String) -> Result<Plan, PlanRejection> { .failure(PlanRejection(message: m)) }
        guard let o = input.objectValue else {
            return fail("submit_plan's input must be a JSON object with operations, rationale and confidence")
        }
        if let extra = o.keys.sorted().first(where: { !["operations", "rationale", "confidence"].contains($0) }) {
            return fail("unknown field '\(DataFence.capString(extra, 40))': a plan has only operations, rationale and confidence")
        }
        guard let rawOps = o["operations"]?.arrayValue, !rawOps.isEmpty else { return fail("'operations' must be a non-empty array") }
        if rawOps.count > maxOperations { return fail("at most \(maxOperations) operations per plan") }
        guard let rationale = o["rationale"]?.stringValue, !rationale.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return fail("'rationale' must be a non-empty string")
        }
        guard let confidence = number(o["confidence"]), confidence.isFinite, (0...1).contains(confidence) else {
            return fail("'confidence' must be a number between 0 and 1")
        }
        var ops: [PlanOperation] = []
        for (i, raw) in rawOps.enumerated() {
            switch operation(raw) {
            case .success(let op): ops.append(op)
            case .failure(let r): return fail("operation \(i + 1): \(r.message)")
            }
        }
        let plan = Plan(
            incidentID: incident.id, table: incident.table, operations: ops,
            rationale: DataFence.capString(rationale, maxRationale), confidence: confidence, plannedBy: plannedBy)
        if let p = plan.problem() { return fail(p) }
        if let p = againstSchema(ops, schema: schema) { return fail(p) }
        return .success(plan)
    }

    static func number(_ v: Value?) -> Double? {
        switch v {
        case .double(let d): d
        case .int(let i): Double(i)
        default: nil
        }
    }

    static func operation(_ raw: Value) -> Result<PlanOperation, PlanRejection> {
        func fail(_ m: String) -> Result<PlanOperation, PlanRejection> { .failure(PlanRejection(message: m)) }
        guard let o = raw.objectValue else { return fail("each operation must be a JSON object") }
        let known: Set<String> = ["kind", "column", "type", "from", "source", "of", "conversion", "factor"]
        if let extra = o.keys.sorted().first(where: { !known.contains($0) }) {
            return fail("unknown field '\(DataFence.capString(extra, 40))'; operations are typed and Mend writes all SQL itself")
        }
        guard let k = o["kind"]?.stringValue, let kind = OperationKind(rawValue: k), kinds.contains(kind) else {
            return fail("'kind' must be one of \(kinds.map(\.rawValue).joined(separator: ", "))")
        }
        var op = PlanOperation(kind: kind)
        for (field, path) in [("column", \PlanOperation.column), ("source", \.source), ("of", \.of)] {
            guard let v = o[field] else { continue }
            guard let s = v.stringValue else { return fail("'\(field)' must be a string") }
            op[keyPath: path] = s
        }
        for (field, path) in [("type", \PlanOperation.type), ("from", \.from)] {
            guard let v = o[field] else { continue }
            guard let s = v.stringValue, let t = LogicalType(rawValue: s) else {
                return fail("'\(field)' must be one of \(LogicalType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            op[keyPath: path] = t
        }
        if let v = o["conversion"] {
            guard let name = v.stringValue else { return fail("'conversion' must be a string") }
            if name == "scale" {
                guard let f = number(o["factor"]), f.isFinite, f != 0 else {
                    return fail("conversion 'scale' needs a non-zero numeric 'factor'")
                }
                op.conversion = .scale(factor: f)
            } else if let c = conversions[name] {
                op.conversion = c
            } else {
                return fail("'conversion' must be one of \((conversions.keys.sorted() + ["scale"]).joined(separator: ", "))")
            }
        }
        for name in [op.column, op.source, op.of].compactMap({ $0 }) where name.hasPrefix("_mend") {
            return fail("names starting with _mend are reserved for Mend's own state")
        }
        return .success(op)
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
            case .addColumn, .addVariantColumn:
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
