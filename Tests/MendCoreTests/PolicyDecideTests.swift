import Foundation
import MendCore
import Testing

@Suite struct PolicyDecideTests {
    static func plan(_ ops: [PlanOperation], table: String = "events") -> Plan {
        Plan(incidentID: 1, table: table, operations: ops, rationale: "r", confidence: 0.9, plannedBy: "rules")
    }

    static let add = PlanOperation.addColumn("country", .text)
    static let widen = PlanOperation.widen("amount", from: .bigint, to: .numeric)
    static let variant = PlanOperation(kind: .addVariantColumn, column: "amount__v_text", type: .text, of: "amount")
    static let map = PlanOperation(kind: .mapField, column: "user_id", source: "uid")
    static let convert = PlanOperation(kind: .convertValue, column: "at", conversion: .epochSecondsToTimestamp)
    static let create = PlanOperation(kind: .createTable, columns: [Column(name: "id", type: .bigint)])

    @Test func defaults() {
        let p = Policy.default
        #expect(p.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .auto)
        #expect(p.decide(Self.plan([Self.create]), risks: [.low]).autonomy == .auto)
        #expect(p.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .approve)
        #expect(p.decide(Self.plan([Self.variant]), risks: [.low]).autonomy == .approve)
        #expect(p.decide(Self.plan([Self.map]), risks: [nil]).autonomy == .approve)
        #expect(p.decide(Self.plan([Self.convert]), risks: [nil]).autonomy == .approve)
        #expect(p.decide(Self.plan([PlanOperation(kind: .quarantine)]), risks: [nil]).autonomy == .approve)
        #expect(p.maxAutoRisk == .low)
        #expect(p.maxValueBytes == 8 << 20)
    }

