import MCP
import MendPipeline
import MendPlanFormat
import MendStore

/// `query_audit`: the hash-chained audit log, filtered, optionally verified.
enum QueryAuditTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "query_audit",
            description: """
                Read the hash-chained audit log, newest last: every incident, plan, decision, apply, replay, quarantine \
                and MCP tool call (with the client's name and a digest of the arguments). Filter by kind prefix \
                (e.g. 'plan.', 'mcp.tool_call') or subject (e.g. 'incident:3', 'plan:7'); verify=true also checks the chain.
                """,
            inputSchema: ToolSchema.object([
                "limit": .object(["type": "integer", "minimum": 1, "maximum": 500, "default": 20]),
                "kind": .object(["type": "string", "description": "Kind prefix."]),
                "subject": .object(["type": "string", "description": "Exact subject."]),
                "verify": .object(["type": "boolean", "default": false, "description": "Recompute the hash chain."]),
            ]),
            annotations: ToolSchema.readOnly("Query the audit log"),
            outputSchema: OutputSchema.tool(
                "query_audit", title: "Audit entries",
                [
                    "entries": OutputSchema.array(OutputSchema.auditEntry), "count": OutputSchema.integer(),
                    "verification": OutputSchema.object(
                        [
                            "ok": OutputSchema.boolean(), "entries": OutputSchema.integer("Entries checked."),
                            "first_broken": OutputSchema.nullable(OutputSchema.integer("The first entry that does not verify.")),
                            "reason": OutputSchema.nullable(OutputSchema.string()),
                            "head": OutputSchema.nullable(
                                OutputSchema.string("Hash of the last entry; keep it elsewhere to detect a cut tail.")),
                        ], description: "Present when verify is true."),
                ], required: ["entries", "count"]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let limit = try a.bounded("limit", default: 20, in: 1...500)
        let kind = try a.string("kind")
        let subject = try a.string("subject")
        let verify: Bool
        switch a["verify"] {
        case nil, .null: verify = false
        case .bool(let b): verify = b
        case let v?: throw ToolError.invalidArgument("verify: expected a boolean, got \(PlanFormat.jsonKind(v))")
        }
        let filtered = kind != nil || subject != nil
        // Filters look further back than the limit; verification needs the whole chain.
        let entries = try await context.engine.auditEntries(limit: verify ? nil : (filtered ? max(limit * 50, 5000) : limit))
        let matching = entries.filter {
            (kind == nil || $0.kind.hasPrefix(kind ?? "")) && (subject == nil || $0.subject == subject)
        }.suffix(limit)
        var value: [String: Value] = [
            "entries": .array(
                matching.map {
                    .object([
                        "seq": .int(Int($0.seq)), "at": .string($0.at), "kind": .string($0.kind), "subject": .string($0.subject),
                        "actor": .string($0.actor), "detail": JSON.parse($0.detail), "hash": .string($0.hash),
                    ])
                }),
            "count": .int(matching.count),
        ]
        var summary = "\(matching.count) audit entr\(matching.count == 1 ? "y" : "ies")"
        if verify {
            let report = AuditVerifier.verify(entries)
            value["verification"] = .object([
                "ok": .bool(report.ok), "entries": .int(report.entries), "first_broken": report.firstBroken.map { .int(Int($0)) } ?? .null,
                "reason": report.reason.map(Value.string) ?? .null, "head": report.head.map(Value.string) ?? .null,
            ])
            summary +=
                report.ok
                ? "; chain verified (\(report.entries) entries)" : "; chain BROKEN at \(report.firstBroken ?? 0): \(report.reason ?? "")"
        }
        return ToolOutcome(summary: summary, value: .object(value))
    }
}
