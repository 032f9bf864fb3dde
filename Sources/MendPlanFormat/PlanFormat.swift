import Foundation
public import MCP
public import MendCore

/// The typed repair plan an agent writes, in one definition shared by the MCP server
/// (`propose_plan`, `apply_plan`, `mend://schemas/plan`) and the built-in LLM agent
/// (`submit_plan`): its JSON Schema, the strict decoder, and the conversion names.
///
/// The wire form is deliberately close to `PlanOperation` (a flat object per
/// operation) but spells conversions as names, so that an agent never has to learn
/// Swift's enum encoding. There is no field that could carry SQL: Mend's compiler
/// writes every statement.
public enum PlanFormat {
    /// The operation kinds an agent may use. `create_table` is left out: incidents are
    /// always about an existing table, and new tables are created by ingest only.
    public static let agentKinds: [OperationKind] = [
        .addColumn, .widenColumn, .addVariantColumn, .mapField, .convertValue, .quarantine,
    ]

    /// Conversion names as they appear on the wire (`ValueConversion.name`), except
    /// `scale`, which takes its factor from the operation's `factor` field.
    public static let conversionNames: [String: ValueConversion] = [
        "epoch_seconds_to_timestamptz": .epochSecondsToTimestamp,
        "epoch_millis_to_timestamptz": .epochMillisToTimestamp,
        "iso8601_to_epoch_seconds": .timestampToEpochSeconds,
        "numeric_string_to_number": .numericString,
    ]

    /// Every conversion an agent may name, `scale` included, in a stable order.
    public static var allConversionNames: [String] { conversionNames.keys.sorted() + ["scale"] }

    /// The one identifier pattern of the wire format. ASCII only, so that a schema-
    /// following client and the decoder agree byte for byte; every match is also
    /// `Identifier.isWellFormed` (which additionally admits non-ASCII lowercase letters).
    public static let identifierPattern = "^[a-z_][a-z0-9_]{0,62}$"

    /// Names an agent may not touch: Mend's own bookkeeping columns and tables.
    public static let reservedPrefix = "_mend"

    public static let maxOperations = 20

    static let typeNames = LogicalType.allCases.map(\.rawValue)
    static let operationKeys: Set<String> = ["kind", "column", "type", "from", "source", "of", "conversion", "factor"]
    static let planKeys: Set<String> = ["operations", "rationale", "confidence"]
    /// Keys an agent might use to smuggle statements in; named in the error so it learns why.
    static let sqlKeys: Set<String> = ["sql", "ddl", "statement", "statements", "query", "raw_sql"]

