import Foundation
public import MCP
import MendCore
import MendPipeline
import MendPlanFormat
import MendStore

/// Resources: the same facts as the read tools, addressable by URI so a client can
/// attach them to a conversation.
extension MendTools {
    public static let resourceTemplates: [Resource.Template] = [
        Resource.Template(
            uriTemplate: "mend://tables/{table}/schema", name: "table-schema", title: "Table schema",
            description: "Columns, types, source keys, mappings, conversions and schema history of a table Mend loads.",
            mimeType: "application/json"),
        Resource.Template(
            uriTemplate: "mend://incidents/{id}", name: "incident", title: "Incident",
            description: "An incident with its drifts, parked samples and plans.", mimeType: "application/json"),
    ]

    /// Fixed resources, then one per managed table and per unresolved incident.
    public func listResources() async throws -> [Resource] {
        var out = [
            Resource(
                name: "policy", uri: "mend://policy", title: "Policy in force",
                description: "Contracts and autonomy per kind of change, the auto-risk limit, per-table overrides.",
                mimeType: "application/json"),
            Resource(
                name: "audit-recent", uri: "mend://audit/recent", title: "Recent audit entries",
                description: "The last \(options.recentAuditEntries) entries of the hash-chained audit log.", mimeType: "application/json"),
            Resource(
                name: "plan-schema", uri: "mend://schemas/plan", title: "Repair plan JSON schema",
                description: "The typed plan propose_plan and apply_plan accept.", mimeType: "application/schema+json"),
            Resource(
                name: "tool-error-schema", uri: OutputSchema.errorURI, title: "Tool error JSON schema",
                description: "The structured content of every tool result with isError: true.", mimeType: "application/schema+json"),
        ]
        // Each tool's output schema, the same value tools/list declares.
        for t in Self.definitions where t.outputSchema != nil {
            out.append(
                Resource(
                    name: "output-schema-\(t.name)", uri: OutputSchema.uri(t.name), title: "Output schema of \(t.name)",
                    description: "JSON Schema of \(t.name)'s structuredContent.", mimeType: "application/schema+json"))
        }
        for t in try await engine.managedTables() {
            out.append(
                Resource(
                    name: "schema-\(t)", uri: "mend://tables/\(t)/schema", title: "Schema of \(t)", mimeType: "application/json"))
        }
        for i in try await engine.incidents().filter(\.status.isOpen).suffix(100) {
            out.append(
                Resource(
                    name: "incident-\(i.id)", uri: "mend://incidents/\(i.id)",
                    title: "Incident #\(i.id) on \(i.table) (\(i.status.rawValue))",
                    mimeType: "application/json"))
        }
        return out
    }

    public func readResource(uri: String) async throws -> [Resource.Content] {
        func json(_ v: Value, mime: String = "application/json") -> [Resource.Content] {
            [.text(JSON.text(v), uri: uri, mimeType: mime)]
        }
        let parts = uri.hasPrefix("mend://") ? uri.dropFirst("mend://".count).split(separator: "/").map(String.init) : []
        switch parts.count {
        case 1 where parts[0] == "policy":
            return json(try JSON.value(await engine.policy))
        case 2 where parts == ["audit", "recent"]:
            let entries = try await engine.auditEntries(limit: options.recentAuditEntries)
            return json(
                .object([
                    "entries": .array(
                        entries.map {
                            .object([
                                "seq": .int(Int($0.seq)), "at": .string($0.at), "kind": .string($0.kind), "subject": .string($0.subject),
                                "actor": .string($0.actor), "detail": JSON.parse($0.detail),
                            ])
                        })
                ]))
        case 2 where parts == ["schemas", "plan"]:
            return json(PlanFormat.schema, mime: "application/schema+json")
        case 2 where parts == ["schemas", "tool-error"]:
            return json(OutputSchema.error, mime: "application/schema+json")
        case 3 where parts[0] == "schemas" && parts[1] == "tools":
            guard let schema = Self.byName[parts[2]]?.definition.outputSchema else {
                throw MCPError.invalidParams("no tool \(parts[2]); tools/list shows Mend's tools")
            }
            return json(schema, mime: "application/schema+json")
        case 2 where parts[0] == "incidents":
            guard let id = Int(parts[1]), id > 0 else { break }
            let out = try await GetIncidentTool.detail(Int64(id), samples: 5, engine: engine)
            return json(out.value)
        case 3 where parts[0] == "tables" && parts[2] == "schema":
            let table = parts[1].removingPercentEncoding ?? parts[1]
            guard let s = try await engine.schema(table: table) else {
                throw MCPError.invalidParams("no table \(table); pipeline_stats lists the tables Mend loads")
            }
            return json(ToolValue.schema(table: table, s, children: try await engine.childTables(of: table)))
        default:
            break
        }
        throw MCPError.invalidParams(
            "unknown resource \(uri); Mend serves mend://policy, mend://audit/recent, mend://schemas/plan, mend://schemas/tool-error, mend://schemas/tools/{tool}, mend://tables/{table}/schema and mend://incidents/{id}"
        )
    }
}

