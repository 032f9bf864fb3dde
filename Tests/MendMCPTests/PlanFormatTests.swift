import Foundation
import MCP
import MendCore
import MendPipeline
import MendPlanFormat
import Testing

/// The shared plan wire format on its own: schema, decoder, conversion names. The MCP
/// path through a real client is in MendMCPTests; the agent's path (submit_plan) in
/// MendAgentTests' SubmitPlanFormatTests.
@Suite struct PlanFormatTests {
    func problems(_ plan: Value) -> [String] {
        do {
            _ = try PlanFormat.decode(plan, plannedBy: "test")
            return []
        } catch {
            return error.problems
        }
    }

    func plan(_ ops: [Value], rationale: Value = "r", confidence: Value? = 0.5) -> Value {
        var o: [String: Value] = ["operations": .array(ops), "rationale": rationale]
        if let confidence { o["confidence"] = confidence }
        return .object(o)
    }

    @Test func aGoodPlanDecodesToTypedOperations() throws {
        let p = try PlanFormat.decode(
            plan(
                [
                    ["kind": "add_column", "column": "coupon", "type": "text"],
                    ["kind": "widen_column", "column": "amount", "from": "bigint", "type": "numeric"],
                    ["kind": "add_variant_column", "column": "amount__v_text", "of": "amount", "type": "text"],
                    ["kind": "map_field", "source": "client_id", "column": "customer_id"],
                    ["kind": "convert_value", "column": "ts", "conversion": "epoch_seconds_to_timestamptz"],
                    ["kind": "convert_value", "column": "cents", "conversion": "scale", "factor": 100],
                    ["kind": "quarantine"],
                ], confidence: 0.75), plannedBy: "mcp:x")
        #expect(
            p.operations.map(\.kind) == [.addColumn, .widenColumn, .addVariantColumn, .mapField, .convertValue, .convertValue, .quarantine])
        #expect(p.operations[4].conversion == .epochSecondsToTimestamp)
        #expect(p.operations[5].conversion == .scale(factor: 100))
        #expect(p.confidence == 0.75 && p.plannedBy == "mcp:x" && p.incidentID == 0)
    }

    @Test func everyProblemIsListedWithItsPath() {
        let found = problems(
            .object([
                "operations": [
                    ["kind": "add_column", "column": "Coupon", "sql": "DROP TABLE t"],
                    ["kind": "map_field", "source": "a", "column": "b", "type": "text"],
                    ["kind": "convert_value", "column": "c", "conversion": "rot13"],
                    ["kind": "drop_column", "column": "kind"],
                    "not an object",
                ],
                "rationale": "",
                "ddl": "ALTER TABLE t DROP COLUMN x",
                "extra": 1,
            ]))
        #expect(found.contains { $0.hasPrefix("plan.ddl: raw SQL is never accepted") })
        #expect(found.contains { $0.hasPrefix("plan.extra: unknown field; allowed: confidence, operations, rationale") })
        #expect(found.contains("plan.rationale: expected a non-empty string, got a string"))
        #expect(found.contains { $0.hasPrefix("plan.confidence: required") })
        #expect(found.contains { $0.hasPrefix("plan.operations[0].sql: raw SQL is never accepted") })
        #expect(
            found.contains { $0.hasPrefix("plan.operations[0].column: 'Coupon' is not a name Mend writes") && $0.hasSuffix("'coupon'") })
        #expect(
            found.contains(
                "plan.operations[0].type: required for add_column, one of \(LogicalType.allCases.map(\.rawValue).joined(separator: ", "))"))
        #expect(found.contains("plan.operations[1].type: not used by map_field; remove it"))
        #expect(found.contains { $0.hasPrefix("plan.operations[2].conversion: 'rot13' is not a conversion") })
        #expect(found.contains { $0.hasPrefix("plan.operations[3].kind: 'drop_column' is not an operation; 'kind' must be one of") })
        #expect(found.contains("plan.operations[4]: expected an object with 'kind', got a string"))
        #expect(found.count == 11, "\(found)")
    }

    @Test func namesStartingWithMendAreRefusedWhereverTheyAppear() {
        for op: Value in [
            ["kind": "add_column", "column": "_mend_audit", "type": "text"],
            ["kind": "map_field", "source": "client_id", "column": "_mend_plans"],
            ["kind": "map_field", "source": "_mend_source", "column": "customer_id"],
            ["kind": "add_variant_column", "column": "x", "of": "_mend_offsets", "type": "text"],
        ] {
            let found = problems(plan([op]))
            #expect(found.count == 1 && found[0].contains("names starting with _mend are reserved for Mend's own state"), "\(found)")
        }
    }

    @Test func confidenceIsRequiredAndBounded() {
        #expect(problems(plan([["kind": "quarantine"]], confidence: nil)).first?.hasPrefix("plan.confidence: required") == true)
        for bad: Value in [1.5, -0.1, "high", .null] {
            #expect(
                problems(plan([["kind": "quarantine"]], confidence: bad)).first?.hasPrefix("plan.confidence: expected a number from 0 to 1")
                    == true)
        }
        #expect(problems(plan([["kind": "quarantine"]], confidence: 1)).isEmpty, "an integer is a number")
    }

    @Test func operationCountIsBounded() {
        #expect(problems(plan([])) == ["plan.operations: expected 1 to 20 operations, got 0"])
        #expect(
            problems(plan(Array(repeating: ["kind": "quarantine"], count: 21))) == ["plan.operations: expected 1 to 20 operations, got 21"])
    }

    @Test func theCoreHasTheLastWord() {
        let narrowing = problems(plan([["kind": "widen_column", "column": "amount", "from": "text", "type": "bigint"]]))
        #expect(narrowing == ["plan: operation 1: text → bigint is not a widening: some values would change"])
    }

    @Test func echoedTextIsCapped() {
        let long = String(repeating: "x", count: 5_000)
        let found = problems(plan([["kind": .string(long)]]))
        #expect(found.count == 1 && found[0].count < 300, "\(found)")
    }

    /// The schema's pattern, the decoder's byte check and the core's rule agree: every
    /// wire identifier is one the core accepts, and the pattern and the check match.
    @Test(arguments: [
        "coupon", "_x", "a1", "customer_id", String(repeating: "a", count: 63), String(repeating: "a", count: 64), "", "1a", "Coupon",
        "a-b", "a b", "café", "x;drop", "a\"b", "\u{0}",
    ])
    func identifierPatternMatchesTheDecoderAndTheCore(_ name: String) throws {
        let regex = try NSRegularExpression(pattern: PlanFormat.identifierPattern)
        let matches = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        #expect(PlanFormat.isWireIdentifier(name) == matches)
        if matches { #expect(Identifier.isWellFormed(name)) }
    }

    @Test func theSchemaNamesWhatTheDecoderAccepts() {
        let s = PlanFormat.schema.objectValue
        #expect(s?["required"] == ["operations", "rationale", "confidence"])
        #expect(s?["additionalProperties"] == false)
        let op = PlanFormat.operationSchema.objectValue?["properties"]?.objectValue
        #expect(op?["kind"]?.objectValue?["enum"] == .array(PlanFormat.agentKinds.map { .string($0.rawValue) }))
        #expect(op?["conversion"]?.objectValue?["enum"] == .array(PlanFormat.allConversionNames.map { .string($0) }))
        for key in ["column", "source", "of"] {
            #expect(op?[key]?.objectValue?["pattern"] == .string(PlanFormat.identifierPattern))
        }
        // Every wire conversion name is the core's own name for it.
        for (name, conversion) in PlanFormat.conversionNames { #expect(conversion.name == name) }
    }

    @Test func encodedPlansDecodeBack() throws {
        let ops = [
            PlanOperation(kind: .convertValue, column: "cents", conversion: .scale(factor: 100)),
            PlanOperation(kind: .mapField, column: "customer_id", source: "client_id"),
        ]
        let original = Plan(incidentID: 3, table: "t", operations: ops, rationale: "r", confidence: 0.6, plannedBy: "rules")
        // The view adds read-only fields (summary, planned_by, status, the incident and table); the decoder refuses them, so strip them.
        let encoded = try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(PlanView.Body(original)))
        guard case .object(var wire) = encoded else { Issue.record("not an object"); return }
        for k in ["planned_by", "status", "id", "incident_id", "table"] { wire[k] = nil }
        wire["operations"] = .array(
            (wire["operations"]?.arrayValue ?? []).map { op in
                guard case .object(var o) = op else { return op }
                o["summary"] = nil
                return .object(o)
            })
        let back = try PlanFormat.decode(.object(wire), plannedBy: "rules")
        #expect(back.operations == ops && back.rationale == "r" && back.confidence == 0.6)
    }
}