    /// Whether `name` matches `identifierPattern`, checked on bytes (no regex engine on the hot path of a tool call).
    public static func isWireIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= Identifier.maxBytes else { return false }
        func letter(_ b: UInt8) -> Bool { b == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) }
        return letter(first) && bytes.dropFirst().allSatisfy { letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    // MARK: - schema

    /// JSON Schema (2020-12) of one operation. Inline, not `$ref`, because several MCP
    /// clients and LLM APIs pass tool schemas to models without resolving references.
    public static var operationSchema: Value {
        func identifier(_ description: String) -> Value {
            .object(["type": "string", "pattern": .string(identifierPattern), "description": .string(description)])
        }
        return .object([
            "type": "object",
            "description": """
            One typed change. Fields per kind — add_column: column, type. widen_column: column, from (current type), \
            type (wider type). add_variant_column: column (new), of (the column whose conflicting values go there), type. \
            map_field: source (incoming normalized field name), column (existing target column). convert_value: column, \
            conversion (and factor when conversion is 'scale'). quarantine: no fields (the incident's records are set aside). \
            Names starting with _mend are Mend's own and refused.
            """,
            "required": ["kind"],
            "additionalProperties": false,
            "properties": .object([
                "kind": .object(["type": "string", "enum": .array(agentKinds.map { .string($0.rawValue) })]),
                "column": identifier("Column name, lowercase snake_case; for map_field the existing target column."),
                "type": .object([
                    "type": "string", "enum": .array(typeNames.map { .string($0) }),
                    "description": "add_column / add_variant_column: the new column's logical type; widen_column: the wider type.",
                ]),
                "from": .object([
                    "type": "string", "enum": .array(typeNames.map { .string($0) }),
                    "description": "widen_column: the column's current logical type.",
                ]),
                "source": identifier("map_field: the incoming field (normalized name, as shown in the incident's drifts)."),
                "of": identifier("add_variant_column: the existing column whose conflicting values move to the variant."),
                "conversion": .object([
                    "type": "string", "enum": .array(allConversionNames.map { .string($0) }),
                    "description": "convert_value: how incoming values of the column are converted before validation.",
                ]),
                "factor": .object([
                    "type": "number", "description": "convert_value with conversion 'scale': the multiplier (100 for euros → cents).",
                ]),
            ]),
        ])
    }

    /// JSON Schema of a plan: the resource `mend://schemas/plan`, the `plan` argument
    /// of propose_plan and apply_plan, and the input of the agent's submit_plan.
    public static var schema: Value {
        .object([
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "mend://schemas/plan",
            "title": "Mend repair plan",
            "description": "Typed operations Mend compiles to SQL itself; raw SQL is never accepted.",
            "type": "object",
            "required": ["operations", "rationale", "confidence"],
            "additionalProperties": false,
            "properties": .object([
                "operations": .object(["type": "array", "minItems": 1, "maxItems": .int(maxOperations), "items": operationSchema]),
                "rationale": .object([
                    "type": "string", "minLength": 1, "description": "Why this fixes the incident, for the person who reviews it.",
                ]),
                "confidence": .object([
                    "type": "number", "minimum": 0, "maximum": 1, "description": "How sure the planner is, from 0 to 1.",
                ]),
            ]),
        ])
    }

    // MARK: - decoder

    /// Decodes and checks a plan from an agent. Every problem found is listed, each
    /// with its JSON path, so one round trip fixes them all. The plan comes back with
    /// incident id 0 and no table: the caller knows which incident it is for.
    public static func decode(_ value: Value, plannedBy: String) throws(PlanValidationError) -> Plan {
        var problems: [String] = []
        guard case .object(let obj) = value else {
            throw PlanValidationError(problems: [
                "plan: expected a JSON object with 'operations', 'rationale' and 'confidence', got \(jsonKind(value))"
            ])
        }
        problems += unknownKeys(obj, allowed: planKeys, at: "plan")
        var rationale = ""
        switch obj["rationale"] {
        case .string(let s) where !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty: rationale = s
        case nil: problems.append("plan.rationale: required (why this fixes the incident)")
        case let v?: problems.append("plan.rationale: expected a non-empty string, got \(describe(v))")
        }
        var confidence = 0.0
        switch obj["confidence"] {
        case nil: problems.append("plan.confidence: required, a number from 0 to 1 (how sure you are)")
        case let v?:
            if let d = number(v), d.isFinite, (0...1).contains(d) {
                confidence = d
            } else {
                problems.append("plan.confidence: expected a number from 0 to 1, got \(describe(v))")
            }
        }
        var operations: [PlanOperation] = []
        switch obj["operations"] {
        case .array(let items) where !items.isEmpty && items.count <= maxOperations:
            for (i, item) in items.enumerated() {
                switch operation(item, at: "plan.operations[\(i)]") {
                case .success(let op): operations.append(op)
                case .failure(let e): problems += e.problems
                }
            }
        case .array(let items):
            problems.append("plan.operations: expected 1 to \(maxOperations) operations, got \(items.count)")
        case nil: problems.append("plan.operations: required (a list of typed operations)")
        case let v?: problems.append("plan.operations: expected an array, got \(jsonKind(v))")
        }
        if !problems.isEmpty { throw PlanValidationError(problems: problems) }
        let plan = Plan(
            incidentID: 0, table: "", operations: operations, rationale: rationale, confidence: confidence, plannedBy: plannedBy)
        // The core's own checks (widening direction and the like) have the last word.
        if let p = plan.problem() { throw PlanValidationError(problems: ["plan: \(p)"]) }
        return plan
    }

    static func operation(_ value: Value, at: String) -> Result<PlanOperation, PlanValidationError> {
        guard case .object(let o) = value else {
            return .failure(PlanValidationError(problems: ["\(at): expected an object with 'kind', got \(jsonKind(value))"]))
        }
        var problems = unknownKeys(o, allowed: operationKeys, at: at)
        let kinds = agentKinds.map(\.rawValue).joined(separator: ", ")
        guard let kindText = o["kind"]?.stringValue else {
            problems.append("\(at).kind: required; 'kind' must be one of \(kinds)")
            return .failure(PlanValidationError(problems: problems))
        }
        guard let kind = OperationKind(rawValue: kindText), agentKinds.contains(kind) else {
            problems.append("\(at).kind: \(quoted(kindText)) is not an operation; 'kind' must be one of \(kinds)")
            return .failure(PlanValidationError(problems: problems))
        }
        func name(_ key: String, required: Bool) -> String? {
            switch o[key] {
            case nil:
                if required { problems.append("\(at).\(key): required for \(kindText)") }
                return nil
            case .string(let s):
                if let p = nameProblem(s) { problems.append("\(at).\(key): \(p)") }
                return s
            case let v?:
                problems.append("\(at).\(key): expected a string, got \(jsonKind(v))")
                return nil
            }
        }
        func type(_ key: String, required: Bool) -> LogicalType? {
            switch o[key] {
            case nil:
                if required { problems.append("\(at).\(key): required for \(kindText), one of \(typeNames.joined(separator: ", "))") }
                return nil
            case .string(let s):
                if let t = LogicalType(rawValue: s) { return t }
                problems.append("\(at).\(key): \(quoted(s)) is not a type; use one of \(typeNames.joined(separator: ", "))")
                return nil
            case let v?:
                problems.append("\(at).\(key): expected a type name, got \(jsonKind(v))")
                return nil
            }
        }
        func forbid(_ keys: [String]) {
            for k in keys where o[k] != nil { problems.append("\(at).\(k): not used by \(kindText); remove it") }
        }
        var op = PlanOperation(kind: kind)
        switch kind {
        case .addColumn:
            op.column = name("column", required: true)
            op.type = type("type", required: true)
            forbid(["from", "source", "of", "conversion", "factor"])
        case .widenColumn:
            op.column = name("column", required: true)
            op.from = type("from", required: true)
            op.type = type("type", required: true)
            forbid(["source", "of", "conversion", "factor"])
        case .addVariantColumn:
            op.column = name("column", required: true)
            op.of = name("of", required: true)
            op.type = type("type", required: true)
            forbid(["from", "source", "conversion", "factor"])
        case .mapField:
            op.source = name("source", required: true)
            op.column = name("column", required: true)
            forbid(["type", "from", "of", "conversion", "factor"])
        case .convertValue:
            op.column = name("column", required: true)
            forbid(["type", "from", "source", "of"])
            switch o["conversion"] {
            case .string("scale"):
                if let f = o["factor"].flatMap(number), f.isFinite, f != 0 {
                    op.conversion = .scale(factor: f)
                } else {
                    problems.append("\(at).factor: required for conversion 'scale', a non-zero number")
                }
            case .string(let s):
                if let c = conversionNames[s] {
                    op.conversion = c
                } else {
                    problems.append(
                        "\(at).conversion: \(quoted(s)) is not a conversion; use one of \(allConversionNames.joined(separator: ", "))")
                }
                if o["factor"] != nil { problems.append("\(at).factor: only used with conversion 'scale'; remove it") }
            case nil: problems.append("\(at).conversion: required for convert_value")
            case let v?: problems.append("\(at).conversion: expected a conversion name, got \(jsonKind(v))")
            }
        case .quarantine:
            forbid(["column", "type", "from", "source", "of", "conversion", "factor"])
        case .createTable, .promoteField:
            break  // not in agentKinds, refused above: a promotion is a person's call
        }
        return problems.isEmpty ? .success(op) : .failure(PlanValidationError(problems: problems))
    }

    /// Why `name` may not appear in a plan, or nil. The reserved prefix is checked on
    /// its own so that the agent is told the real reason, not a spelling hint.
    static func nameProblem(_ name: String) -> String? {
        if name.hasPrefix(reservedPrefix) { return "\(quoted(name)): names starting with _mend are reserved for Mend's own state" }
        if isWireIdentifier(name) { return nil }
        let suggestion = Identifier.normalize(name)
        let hint = isWireIdentifier(suggestion) && !suggestion.hasPrefix(reservedPrefix) ? ", e.g. '\(suggestion)'" : ""
        return "\(quoted(name)) is not a name Mend writes; use lowercase ASCII snake_case of at most 63 bytes\(hint)"
    }

    static func unknownKeys(_ o: [String: Value], allowed: Set<String>, at: String) -> [String] {
        o.keys.sorted().filter { !allowed.contains($0) }.map { k in
            let path = "\(at).\(cap(k))"
            if sqlKeys.contains(k.lowercased()) {
                return "\(path): raw SQL is never accepted; describe the change as typed operations (see mend://schemas/plan)"
            }
            return "\(path): unknown field; allowed: \(allowed.sorted().joined(separator: ", "))"
        }
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// A value as an error message shows it: numbers as themselves, the rest by kind.
    static func describe(_ v: Value) -> String {
        switch v {
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        default: jsonKind(v)
        }
    }

    /// Text from the agent, quoted and capped: an error message must not become a
    /// channel that echoes a long injected string back into a model's context.
    static func quoted(_ s: String) -> String { "'\(cap(s))'" }

    static func cap(_ s: String, _ n: Int = 64) -> String { s.count > n ? String(s.prefix(n)) + "…" : s }

    /// The JSON kind of a value, for error messages ("expected a string, got an array").
    public static func jsonKind(_ v: Value) -> String {
        switch v {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .data: "binary data"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A plan from an agent that does not match the published schema; `problems` name
/// the JSON path of each mistake and what to write instead.
public struct PlanValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [String]

    public init(problems: [String]) { self.problems = problems }

    public var description: String {
        "the plan is invalid (schema: mend://schemas/plan):\n" + problems.map { "- \($0)" }.joined(separator: "\n")
    }
}
