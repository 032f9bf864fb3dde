import MCP
import MendCore

/// JSON Schemas (draft 2020-12) of what Mend's tools return as `structuredContent`:
/// each tool declares its own as `outputSchema`, built from the shapes here, and the
/// resources `mend://schemas/tools/{tool}` publish the same values.
///
/// The schemas are strict (every key listed, `additionalProperties: false`, required
/// keys required) so that a client can rely on them and a test fails when an answer
/// drifts from its schema. Keys are snake_case. Only keys that are data (column names
/// in rows, table names in stats, source keys in mappings) are left open.
enum OutputSchema {
    static let dialect = "https://json-schema.org/draft/2020-12/schema"

    /// The top level of a tool's output schema: an object, as MCP requires.
    static func tool(
        _ name: String, title: String, _ properties: [String: Value], required: [String]? = nil, extra: [String: Value] = [:]
    ) -> Value {
        var o: [String: Value] = [
            "$schema": .string(dialect), "$id": .string(uri(name)), "title": .string(title), "type": "object",
            "properties": .object(properties), "required": .array((required ?? properties.keys.sorted()).map(Value.string)),
            "additionalProperties": false,
        ]
        o.merge(extra) { _, new in new }
        return .object(o)
    }

    static func uri(_ tool: String) -> String { "mend://schemas/tools/\(tool)" }

    /// What every result with `isError: true` carries instead: the reason, in one line
    /// an agent can act on. Both official SDKs check the output schema only for results
    /// that are not errors; Mend's error results follow this schema instead
    /// (resource `mend://schemas/tool-error`).
    static let errorURI = "mend://schemas/tool-error"
    static var error: Value {
        .object([
            "$schema": .string(dialect), "$id": .string(errorURI), "title": "Mend tool error", "type": "object",
            "properties": .object(["error": string("What went wrong and what to send instead.")]), "required": ["error"],
            "additionalProperties": false,
        ])
    }

    // MARK: - building blocks