    @Test func everyKindHasADefaultAutonomy() {
        for k in OperationKind.allCases { #expect(Policy.defaultAutonomy[k] != nil, "\(k)") }
    }

    @Test func reasonsHaveOneEntryPerOperation() {
        let d = Policy.default.decide(Self.plan([Self.add, Self.widen]), risks: [.low, .medium])
        #expect(d.reasons.count == 2)
        #expect(d.autonomy == .approve, "the strictest operation decides")
    }

    @Test func freezeContractDenies() {
        let frozenColumns = Policy(contracts: Contracts(tables: .evolve, columns: .freeze, dataType: .evolve))
        let d = frozenColumns.decide(Self.plan([Self.add]), risks: [.low])
        #expect(d.autonomy == .deny)
        #expect(d.reasons.first?.contains("freeze") == true)
        #expect(frozenColumns.decide(Self.plan([Self.variant]), risks: [.low]).autonomy == .deny)
        #expect(frozenColumns.decide(Self.plan([Self.map]), risks: [nil]).autonomy == .deny)
        // Frozen columns do not freeze type changes.
        #expect(frozenColumns.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .approve)

        let frozenTypes = Policy(contracts: Contracts(tables: .evolve, columns: .evolve, dataType: .freeze))
        #expect(frozenTypes.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .deny)
        #expect(frozenTypes.decide(Self.plan([Self.convert]), risks: [nil]).autonomy == .deny)
        #expect(frozenTypes.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .auto)

        let frozenTables = Policy(contracts: Contracts(tables: .freeze))
        #expect(frozenTables.decide(Self.plan([Self.create]), risks: [.low]).autonomy == .deny)
        #expect(frozenTables.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .auto)
    }

    @Test func freezeWinsOverAutoAutonomy() {
        let p = Policy(contracts: Contracts(columns: .freeze), autonomy: ["add_column": .auto])
        #expect(p.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .deny)
    }

    @Test func forbiddenRiskDeniesWhateverThePolicy() {
        let permissive = Policy(
            autonomy: Dictionary(uniqueKeysWithValues: OperationKind.allCases.map { ($0.rawValue, Autonomy.auto) }),
            maxAutoRisk: .forbidden)
        let d = permissive.decide(Self.plan([Self.add]), risks: [.forbidden])
        #expect(d.autonomy == .deny)
        #expect(d.reasons.first?.contains("forbids") == true)
        #expect(Policy.default.decide(Self.plan([Self.widen]), risks: [.forbidden]).autonomy == .deny)
        // One forbidden operation denies the whole plan.
        #expect(Policy.default.decide(Self.plan([Self.add, Self.add]), risks: [.low, .forbidden]).autonomy == .deny)
    }

    @Test func riskAboveMaxAutoRiskNeedsApproval() {
        let d = Policy.default.decide(Self.plan([Self.add]), risks: [.medium])
        #expect(d.autonomy == .approve)
        #expect(d.reasons.first?.contains("medium") == true)
        #expect(Policy.default.decide(Self.plan([Self.add]), risks: [.high]).autonomy == .approve)
        let lenient = Policy(maxAutoRisk: .medium)
        #expect(lenient.decide(Self.plan([Self.add]), risks: [.medium]).autonomy == .auto)
        #expect(lenient.decide(Self.plan([Self.add]), risks: [.high]).autonomy == .approve)
        // A missing risk (no SQL) does not raise an auto operation.
        #expect(Policy.default.decide(Self.plan([Self.add]), risks: []).autonomy == .auto)
    }

    @Test func riskNeverLowersAutonomy() {
        // A low risk does not turn "approve" or "deny" into "auto".
        let denyAdd = Policy(autonomy: ["add_column": .deny])
        #expect(denyAdd.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .deny)
        #expect(Policy.default.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .approve)
    }

    @Test func globalAutonomyOverride() {
        let p = Policy(autonomy: ["widen_column": .auto, "add_column": .approve])
        #expect(p.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .auto)
        #expect(p.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .approve)
    }

    @Test func perTableOverride() {
        let p = Policy(
            tables: [
                "payments": TablePolicy(
                    contracts: Contracts(columns: .freeze), autonomy: ["widen_column": .auto], columns: ["amount": .freeze],
                    maxAutoRisk: .high),
                "logs": TablePolicy(autonomy: ["add_column": .deny]),
            ])
        // payments: new columns frozen.
        #expect(p.decide(Self.plan([Self.add], table: "payments"), risks: [.low]).autonomy == .deny)
        #expect(p.decide(Self.plan([Self.add], table: "events"), risks: [.low]).autonomy == .auto)
        // payments.amount frozen for type changes; other columns widen automatically.
        #expect(p.decide(Self.plan([Self.widen], table: "payments"), risks: [.low]).autonomy == .deny)
        let widenPrice = PlanOperation.widen("price", from: .bigint, to: .numeric)
        #expect(p.decide(Self.plan([widenPrice], table: "payments"), risks: [.high]).autonomy == .auto)
        #expect(p.decide(Self.plan([widenPrice], table: "events"), risks: [.low]).autonomy == .approve)
        // logs: add_column denied.
        #expect(p.decide(Self.plan([Self.add], table: "logs"), risks: [.low]).autonomy == .deny)
        #expect(p.maxAutoRisk(table: "payments") == .high)
        #expect(p.maxAutoRisk(table: "logs") == .low)
    }

    @Test func contractLookup() {
        let p = Policy(
            contracts: Contracts(tables: .evolve, columns: .discardRow, dataType: .discardValue),
            tables: ["t": TablePolicy(contracts: Contracts(dataType: .freeze), columns: ["c": .evolve])])
        #expect(p.contract(for: .addColumn, table: "x", column: "a") == .discardRow)
        #expect(p.contract(for: .widenColumn, table: "x", column: "a") == .discardValue)
        #expect(p.contract(for: .widenColumn, table: "t", column: "a") == .freeze)
        #expect(p.contract(for: .widenColumn, table: "t", column: "c") == .evolve)
        #expect(p.contract(for: .convertValue, table: "t", column: "c") == .evolve)
        #expect(p.contract(for: .quarantine, table: "t", column: nil) == .evolve)
        #expect(p.contract(for: .createTable, table: "t", column: nil) == .evolve)
        // Nothing set anywhere: evolve.
        #expect(Policy(contracts: Contracts()).contract(for: .addColumn, table: "t", column: nil) == .evolve)
    }

    @Test func variantColumnContractFollowsTheColumnOfItsOrigin() {
        // add_variant_column is governed by the columns contract; a per-column entry
        // for the original column does not apply to it (it is not a type change).
        let p = Policy(tables: ["t": TablePolicy(columns: ["amount": .freeze])])
        #expect(p.decide(Self.plan([Self.variant], table: "t"), risks: [.low]).autonomy == .approve)
    }

    @Test func autonomyOrdering() {
        #expect(Autonomy.auto < .approve)
        #expect(Autonomy.approve < .deny)
        #expect(Risk.low < .medium && Risk.medium < .high && Risk.high < .forbidden)
        #expect([Risk.medium, .forbidden, .low].max() == .forbidden)
    }

    @Test func decodingRejectsUnknownChangeKinds() {
        let bad = #"{"autonomy":{"add_colum":"auto"}}"#
        #expect(throws: PolicyError.self) { try JSONDecoder().decode(Policy.self, from: Data(bad.utf8)) }
        let badTable = #"{"tables":{"t":{"autonomy":{"drop_table":"auto"}}}}"#
        #expect(throws: PolicyError.self) { try JSONDecoder().decode(Policy.self, from: Data(badTable.utf8)) }
        #expect(PolicyError.unknownChangeKind("x").description.contains("add_column"))
    }

    @Test func decodingFillsDefaults() throws {
        let p = try JSONDecoder().decode(Policy.self, from: Data("{}".utf8))
        #expect(p.maxAutoRisk == .low)
        #expect(p.maxValueBytes == 8 << 20)
        #expect(p.decide(Self.plan([Self.add]), risks: [.low]).autonomy == .auto)
        #expect(p.decide(Self.plan([Self.widen]), risks: [.low]).autonomy == .approve)
    }

    @Test func policyRoundTripsThroughJSON() throws {
        let p = Policy(
            contracts: Contracts(tables: .evolve, columns: .freeze, dataType: .discardRow), autonomy: ["add_column": .approve],
            maxAutoRisk: .medium, tables: ["t": TablePolicy(columns: ["a": .discardValue], maxAutoRisk: .high)], maxValueBytes: 99)
        let again = try JSONDecoder().decode(Policy.self, from: JSONEncoder().encode(p))
        #expect(again == p)
    }
}