/// Prompts that walk an agent through Mend's own workflow, with the facts inlined so
/// the first answer can already be specific.
extension MendTools {
    public static let prompts: [Prompt] = [
        Prompt(
            name: "diagnose_incident", title: "Diagnose a drift incident",
            description: "Leads an agent from an incident through the table schema and parked samples to a typed plan, dry-run first.",
            arguments: [.init(name: "incident_id", description: "Incident id (list_incidents)", required: true)]),
        Prompt(
            name: "review_plan", title: "Review a repair plan",
            description:
                "Asks for a review of an incident's current (or proposed) plan: SQL, guard verdict, risk, policy, and fit with the samples.",
            arguments: [.init(name: "incident_id", description: "Incident id", required: true)]),
    ]

    public func prompt(name: String, arguments: [String: String]?) async throws -> GetPrompt.Result {
        guard let text = arguments?["incident_id"], let id = Int64(text.hasPrefix("#") ? String(text.dropFirst()) : text), id > 0 else {
            throw MCPError.invalidParams("incident_id: required, a positive integer (list_incidents shows the ids)")
        }
        let (incident, samples, plans) = try await engine.incidentDetail(id, samples: 3)
        let drifts = incident.drifts.map { "- \($0.kind.rawValue) on \($0.column.isEmpty ? "?" : $0.column): \($0.reason)" }
            .joined(separator: "\n")
        let sampleText = samples.map { "- parked_id \($0.id): \($0.record.prefix(300))" }.joined(separator: "\n")
        switch name {
        case "diagnose_incident":
            let text = """
                Diagnose Mend incident #\(id) on table `\(incident.table)` (\(incident.status.rawValue), \(incident.parked) records parked) and propose a repair.

                Drifts:
                \(drifts.isEmpty ? "(none recorded)" : drifts)

                Sample parked records:
                \(sampleText.isEmpty ? "(none parked)" : sampleText)

                Steps:
                1. Read the table's schema (get_table_schema with table "\(incident.table)", or resource mend://tables/\(incident.table)/schema) and a few loaded rows (sample_records) to see what the data usually looks like.
                2. Read the incident (get_incident with incident_id \(id)) for every distinct drift and more samples.
                3. Decide what changed in the source: a new field (add_column), a wider type (widen_column), a renamed key (map_field), values that mean something else (convert_value), values of a conflicting type (add_variant_column), or bad data (quarantine_records).
                4. Write a typed plan (schema: mend://schemas/plan; never SQL) and dry-run it with propose_plan. Read the compiled SQL, the guard's risk and the policy decision; revise if it is refused.
                5. Explain the plan in two or three sentences for the person on call, then apply it with apply_plan. If the policy requires approval, Mend asks the person; do not approve on their behalf.
                6. Check the result: get_incident or pipeline_stats (input = loaded + parked + quarantined).
                """
            return GetPrompt.Result(description: "Diagnose incident #\(id)", messages: [.user(.text(text: text))])
        case "review_plan":
            var planText: String
            if let current = plans.last {
                planText = JSON.text(ToolValue.storedPlan(current))
            } else {
                let p = try await engine.propose(incidentID: id)
                planText = "(no stored plan; the rules planner's dry run:)\n" + JSON.text(PlanFlow.proposalValue(p, dryRun: true))
            }
            if planText.count > 6000 { planText = String(planText.prefix(6000)) + "\n…" }
            let text = """
                Review the repair plan for Mend incident #\(id) on table `\(incident.table)`.

                Drifts:
                \(drifts.isEmpty ? "(none recorded)" : drifts)

                Sample parked records:
                \(sampleText.isEmpty ? "(none parked)" : sampleText)

                Plan, compiled SQL, guard verdicts and policy decision:
                \(planText)

                Review it as a careful database engineer:
                - Does each operation fix a drift above, and nothing more? Would the sample records load afterwards?
                - Is the SQL what the operations say? What does the guard's risk mean for a large table (locks, rewrites)?
                - Could a safer plan do (a nullable column instead of a type change, a variant column, a mapping)?
                - Conclude with approve or reject and one sentence why. Approval itself is a person's: `mend approve \(id)` or the apply_plan prompt.
                """
            return GetPrompt.Result(description: "Review the plan of incident #\(id)", messages: [.user(.text(text: text))])
        default:
            throw MCPError.invalidParams("unknown prompt \(name); Mend has diagnose_incident and review_plan")
        }
    }
}