    /// An object whose keys are all required unless `optional` names them.
    static func object(_ properties: [String: Value], optional: Set<String> = [], description: String? = nil) -> Value {
        var o: [String: Value] = [
            "type": "object", "properties": .object(properties),
            "required": .array(properties.keys.filter { !optional.contains($0) }.sorted().map(Value.string)),
            "additionalProperties": false,
        ]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    /// An object with keys that are data (names), each holding `values`.
    static func map(of values: Value, description: String) -> Value {
        .object(["type": "object", "additionalProperties": values, "description": .string(description)])
    }

    static func string(_ description: String? = nil) -> Value { typed("string", description) }
    static func integer(_ description: String? = nil) -> Value { typed("integer", description) }
    static func number(_ description: String? = nil) -> Value { typed("number", description) }
    static func boolean(_ description: String? = nil) -> Value { typed("boolean", description) }
    static func array(_ items: Value, description: String? = nil) -> Value {
        var o: [String: Value] = ["type": "array", "items": items]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func oneOf(_ values: [String], description: String? = nil) -> Value {
        var o: [String: Value] = ["type": "string", "enum": .array(values.map(Value.string))]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func constant(_ value: String) -> Value { .object(["const": .string(value)]) }

    /// `schema` or null.
    static func nullable(_ schema: Value) -> Value {
        guard case .object(var o) = schema else { return schema }
        if case .string(let t) = o["type"] {
            o["type"] = [.string(t), "null"]
            if case .array(let values) = o["enum"] { o["enum"] = .array(values + [.null]) }
            return .object(o)
        }
        return .object(["anyOf": [schema, .object(["type": "null"])]])
    }

    /// Any JSON value (a parked record, an audit entry's detail).
    static func any(_ description: String) -> Value { .object(["description": .string(description)]) }

    private static func typed(_ type: String, _ description: String?) -> Value {
        var o: [String: Value] = ["type": .string(type)]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    // MARK: - Mend's shapes (as ToolValue and PlanFlow write them)

    static var incidentStatus: Value {
        oneOf(["open", "pending_approval", "resolved", "rejected"])
    }

    /// An incident; get_incident adds its drifts.
    static func incident(withDrifts: Bool = false) -> Value {
        var p: [String: Value] = [
            "id": integer("Incident id."), "table": string(), "status": incidentStatus,
            "kinds": array(oneOf(DriftKind.allCases.map(\.rawValue)), description: "Drift kinds seen in this incident."),
            "parked": integer("Records parked and waiting."), "signature": string("What groups the records of this incident."),
            "opened_at": .object(["type": "string", "format": "date-time"]),
            "first_reason": nullable(string("The first drift's reason, in words.")),
            "resource": string("The incident as a resource (mend://incidents/{id})."),
        ]
        if withDrifts { p["drifts"] = array(drift) }
        return object(p)
    }

    static var drift: Value {
        object([
            "kind": oneOf(DriftKind.allCases.map(\.rawValue)), "column": string(), "source_key": string(),
            "observed": nullable(oneOf(LogicalType.allCases.map(\.rawValue))),
            "expected": nullable(oneOf(LogicalType.allCases.map(\.rawValue))), "reason": string(),
        ])
    }

    static var risk: Value { oneOf(Risk.allCases.map(\.rawValue)) }

    static var verdict: Value {
        object(
            [
                "sql": string("A statement Mend compiled."), "allowed": boolean(), "risk": risk, "rule": string("The guard's rule."),
                "reasons": array(string()), "safer_alternative": nullable(string()),
            ], description: "The guard's verdict on one statement.")
    }

    static var decision: Value {
        object(
            ["autonomy": oneOf(Autonomy.allCases.map(\.rawValue)), "reasons": array(string())],
            description: "The policy's decision: auto applies, approve waits for a person, deny refuses.")
    }

    /// A plan as Mend shows it: the wire form agents write, with id, status and planner.
    static var plan: Value {
        let operation = object(
            [
                "kind": oneOf(OperationKind.allCases.map(\.rawValue)), "summary": string("The operation in words."),
                "column": string(), "type": oneOf(LogicalType.allCases.map(\.rawValue)),
                "from": oneOf(LogicalType.allCases.map(\.rawValue)), "source": string(), "of": string(), "conversion": string(),
                "factor": number(),
                "columns": array(object(["name": string(), "type": oneOf(LogicalType.allCases.map(\.rawValue))])),
            ], optional: ["column", "type", "from", "source", "of", "conversion", "factor", "columns"])
        return object(
            [
                "id": integer("Plan id; absent in a dry run of a plan not stored."),
                "incident_id": integer("The incident the plan repairs."), "table": string(), "operations": array(operation),
                "rationale": string(), "confidence": number(), "planned_by": string("rules, llm:<model>, mcp:<client>, …"),
                "status": oneOf(["proposed", "pending_approval", "approved", "applied", "rejected", "refused", "failed"]),
                "evidence": array(renameEvidence, description: "Why a map_field is a rename (the rules planner's), as data."),
            ], optional: ["id", "evidence"])
    }

    static var renameEvidence: Value {
        object(
            [
                "new_key": string("The key as it now arrives."), "new_column": string(), "old_column": string("The column it maps onto."),
                "recent_rows": integer("Recent loaded rows compared."), "recent_with_old": integer("Of those, rows with the old key."),
                "trailing_with_old": integer("The newest rows, in a row, that had the old key."),
                "new_records": integer("Parked records that carry the new key."),
                "new_records_with_old": integer("Of those, records that still carry the old key."),
                "first_new_at": string("Where the new key began (source:line)."),
                "samples": array(object(["old": string(), "new": string()]), description: "Old values beside new ones."),
                "similarity": number("How alike the values look, 0 to 1."), "score": number("0 to 1."), "summary": string(),
            ], description: "Evidence that a new key is an old key renamed.")
    }

    static var storedPlan: Value {
        object([
            "plan": plan, "verdicts": array(verdict), "decision": nullable(decision), "decided_by": nullable(string()),
            "note": nullable(string()),
        ])
    }

    /// propose_plan's answer (PlanFlow.proposalValue).
    static var proposal: [String: Value] {
        [
            "dry_run": boolean(), "plan": plan, "statements": array(verdict), "risk": risk, "decision": decision,
            "outcome": oneOf(["applies automatically", "waits for a person's approval", "refused", "invalid"]),
            "problem": nullable(string("Why the plan is invalid.")),
        ]
    }

    /// apply_plan's and approve_plan's answer: applied, or waiting for a person.
    static func repairOutcome(_ name: String, title: String) -> Value {
        tool(
            name, title: title,
            [
                "outcome": oneOf(["applied", "pending_approval"]), "plan_id": integer(),
                "plan": nullable(storedPlan),
                "incident": incident(), "approved_by": string("Who approved, when a client the policy lists did."),
                "why": string("Why the plan still waits."), "how_to_approve": string(), "how_to_reject": string(),
            ], required: ["outcome", "plan_id", "plan"],
            extra: [
                "oneOf": [
                    .object([
                        "properties": .object(["outcome": constant("applied")]), "required": ["incident"],
                        "not": .object(["required": ["why"]]),
                    ]),
                    .object([
                        "properties": .object(["outcome": constant("pending_approval")]),
                        "required": ["why", "how_to_approve", "how_to_reject"], "not": .object(["required": ["incident"]]),
                    ]),
                ]
            ])
    }

    static var tableSchema: [String: Value] {
        [
            "table": string(), "version": integer("Schema version (1 before any repair)."),
            "columns": array(
                object([
                    "name": string(), "type": nullable(oneOf(LogicalType.allCases.map(\.rawValue))), "declared_type": string(),
                    "nullable": boolean(),
                    "source_keys": array(
                        string(),
                        description:
                            "Key paths that land in this column, as text: segments joined by '.', a '.' or '\\' in a key escaped with '\\'."
                    ),
                    "source_paths": array(
                        array(string()),
                        description:
                            "The same key paths as arrays of keys, top level first: [\"id\", \"orig_h\"] is nested, [\"id.orig_h\"] one dotted key."
                    ),
                ])),
            "mappings": map(of: string(), description: "A key path's own column → the column a map_field sends it to."),
            "conversions": map(of: string(), description: "Column → conversion applied before validation."),
            "history": array(object(["version": integer(), "plan_id": nullable(integer()), "ddl": string()])),
            "children": array(
                object([
                    "table": string(), "depth": integer(),
                    "foreign_key_to": nullable(
                        string(
                            "The table its _mend_parent_id references with a foreign key (foreign_keys: true, PostgreSQL); null without one."
                        )),
                ]),
                description:
                    "Child tables (nested_lists: tables), parents before children; join a child's _mend_parent_id to its parent's _mend_id."
            ),
        ]
    }

    static var auditEntry: Value {
        object([
            "seq": integer(), "at": string(), "kind": string(), "subject": string(), "actor": string(),
            "detail": any("The entry's detail, JSON as written."), "hash": string("SHA-256 chaining this entry to the one before."),
        ])
    }
}
