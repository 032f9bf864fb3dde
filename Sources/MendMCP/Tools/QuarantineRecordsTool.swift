import MCP
import MendPipeline
import MendPlanFormat

/// `quarantine_records`: sets parked records aside for good, with a reason.
enum QuarantineRecordsTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "quarantine_records",
            description: """
                Set parked records of an incident aside for good (bad data that no schema change should absorb). They are \
                kept with the reason, counted as quarantined, and never loaded by Mend. Omit parked_ids to quarantine \
                every parked record of the incident, which resolves it.
                """,
            inputSchema: ToolSchema.object(
                [
                    "incident_id": ToolSchema.incidentID,
                    "parked_ids": .object([
                        "type": "array", "items": .object(["type": "integer", "minimum": 1]), "minItems": 1,
                        "description": "parked_id values from get_incident.",
                    ]),
                    "reason": .object(["type": "string", "minLength": 1, "description": "Why (kept beside each record)."]),
                ], required: ["incident_id", "reason"]),
            annotations: ToolSchema.writes("Quarantine parked records", destructive: true, idempotent: true),
            outputSchema: OutputSchema.tool(
                "quarantine_records", title: "Quarantine result",
                [
                    "incident_id": OutputSchema.integer(), "quarantined": OutputSchema.integer("Records set aside now."),
                    "still_parked": OutputSchema.integer(), "resolved": OutputSchema.boolean("Whether the incident is resolved now."),
                    "not_found": OutputSchema.array(
                        OutputSchema.integer(), description: "Ids asked for that are not parked records of this incident."),
                ]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let id = try a.incidentID()
        guard let reason = try a.string("reason", required: "why these records cannot be loaded (kept beside each record)") else {
            throw ToolError.invalidArgument("reason: required")
        }
        var ids: [Int64]? = nil
        switch a["parked_ids"] {
        case nil, .null: break
        case .array(let items):
            ids = try items.map {
                guard case .int(let n) = $0, n > 0 else {
                    throw ToolError.invalidArgument("parked_ids: expected positive integers (the parked_id values from get_incident)")
                }
                return Int64(n)
            }
            if ids?.isEmpty == true { throw ToolError.invalidArgument("parked_ids: empty; omit it to quarantine every parked record") }
        case let v?: throw ToolError.invalidArgument("parked_ids: expected an array of integers, got \(PlanFormat.jsonKind(v))")
        }
        let r = try await context.engine.quarantine(incidentID: id, parkedIDs: ids, by: context.caller.actor, reason: reason)
        let notFound = r.notFound.map(String.init).joined(separator: ", ")
        if r.quarantined == 0 && !r.notFound.isEmpty {
            return .failure("none of the parked_ids are parked records of incident #\(id) (\(notFound)); get_incident lists them")
        }
        return ToolOutcome(
            summary:
                "quarantined \(r.quarantined) record(s) of incident #\(id); \(r.stillParked) still parked\(r.resolved ? "; incident resolved" : "")"
                + (r.notFound.isEmpty ? "" : "; not parked in this incident: \(notFound)"),
            // Written out, not encoded from the engine's type: the output schema is a promise.
            value: .object([
                "incident_id": .int(Int(id)), "quarantined": .int(r.quarantined), "still_parked": .int(Int(r.stillParked)),
                "resolved": .bool(r.resolved), "not_found": .array(r.notFound.map { .int(Int($0)) }),
            ]))
    }
}
