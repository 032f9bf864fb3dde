import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendPlanFormat
import MendStore
import Testing

let coupon = [6, 7, 8].map { #"{"id": \#($0), "kind": "click", "amount": 10, "coupon": "SPRING"}"# }
let tenAsText = [9, 10].map { #"{"id": \#($0), "kind": "click", "amount": "ten"}"# }
let couponPlan: Value = [
    "operations": [["kind": "add_column", "column": "coupon", "type": "text"]], "rationale": "coupon is a new optional field",
    "confidence": 0.9,
]

/// In-process tests with the swift-sdk's own client over InMemoryTransport.
@Suite struct MendMCPTests {
    @Test func toolsHaveSchemasAndHonestAnnotations() async throws {
        let c = try await Connected.make(try await engineWithIncidents([]))
        defer { Task { await c.close() } }
        let tools = Dictionary(uniqueKeysWithValues: try await c.client.listTools().tools.map { ($0.name, $0) })
        #expect(
            Set(tools.keys) == [
                "list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan", "apply_plan", "approve_plan",
                "reject_plan", "replay_incident", "quarantine_records", "query_audit", "pipeline_stats",
            ])
        for (name, tool) in tools {
            #expect(tool.inputSchema.objectValue?["type"] == "object", "\(name) has an object input schema")
            #expect((tool.description ?? "").count > 60, "\(name) says what it does")
            #expect(tool.annotations.openWorldHint == false, "\(name) touches only this database")
        }
        for name in [
            "list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan", "query_audit", "pipeline_stats",
        ] {
            #expect(tools[name]?.annotations.readOnlyHint == true, "\(name) is read-only")
        }
        for name in ["apply_plan", "approve_plan", "quarantine_records"] {
            #expect(tools[name]?.annotations.readOnlyHint == false && tools[name]?.annotations.destructiveHint == true, "\(name)")
        }
        #expect(tools["replay_incident"]?.annotations.destructiveHint == false)
        #expect(tools["replay_incident"]?.annotations.idempotentHint == true)
        #expect(tools["apply_plan"]?.annotations.idempotentHint == false)
        let plan = tools["propose_plan"]?.inputSchema.objectValue?["properties"]?.objectValue?["plan"]
        #expect(plan == PlanFormat.schema, "the published plan schema is the tool's")
        #expect(tools["get_incident"]?.inputSchema.objectValue?["required"] == ["incident_id"])
    }

    @Test func invalidPlanIsAToolErrorNamingEachMistake() async throws {
        let c = try await Connected.make(try await engineWithIncidents(coupon))
        defer { Task { await c.close() } }
        let r = try await c.call(
            "propose_plan",
            [
                "incident_id": 1,
                "plan": [
                    "operations": [
                        ["kind": "add_column", "column": "Coupon", "sql": "ALTER TABLE events DROP COLUMN kind"],
                        ["kind": "widen_column", "column": "amount", "from": "text", "type": "bigint"],
                        ["kind": "drop_column", "column": "kind"],
                    ],
                    "rationale": "",
                ],
            ])
        #expect(r.isError == true)
        #expect(r.text.contains("plan.rationale: expected a non-empty string"))
        #expect(r.text.contains("plan.operations[0].sql: raw SQL is never accepted"))
        #expect(r.text.contains("plan.operations[0].column: 'Coupon' is not a name Mend writes"))
        #expect(r.text.contains("plan.operations[0].type: required for add_column"))
        #expect(r.text.contains("plan.operations[2].kind: 'drop_column' is not an operation"))
        // Once the shape is right, the core's own check speaks: text → bigint is no widening.
        let narrowing = try await c.call(
            "apply_plan",
            [
                "incident_id": 1,
                "plan": [
                    "operations": [["kind": "widen_column", "column": "amount", "from": "text", "type": "bigint"]], "rationale": "x",
                    "confidence": 0.5,
                ],
            ])
        #expect(narrowing.isError == true)
        #expect(narrowing.text.contains("text → bigint is not a widening"), "\(narrowing.text)")
        let bad = try await c.call("get_incident", ["incident_id": "seven"])
        #expect(bad.isError == true && bad.text.contains("incident_id: required, a positive integer"))
    }

    @Test func guardForbiddenPlanIsRefusedWithTheGuardsReason() async throws {
        let ssn = [#"{"id": 11, "kind": "click", "amount": 10, "ssn": "123-45"}"#]
        let engine = try await engineWithIncidents(ssn, judge: PIIGuard())
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let plan: Value = [
            "operations": [["kind": "add_column", "column": "ssn", "type": "text"]], "rationale": "keep it", "confidence": 0.9,
        ]
        let dry = try await c.call("propose_plan", ["incident_id": 1, "plan": plan])
        #expect(dry.isError == false)
        #expect(dry.object["outcome"] == "refused")
        #expect(dry.text.contains("the guard forbids"))
        let verdict = dry.object["statements"]?.arrayValue?.first?.objectValue
        #expect(verdict?["allowed"] == false && verdict?["risk"] == "forbidden" && verdict?["rule"] == "pii-column")
        let r = try await c.call("apply_plan", ["incident_id": 1, "plan": plan])
        #expect(r.isError == true)
        #expect(r.text.contains("[pii-column]: a column named ssn would store national identifiers"), "\(r.text)")
        #expect(r.text.contains("safer: quarantine the records"))
        #expect(try await engine.schema(table: "events")?.0.column(named: "ssn") == nil, "nothing was applied")
        let refused = try await engine.auditEntries().filter { $0.kind == "plan.refused" }
        #expect(refused.count == 1 && refused.first?.actor == "mcp:swift-test")
    }

    @Test func policyDenyIsRefusedAndThePendingPlanKept() async throws {
        let frozen = Policy(tables: ["events": TablePolicy(contracts: Contracts(columns: .freeze))])
        let engine = try await engineWithIncidents(coupon, policy: frozen)
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let r = try await c.call("apply_plan", ["incident_id": 1, "plan": couponPlan])
        #expect(r.isError == true)
        #expect(r.text.contains("add_column on events: contract is freeze"), "\(r.text)")
        #expect(try await engine.currentPlan(incidentID: 1)?.plan.status == .pendingApproval, "the refused plan replaced nothing")
    }

    @Test func agentPlanAppliesAndReplaysTheParkedRecords() async throws {
        let engine = try await engineWithIncidents(coupon)
        let c = try await Connected.make(engine, name: "claude-code")
        defer { Task { await c.close() } }
        let r = try await c.call("apply_plan", ["incident_id": 1, "plan": couponPlan])
        #expect(r.isError == false, "\(r.text)")
        #expect(r.object["outcome"] == "applied")
        #expect(r.object["incident"]?.objectValue?["status"] == "resolved")
        let plans = try await engine.incidentDetail(1).2
        #expect(plans.map(\.plan.status) == [.rejected, .applied], "the rules plan was superseded, the agent's applied")
        #expect(plans.last?.plan.plannedBy == "mcp:claude-code")
        let stats = try #require(try await engine.stats().first)
        #expect(stats.loaded == 8 && stats.parked == 0 && stats.input == 8)
        let sample = try await c.call("sample_records", ["table": "events", "limit": 50])
        let rows = sample.object["rows"]?.arrayValue ?? []
        #expect(rows.filter { $0.objectValue?["coupon"] == "SPRING" }.count == 3)
        #expect(rows.first?.objectValue?["id"]?.intValue != nil, "values keep their types")
    }

    @Test func everyToolCallIsAudited() async throws {
        let engine = try await engineWithIncidents(coupon)
        let c = try await Connected.make(engine, name: "auditor")
        defer { Task { await c.close() } }
        _ = try await c.call("list_incidents", ["table": "events"])
        _ = try await c.call("get_incident", ["incident_id": 99])
        _ = try await c.call("no_such_tool")
        let calls = try await engine.auditEntries().filter { $0.kind == "mcp.tool_call" }
        #expect(calls.count == 3)
        #expect(calls.allSatisfy { $0.actor == "mcp:auditor" })
        let details = calls.compactMap { try? JSONDecoder().decode([String: String].self, from: Data($0.detail.utf8)) }
        #expect(details.map { $0["tool"] } == ["list_incidents", "get_incident", "no_such_tool"])
        #expect(details.map { $0["result"] } == ["ok", "error", "error"])
        #expect(details.allSatisfy { $0["client"] == "auditor" })
        #expect(details[1]["error"]?.contains("no incident 99") == true)
        #expect(details[0]["arguments_sha256"] == Engine.sha256Hex(Data(#"{"table":"events"}"#.utf8)), "digest of canonical arguments")
        #expect(AuditVerifier.verify(try await engine.auditEntries()).ok)
    }

    /// The finding: a client that declares elicitation accepted its own question and the
    /// audit recorded a name it made up. Now the answer is the client's, kept as such.
    @Test func elicitationAcceptIsTheClientsAnswerNotAPersonsApproval() async throws {
        let engine = try await engineWithIncidents(tenAsText)
        let asked = Asked()
        let c = try await Connected.make(engine, name: "desk") { params in
            guard case .form(let form) = params else { return .init(action: .cancel) }
            await asked.add(form.message)
            return .init(action: .accept, content: ["approver": "bob", "note": "looked fine"])
        }
        defer { Task { await c.close() } }
        let r = try await c.call("apply_plan", ["incident_id": 1])
        #expect(r.isError == false, "\(r.text)")
        #expect(r.object["outcome"] == "pending_approval", "\(r.text)")
        #expect(r.text.contains("not a person's approval") && r.text.contains("mcp_approvers"))
        #expect(await asked.messages.first?.contains("amount__v_text") == true, "the person sees what they are asked about")
        #expect(try await engine.currentPlan(incidentID: 1)?.plan.status == .pendingApproval)
        let audit = try await engine.auditEntries()
        #expect(!audit.contains { $0.kind == "plan.approved" })
        let answer = try #require(audit.first { $0.kind == "plan.client_answer" })
        #expect(answer.actor == "mcp:desk")
        #expect(answer.detail.contains(#""counted_as_approval":"false""#) && answer.detail.contains(#""name_given":"bob""#))
        // approve_plan from the same client does not approve either.
        #expect(try await c.call("approve_plan", ["incident_id": 1]).object["outcome"] == "pending_approval")
        #expect(try await engine.currentPlan(incidentID: 1)?.plan.status == .pendingApproval)
    }

    @Test func aClientThePolicyListsMayApproveThroughElicitation() async throws {
        let engine = try await engineWithIncidents(tenAsText)
        await engine.setPolicy(Policy(mcpApprovers: ["desk"]))
        let c = try await Connected.make(engine, name: "desk") { _ in
            .init(action: .accept, content: ["approver": "bob", "note": "looked fine"])
        }
        defer { Task { await c.close() } }
        let r = try await c.call("apply_plan", ["incident_id": 1])
        #expect(r.object["outcome"] == "applied" && r.object["approved_by"] == "mcp:desk", "\(r.text)")
        let approved = try #require(try await engine.auditEntries().first { $0.kind == "plan.approved" })
        #expect(approved.actor == "mcp:desk", "the client, not the name it gave")
        #expect(approved.detail.contains("name given: bob"))
        #expect(
            try await engine.auditEntries().contains {
                $0.kind == "plan.client_answer" && $0.detail.contains(#""counted_as_approval":"true""#)
            })
        let (incident, _, _) = try await engine.incidentDetail(1)
        #expect(incident.status == .resolved && incident.parked == 0, "approved, applied and replayed")
    }

    @Test(arguments: [CreateElicitation.Result.Action.decline, .cancel])
    func elicitationDeclineOrCancelLeavesThePlanPending(_ action: CreateElicitation.Result.Action) async throws {
        let engine = try await engineWithIncidents(tenAsText)
        let c = try await Connected.make(engine) { _ in .init(action: action) }
        defer { Task { await c.close() } }
        let r = try await c.call("approve_plan", ["incident_id": 1])
        #expect(r.isError == false)
        #expect(r.object["outcome"] == "pending_approval")
        #expect(r.text.contains("mend approve 1"))
        #expect(try await engine.currentPlan(incidentID: 1)?.plan.status == .pendingApproval)
        #expect(try await engine.auditEntries().contains { $0.kind == "plan.approved" } == false)
    }

    @Test func withoutElicitationApplyWaitsAndApproveIsRefused() async throws {
        let engine = try await engineWithIncidents(tenAsText)
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let r = try await c.call("apply_plan", ["incident_id": 1])
        #expect(r.isError == false)
        #expect(r.object["outcome"] == "pending_approval" && r.object["how_to_approve"] == "mend approve 1")
        let approve = try await c.call("approve_plan", ["incident_id": 1, "approver": "agent"])
        #expect(approve.isError == true)
        #expect(approve.text.contains("approving needs a person"))
        #expect(try await engine.currentPlan(incidentID: 1)?.plan.status == .pendingApproval)

        // A policy may list a client explicitly (for example a trusted internal agent).
        await engine.setPolicy(Policy(mcpApprovers: ["ops-bot"]))
        let trusted = try await Connected.make(engine, name: "ops-bot")
        defer { Task { await trusted.close() } }
        let ok = try await trusted.call("approve_plan", ["incident_id": 1])
        #expect(ok.isError == false, "\(ok.text)")
        #expect(try await engine.auditEntries().first { $0.kind == "plan.approved" }?.actor == "mcp:ops-bot")
    }

    @Test func rejectThenQuarantineKeepsEveryRecordAccountedFor() async throws {
        let engine = try await engineWithIncidents(tenAsText)
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let rejected = try await c.call("reject_plan", ["incident_id": 1, "reason": "the source will fix it"])
        #expect(rejected.isError == false, "\(rejected.text)")
        let detail = try await c.call("get_incident", ["incident_id": 1])
        let ids = detail.object["samples"]?.arrayValue?.compactMap { $0.objectValue?["parked_id"] } ?? []
        #expect(ids.count == 2)
        let missingReason = try await c.call("quarantine_records", ["incident_id": 1])
        #expect(missingReason.isError == true && missingReason.text.contains("reason: required"))
        let q = try await c.call("quarantine_records", ["incident_id": 1, "parked_ids": .array(ids), "reason": "amount is not a number"])
        #expect(q.isError == false, "\(q.text)")
        #expect(q.object["quarantined"] == 2 && q.object["resolved"] == true)
        let stats = try #require(try await engine.stats().first)
        #expect(stats.input == 7 && stats.loaded == 5 && stats.quarantined == 2 && stats.parked == 0)
    }

    @Test func resourcesTemplatesAndPrompts() async throws {
        let engine = try await engineWithIncidents(coupon)
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let uris = Set(try await c.client.listResources().resources.map(\.uri))
        #expect(
            uris.isSuperset(of: [
                "mend://policy", "mend://audit/recent", "mend://schemas/plan", "mend://tables/events/schema", "mend://incidents/1",
            ]))
        let templates = try await c.client.listResourceTemplates().templates.map(\.uriTemplate)
        #expect(Set(templates) == ["mend://tables/{table}/schema", "mend://incidents/{id}"])
        let schema = try await c.client.readResource(uri: "mend://tables/events/schema")
        #expect(schema.first?.mimeType == "application/json")
        #expect(schema.first?.text?.contains(#""name" : "amount""#) == true)
        let incident = try await c.client.readResource(uri: "mend://incidents/1").first?.text ?? ""
        #expect(incident.contains("SPRING"), "parked samples")
        let policy = try await c.client.readResource(uri: "mend://policy").first?.text ?? ""
        #expect(policy.contains("max_auto_risk"))
        await #expect(throws: MCPError.self) { try await c.client.readResource(uri: "mend://tables/nope/schema") }
        let prompts = Set(try await c.client.listPrompts().prompts.map(\.name))
        #expect(prompts == ["diagnose_incident", "review_plan"])
        let diagnose = try await c.client.getPrompt(name: "diagnose_incident", arguments: ["incident_id": "1"])
        guard case .text(let text) = diagnose.messages.first?.content else { Issue.record("no text"); return }
        #expect(text.contains("coupon") && text.contains("propose_plan"))
        let review = try await c.client.getPrompt(name: "review_plan", arguments: ["incident_id": "1"])
        guard case .text(let reviewText) = review.messages.first?.content else { Issue.record("no text"); return }
        #expect(reviewText.contains(#"ADD COLUMN \"coupon\""#) || reviewText.contains("ADD COLUMN"), "the plan's SQL is in the review")
    }
}

actor Asked {
    var messages: [String] = []
    func add(_ m: String) { messages.append(m) }
}
