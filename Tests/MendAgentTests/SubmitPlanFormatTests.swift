import Foundation
import MCP
import MendCore
import MendPlanFormat
import Testing

@testable import MendAgent

/// submit_plan speaks the shared plan wire format: same schema, same decoder, same
/// refusals as MCP's propose_plan and apply_plan.
@Suite struct SubmitPlanFormatTests {
    let incident = Incident(
        id: 4, table: "orders", signature: "s", kinds: [.unknownField], status: .open, parked: 1, openedAt: Date(), drifts: [])
    let schema = TableSchema(name: "orders", columns: [Column(name: "customer_id", type: .bigint)])

    func read(_ input: Value) -> Result<Plan, PlanRejection> {
        SubmitPlanTool.read(input, incident: incident, schema: schema, plannedBy: "llm:x")
    }

    @Test func theToolsSchemaIsThePlanSchema() {
        #expect(SubmitPlanTool.inputSchema == PlanFormat.schema)
        #expect(SubmitPlanTool.tool.inputSchema == PlanFormat.schema)
    }

    @Test func mendNamesAreRefusedOnTheAgentPath() {
        let input: Value = [
            "operations": [["kind": "map_field", "source": "client_id", "column": "_mend_plans"]], "rationale": "r", "confidence": 0.5,
        ]
        guard case .failure(let r) = read(input) else {
            Issue.record("a _mend column was accepted")
            return
        }
        #expect(r.message == "plan.operations[0].column: '_mend_plans': names starting with _mend are reserved for Mend's own state")
    }

    @Test func everyProblemComesBackInOneMessage() {
        let input: Value = [
            "operations": [["kind": "add_column", "column": "X", "type": "text", "sql": "DROP TABLE orders"]], "rationale": "r",
        ]
        guard case .failure(let r) = read(input) else {
            Issue.record("accepted")
            return
        }
        #expect(r.message.contains("plan.confidence: required"))
        #expect(r.message.contains("plan.operations[0].sql: raw SQL is never accepted"))
        #expect(r.message.contains("plan.operations[0].column: 'X' is not a name Mend writes"))
    }

    @Test func theStricterRulesOfMCPNowHoldHereToo() {
        // Fields a kind does not use were ignored by the old submit_plan reader.
        let extra: Value = [
            "operations": [["kind": "map_field", "source": "client_id", "column": "customer_id", "type": "text"]], "rationale": "r",
            "confidence": 0.5,
        ]
        guard case .failure(let r) = read(extra) else {
            Issue.record("an unused field was accepted")
            return
        }
        #expect(r.message == "plan.operations[0].type: not used by map_field; remove it")
    }

    @Test func anAcceptedPlanIsForTheIncident() throws {
        let input: Value = [
            "operations": [["kind": "map_field", "source": "client_id", "column": "customer_id"]],
            "rationale": .string(String(repeating: "r", count: 3_000)), "confidence": 0.7,
        ]
        let plan = try read(input).get()
        #expect(plan.incidentID == 4 && plan.table == "orders" && plan.plannedBy == "llm:x" && plan.confidence == 0.7)
        #expect(plan.rationale.count < 2_100, "the rationale is capped")
    }
}
