import Foundation
import MendCore
import MendPipeline
import MendTestSupport
import Testing

@Suite struct PolicyLoaderTests {
    static let full = """
        # contracts and autonomy for the demo warehouse
        contracts:
          tables: evolve
          columns: evolve
          data_type: freeze
        autonomy:
          add_column: auto
          widen_column: deny
          map_field: auto
        max_auto_risk: medium
        max_value_bytes: 1024
        tables:
          payments:
            contracts:
              columns: freeze
            autonomy:
              add_column: approve
            columns:
              amount: discard_value
            max_auto_risk: low
          logs:
            contracts:
              data_type: evolve
        """

    static func message(_ body: () throws -> Policy) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func parsesAFullPolicy() throws {
        let p = try PolicyLoader.parse(Self.full)
        #expect(p.contracts == Contracts(tables: .evolve, columns: .evolve, dataType: .freeze))
        #expect(p.autonomy == ["add_column": .auto, "widen_column": .deny, "map_field": .auto])
        #expect(p.maxAutoRisk == .medium)
        #expect(p.maxValueBytes == 1024)
        #expect(p.tables.keys.sorted() == ["logs", "payments"])
        let pay = try #require(p.tables["payments"])
        #expect(pay.contracts?.columns == .freeze)
        #expect(pay.contracts?.tables == nil)
        #expect(pay.autonomy == ["add_column": .approve])
        #expect(pay.columns == ["amount": .discardValue])
        #expect(pay.maxAutoRisk == .low)
        #expect(p.tables["logs"]?.contracts?.dataType == .evolve)
    }

    @Test func parsedPolicyDecides() throws {
        let p = try PolicyLoader.parse(Self.full)
        func plan(_ op: PlanOperation, _ table: String) -> Plan {
            Plan(incidentID: 1, table: table, operations: [op], rationale: "", confidence: 1, plannedBy: "rules")
        }
        let add = PlanOperation.addColumn("x", .text)
        let widen = PlanOperation.widen("a", from: .bigint, to: .numeric)
        #expect(p.decide(plan(add, "events"), risks: [.low]).autonomy == .auto)
        #expect(p.decide(plan(add, "events"), risks: [.medium]).autonomy == .auto)  // max_auto_risk: medium
        #expect(p.decide(plan(add, "events"), risks: [.high]).autonomy == .approve)
        #expect(p.decide(plan(add, "payments"), risks: [.low]).autonomy == .deny)  // columns: freeze
        #expect(p.decide(plan(widen, "events"), risks: [.low]).autonomy == .deny)  // data_type: freeze
        #expect(p.decide(plan(widen, "logs"), risks: [.low]).autonomy == .deny)  // autonomy widen_column: deny
        #expect(p.contract(for: .widenColumn, table: "payments", column: "amount") == .discardValue)
        #expect(p.contract(for: .widenColumn, table: "logs", column: "amount") == .evolve)
    }

    @Test func partialPolicyKeepsDefaults() throws {
        let p = try PolicyLoader.parse("autonomy:\n  widen_column: auto\n")
        #expect(p.maxAutoRisk == .low)
        #expect(p.maxValueBytes == 8 << 20)
        #expect(p.tables.isEmpty)
        #expect(p.contract(for: .addColumn, table: "t", column: nil) == .evolve)
        #expect(p.autonomy(for: .widenColumn, table: "t") == .auto)
        #expect(p.autonomy(for: .addColumn, table: "t") == .auto)
        #expect(p.autonomy(for: .mapField, table: "t") == .approve)
    }

    @Test
    func emptyFileIsTheDefaultPolicy() throws {
        // An empty (or comment-only) policy file means "no overrides".
        let p = try PolicyLoader.parse("")
        #expect(p.autonomy(for: .addColumn, table: "t") == .auto)
        #expect(p.autonomy(for: .widenColumn, table: "t") == .approve)
        let q = try PolicyLoader.parse("# nothing here yet\n")
        #expect(q.maxAutoRisk == .low)
    }

    @Test
    func unknownChangeKindIsAClearError() {
        let m = Self.message { try PolicyLoader.parse("autonomy:\n  add_colum: auto\n", name: "policy.yaml") } ?? ""
        #expect(m.contains("policy.yaml"), "\(m)")
        #expect(m.contains("add_colum"), "\(m)")
        #expect(m.contains("unknown change kind"), "\(m)")
        #expect(m.contains("add_column") && m.contains("widen_column"), "lists the valid kinds: \(m)")
    }

    @Test
    func unknownChangeKindInATableIsAClearError() {
        let m = Self.message { try PolicyLoader.parse("tables:\n  t:\n    autonomy:\n      drop_table: auto\n") } ?? ""
        #expect(m.contains("drop_table"), "\(m)")
        #expect(m.contains("unknown change kind"), "\(m)")
    }

    @Test func unknownChangeKindIsRejected() {
        // Whatever the message, a misspelled kind must never be silently ignored.
        let m = Self.message { try PolicyLoader.parse("autonomy:\n  add_colum: auto\n", name: "policy.yaml") }
        #expect(m != nil)
        #expect(m?.contains("policy.yaml") == true, "\(m ?? "")")
        #expect(Self.message { try PolicyLoader.parse("tables:\n  t:\n    autonomy:\n      drop_table: auto\n") } != nil)
    }

    @Test func badContractValueIsAClearError() {
        let m = Self.message { try PolicyLoader.parse("contracts:\n  columns: frozen\n", name: "p.yaml") } ?? ""
        #expect(!m.isEmpty, "must not parse")
        #expect(m.contains("p.yaml"), "\(m)")
        #expect(m.contains("contracts.columns"), "names where: \(m)")
        #expect(m.contains("frozen"), "names the bad value: \(m)")
    }

