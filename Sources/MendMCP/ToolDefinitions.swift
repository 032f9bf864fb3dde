import MCP
import MendCore
import MendPlanFormat

extension MendTools {
    static let incidentIDSchema: Value = .object([
        "type": "integer", "minimum": 1, "description": "Incident id, as list_incidents shows it.",
    ])

    static func object(_ properties: [String: Value], required: [String] = []) -> Value {
        .object([
            "type": "object", "properties": .object(properties), "required": .array(required.map(Value.string)),
            "additionalProperties": false,
        ])
    }

    /// Annotations are hints for clients deciding when to ask the user; they say what
    /// each tool changes. Every call is audited, which is bookkeeping, not a change.
    static func readOnly(_ title: String) -> Tool.Annotations {
        .init(title: title, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false)
    }

    static func writes(_ title: String, destructive: Bool, idempotent: Bool) -> Tool.Annotations {
        .init(title: title, readOnlyHint: false, destructiveHint: destructive, idempotentHint: idempotent, openWorldHint: false)
    }

    /// Mend's tools, with input schemas and honest annotations.
    public static var definitions: [Tool] {
        [
            Tool(
                name: "list_incidents",
                description: """
                    List drift incidents: records of one table that did not fit, grouped by the same problem (signature). \
                    Start here. Each has an id, its table, status (open, pending_approval, resolved, rejected), the drift \
                    kinds, how many records are parked, and the first reason.
                    """,
                inputSchema: object([
                    "status": .object([
                        "type": "string", "enum": ["open", "pending_approval", "resolved", "rejected"], "description": "Only this status.",
                    ]),
                    "table": .object(["type": "string", "description": "Only this table."]),
                ]),
                annotations: readOnly("List incidents")),
            Tool(
                name: "get_incident",
                description: """
                    One incident in full: every distinct drift with its reason, sample parked records (the original JSON, with \
                    parked_id and why each was parked), and its plans with their compiled SQL, guard verdicts and policy decision.
                    """,
                inputSchema: object(
                    [
                        "incident_id": incidentIDSchema,
                        "samples": .object([
                            "type": "integer", "minimum": 0, "maximum": 50, "default": 5, "description": "Parked records to include.",
                        ]),
                    ], required: ["incident_id"]),
                annotations: readOnly("Show incident")),
            Tool(
                name: "get_table_schema",
                description: """
                    A table's columns (logical type, declared type, nullability, the source keys that land in each), its \
                    field mappings and value conversions, and its schema history (every DDL Mend applied).
                    """,
                inputSchema: object(["table": .object(["type": "string", "description": "Table name."])], required: ["table"]),
                annotations: readOnly("Table schema")),
            Tool(
                name: "sample_records",
                description: "A few rows already loaded into a table Mend manages, to compare with parked records.",
                inputSchema: object(
                    [
                        "table": .object(["type": "string", "description": "Table name."]),
                        "limit": .object(["type": "integer", "minimum": 1, "maximum": 50, "default": 5]),
                    ], required: ["table"]),
                annotations: readOnly("Sample loaded rows")),
            Tool(
                name: "propose_plan",
                description: """
                    Dry run, changes nothing. Give a typed repair plan (schema below and in resource mend://schemas/plan) or \
                    omit 'plan' to get the rules planner's. The answer holds the compiled SQL, the guard's verdict and risk \
                    (low/medium/high/forbidden) per statement, and the policy decision: auto (apply_plan applies it), approve \
                    (a person must approve) or deny (refused). Raw SQL is never accepted. Invalid plans come back as errors \
                    naming each wrong field.
                    """,
                inputSchema: object(
                    ["incident_id": incidentIDSchema, "plan": PlanFormat.schema], required: ["incident_id"]),
                annotations: readOnly("Dry-run a repair plan")),
            Tool(
                name: "apply_plan",
                description: """
                    Repair an incident. With 'plan', that typed plan; without it, the incident's plan waiting for approval, \
                    or else the rules planner's. Runs the guard and the policy again: 'auto' applies the DDL under a lock and \
                    replays the parked records; 'approve' asks the person through the client (elicitation) when it can, and \
                    otherwise leaves the plan pending for `mend approve ID`; 'deny' is refused with the reasons. Changes the \
                    table's schema (adds columns, widens types); no data is deleted, but Mend does not undo schema changes.
                    """,
                inputSchema: object(
                    ["incident_id": incidentIDSchema, "plan": PlanFormat.schema], required: ["incident_id"]),
                annotations: writes("Apply a repair plan", destructive: true, idempotent: false)),
            Tool(
                name: "approve_plan",
                description: """
                    Approve the plan waiting on an incident, then apply it and replay the records. Approval is a person's \
                    decision: Mend asks the person through the client (elicitation) and records their name; a client \
                    without elicitation is refused and told to have a person run `mend approve ID`. Only call this when \
                    the person asked for it.
                    """,
                inputSchema: object(
                    [
                        "incident_id": incidentIDSchema,
                        "approver": .object([
                            "type": "string",
                            "description": "Who approves (used only where the server allows approval without elicitation).",
                        ]),
                        "note": .object(["type": "string", "description": "Kept in the audit log."]),
                    ], required: ["incident_id"]),
                annotations: writes("Approve and apply a plan", destructive: true, idempotent: false)),
            Tool(
                name: "reject_plan",
                description: """
                    Reject the plan waiting on an incident, with a reason for the audit log. The records stay parked; a new \
                    plan can be proposed and applied afterwards.
                    """,
                inputSchema: object(
                    [
                        "incident_id": incidentIDSchema,
                        "reason": .object(["type": "string", "minLength": 1, "description": "Why (kept in the audit log)."]),
                    ], required: ["incident_id", "reason"]),
                annotations: writes("Reject a plan", destructive: false, idempotent: false)),
            Tool(
                name: "replay_incident",
                description: """
                    Run an incident's parked records through validation again (after a repair, or after someone fixed the \
                    table by hand). Records that now fit are loaded; those that still drift stay parked, possibly in a new \
                    incident. Only adds rows.
                    """,
                inputSchema: object(["incident_id": incidentIDSchema], required: ["incident_id"]),
                annotations: writes("Replay parked records", destructive: false, idempotent: true)),
            Tool(
                name: "quarantine_records",
                description: """
                    Set parked records of an incident aside for good (bad data that no schema change should absorb). They are \
                    kept with the reason, counted as quarantined, and never loaded by Mend. Omit parked_ids to quarantine \
                    every parked record of the incident, which resolves it.
                    """,
                inputSchema: object(
                    [
                        "incident_id": incidentIDSchema,
                        "parked_ids": .object([
                            "type": "array", "items": .object(["type": "integer", "minimum": 1]), "minItems": 1,
                            "description": "parked_id values from get_incident.",
                        ]),
                        "reason": .object(["type": "string", "minLength": 1, "description": "Why (kept beside each record)."]),
                    ], required: ["incident_id", "reason"]),
                annotations: writes("Quarantine parked records", destructive: true, idempotent: true)),
            Tool(
                name: "query_audit",
                description: """
                    Read the hash-chained audit log, newest last: every incident, plan, decision, apply, replay, quarantine \
                    and MCP tool call (with the client's name and a digest of the arguments). Filter by kind prefix \
                    (e.g. 'plan.', 'mcp.tool_call') or subject (e.g. 'incident:3', 'plan:7'); verify=true also checks the chain.
                    """,
                inputSchema: object([
                    "limit": .object(["type": "integer", "minimum": 1, "maximum": 500, "default": 20]),
                    "kind": .object(["type": "string", "description": "Kind prefix."]),
                    "subject": .object(["type": "string", "description": "Exact subject."]),
                    "verify": .object(["type": "boolean", "default": false, "description": "Recompute the hash chain."]),
                ]),
                annotations: readOnly("Query the audit log")),
            Tool(
                name: "pipeline_stats",
                description: """
                    Per table: input, loaded, parked, quarantined, coerced values, open incidents and schema version \
                    (input = loaded + parked + quarantined), and the median time from drift to repair.
                    """,
                inputSchema: object([:]),
                annotations: readOnly("Pipeline statistics")),
        ]
    }
}
