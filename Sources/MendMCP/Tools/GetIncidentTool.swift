import MCP
import MendCore
import MendPipeline
import MendStore

/// `get_incident`: one incident with drifts, parked samples and plans (also the
/// resource `mend://incidents/{id}`).
enum GetIncidentTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "get_incident",
            description: """
                One incident in full: every distinct drift with its reason, sample parked records (the original JSON, with \
                parked_id and why each was parked), and its plans with their compiled SQL, guard verdicts and policy decision.
                """,
            inputSchema: ToolSchema.object(
                [
                    "incident_id": ToolSchema.incidentID,
                    "samples": .object([
                        "type": "integer", "minimum": 0, "maximum": 50, "default": 5, "description": "Parked records to include.",
                    ]),
                ], required: ["incident_id"]),
            annotations: ToolSchema.readOnly("Show incident"),
            outputSchema: OutputSchema.tool(
                "get_incident", title: "Incident in full",
                [
                    "incident": OutputSchema.incident(withDrifts: true),
                    "samples": OutputSchema.array(
                        OutputSchema.object(
                            [
                                "parked_id": OutputSchema.integer("Give it to quarantine_records."),
                                "source": OutputSchema.string("Where the record came from."),
                                "line": OutputSchema.integer("Its position in the source."),
                                "record": OutputSchema.any("The original JSON record, or its first 16 KiB as text when it is larger."),
                                "reason": OutputSchema.string("Why it was parked."),
                                "record_truncated": .object(["const": true]),
                                "record_bytes": OutputSchema.integer("The whole record's size, when it was cut."),
                            ], optional: ["record_truncated", "record_bytes"])),
                    "plans": OutputSchema.array(OutputSchema.storedPlan),
                    "schema_resource": OutputSchema.string("The table's schema as a resource."),
                ]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        try await detail(a.incidentID(), samples: a.bounded("samples", default: 5, in: 0...50), engine: context.engine)
    }

    static func detail(_ id: Int64, samples n: Int, engine: Engine) async throws -> ToolOutcome {
        let (i, samples, plans) = try await engine.incidentDetail(id, samples: n)
        var incident = ToolValue.incident(i)
        if case .object(var o) = incident {
            o["drifts"] = .array(i.drifts.map(ToolValue.drift))
            incident = .object(o)
        }
        let value: Value = .object([
            "incident": incident,
            "samples": .array(
                samples.map {
                    // A record over 16 KiB comes back cut, as text, with its size: the answer stays small.
                    let view = RecordView($0.record)
                    var sample: [String: Value] = [
                        "parked_id": .int(Int($0.id)), "source": .string($0.source), "line": .int(Int($0.line)),
                        "record": view.truncated ? .string(view.text) : JSON.parse($0.record), "reason": .string($0.reason),
                    ]
                    if view.truncated {
                        sample["record_truncated"] = true
                        sample["record_bytes"] = .int(view.bytes)
                    }
                    return .object(sample)
                }),
            "plans": .array(plans.map(ToolValue.storedPlan)),
            "schema_resource": .string("mend://tables/\(i.table)/schema"),
        ])
        return ToolOutcome(
            summary: "incident #\(i.id) on \(i.table): \(i.status.rawValue), \(i.parked) parked; \(i.drifts.first?.reason ?? "")",
            value: value)
    }
}