    @Test func badAutonomyValueIsAClearError() {
        let m = Self.message { try PolicyLoader.parse("autonomy:\n  add_column: sometimes\n") } ?? ""
        #expect(m.contains("autonomy.add_column"), "\(m)")
        #expect(m.contains("sometimes"), "\(m)")
    }

    @Test func badRiskValueIsAClearError() {
        let m = Self.message { try PolicyLoader.parse("max_auto_risk: extreme\n") } ?? ""
        #expect(m.contains("max_auto_risk"), "\(m)")
        #expect(m.contains("extreme"), "\(m)")
    }

    @Test func wrongShapeIsAnError() {
        #expect(Self.message { try PolicyLoader.parse("autonomy: auto\n") } != nil)
        #expect(Self.message { try PolicyLoader.parse("max_value_bytes: lots\n") } != nil)
        #expect(Self.message { try PolicyLoader.parse("contracts: [evolve]\n") } != nil)
        #expect(Self.message { try PolicyLoader.parse("contracts:\n  columns: [\n") } != nil)
    }

    @Test func errorsArePolicyErrors() {
        do {
            _ = try PolicyLoader.parse("autonomy:\n  nope: auto\n")
            Issue.record("expected an error")
        } catch let e as PipelineError {
            guard case .policy = e else {
                Issue.record("expected PipelineError.policy, got \(e)")
                return
            }
            #expect(e.description.hasPrefix("policy:"))
        } catch {
            Issue.record("expected PipelineError, got \(type(of: error)): \(error)")
        }
    }

    // MARK: a policy says what it means, or is refused (issue 28, item 5)

    @Test func aMisspeltKeyIsRefusedWithItsPathLineAndTheNearestKey() {
        let m = Self.message { try PolicyLoader.parse("max_auto_risk: low\nautonmy:\n  add_column: approve\n", name: "p.yaml") } ?? ""
        #expect(m.contains("p.yaml"), "\(m)")
        #expect(m.contains("line 2"), "\(m)")
        #expect(m.contains("unknown key 'autonmy'"), "\(m)")
        #expect(m.contains("did you mean 'autonomy'?"), "\(m)")
    }

    @Test func aValueOfTheWrongKindIsRefusedWithItsPath() {
        let m = Self.message { try PolicyLoader.parse("tables:\n  t:\n    max_columns: many\n") } ?? ""
        #expect(m.contains("line 3"), "\(m)")
        #expect(m.contains("tables.t.max_columns must be a whole number"), "\(m)")
        let list = Self.message { try PolicyLoader.parse("mcp_approvers: alice\n") } ?? ""
        #expect(list.contains("mcp_approvers must be a list"), "\(list)")
    }

    @Test func anUnknownTableOptionIsRefusedWithItsPath() {
        let m = Self.message { try PolicyLoader.parse("tables:\n  events:\n    max_colums: 10\n") } ?? ""
        #expect(m.contains("line 3"), "\(m)")
        #expect(m.contains("unknown key 'tables.events.max_colums'"), "\(m)")
        #expect(m.contains("did you mean 'max_columns'?"), "\(m)")
    }

    @Test func theFullPolicyAndNotifyListsPassTheShapeCheck() throws {
        _ = try PolicyLoader.parse(Self.full)
        _ = try PolicyLoader.parse("notify:\n  - url: https://example.com/hook\n    format: json\n")
    }

    @Test func theEffectivePolicyNamesEveryTableAndTheDefaults() throws {
        let text = PolicyLoader.effective(try PolicyLoader.parse(Self.full))
        #expect(text.contains("table payments:\n  contracts: tables evolve, columns freeze"), "\(text)")
        #expect(text.contains("  column amount: discard_value"), "\(text)")
        #expect(text.contains("add_column approve"), "\(text)")
        #expect(text.contains("every other table:"), "\(text)")
        #expect(text.contains("max_auto_risk: medium"), "\(text)")
        let plain = PolicyLoader.effective(.default)
        #expect(plain.contains("every table:\n  contracts: tables evolve, columns evolve, data_type evolve"), "\(plain)")
        #expect(plain.contains("add_column auto") && plain.contains("widen_column approve"), "\(plain)")
    }

    @Test func policyCheckPrintsTheEffectivePolicyOrRefusesTheFile() async throws {
        let dir = Paths.tempDir()
        let good = dir.appendingPathComponent("good.yaml").path
        try Self.full.write(toFile: good, atomically: true, encoding: .utf8)
        let ok = try await CLITests.mend(["policy", "check", good], in: dir)
        #expect(ok.code == 0, "\(ok.all)")
        #expect(ok.out.contains("table payments:") && ok.out.contains("every other table:"), "\(ok.all)")
        let bad = dir.appendingPathComponent("bad.yaml").path
        try "autonmy:\n  add_column: approve\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await CLITests.mend(["policy", "check", bad], in: dir)
        #expect(refused.code != 0, "\(refused.all)")
        #expect(refused.all.contains("line 1") && refused.all.contains("did you mean 'autonomy'?"), "\(refused.all)")
    }

    @Test func loadReadsAFileAndNamesAMissingOne() throws {
        let dir = Paths.tempDir()
        let path = dir.appendingPathComponent("policy.yaml").path
        try Self.full.write(toFile: path, atomically: true, encoding: .utf8)
        let p = try PolicyLoader.load(path: path)
        #expect(p.maxValueBytes == 1024)
        let missing = dir.appendingPathComponent("nope.yaml").path
        let m = Self.message { try PolicyLoader.load(path: missing) } ?? ""
        #expect(m.contains("nope.yaml"), "\(m)")
        #expect(m.contains("cannot read"), "\(m)")
    }
}
