import Foundation
import MendCore
import Testing

/// The rename heuristics on values alone: a rename needs the old key nearly always present
/// before, absent from the records with the new key, compatible types and alike values.
@Suite struct RenameDetectorTests {
    static let customers = (0..<200).map { "c-\($0 % 97)" }

    static func newKey(_ values: [String], type: LogicalType = .text, alsoCarrying: [String: Int] = [:]) -> RenameDetector.NewKey {
        .init(
            sourceKey: "client", column: "client", type: type, values: values, records: values.count, firstSeen: "orders.jsonl:201",
            alsoCarrying: alsoCarrying)
    }

    static let amount = RenameDetector.Candidate(column: "amount", type: .bigint, recent: (0..<200).map { String($0 % 500) })
    static let status = RenameDetector.Candidate(column: "status", type: .text, recent: (0..<200).map { $0 % 9 == 0 ? "refunded" : "paid" })

    @Test func aRenamedKeyIsFoundWithItsEvidence() throws {
        let customer = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let found = RenameDetector.detect(
            Self.newKey((0..<40).map { "c-\($0 * 3 % 97)" }), among: [Self.amount, customer, Self.status])
        let e = try #require(found.evidence, "\(found.nearMiss ?? "")")
        #expect(e.oldColumn == "customer" && e.newKey == "client")
        #expect(e.recentRows == 200 && e.recentWithOld == 200 && e.trailingWithOld == 200)
        #expect(e.newRecords == 40 && e.newRecordsWithOld == 0 && e.firstNewAt == "orders.jsonl:201")
        #expect(e.samples.count == 3 && e.samples[0].old == "c-0" && e.samples[0].new == "c-0")
        #expect(e.similarity >= RenameDetector.minSimilarity && e.score > 0.8)
        #expect(e.summary.contains("client looks like customer renamed"))
    }

    @Test func bothKeysPresentIsNotARename() {
        let customer = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let found = RenameDetector.detect(Self.newKey((0..<40).map { "c-\($0)" }, alsoCarrying: ["customer": 40]), among: [customer])
        #expect(found.evidence == nil)
        #expect(found.nearMiss?.contains("still present in 40 of the 40 records") == true, "\(found.nearMiss ?? "")")
    }

    @Test func differentTypesAreNotARename() {
        let customer = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let found = RenameDetector.detect(Self.newKey((0..<40).map { String($0) }, type: .bigint), among: [customer])
        #expect(found.evidence == nil)
    }

    @Test func aRareOldKeyIsNotARename() {
        let rare = RenameDetector.Candidate(column: "customer", type: .text, recent: (0..<200).map { $0 % 10 == 0 ? "c-\($0)" : nil })
        let found = RenameDetector.detect(Self.newKey((0..<40).map { "c-\($0)" }), among: [rare])
        #expect(found.evidence == nil)
        #expect(found.nearMiss?.contains("only 20 of the last 200 rows") == true, "\(found.nearMiss ?? "")")
    }

    @Test func valuesThatDoNotLookAlikeAreNotARename() {
        let customer = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let found = RenameDetector.detect(
            Self.newKey((0..<40).map { "Some Longer Free Text Number \($0)!" }), among: [customer])
        #expect(found.evidence == nil)
        #expect(found.nearMiss?.contains("do not look alike") == true, "\(found.nearMiss ?? "")")
    }

    @Test func tooFewRowsOrTwoEqualCandidatesDecideNothing() {
        let short = RenameDetector.Candidate(column: "customer", type: .text, recent: Array(Self.customers.prefix(5)))
        #expect(RenameDetector.detect(Self.newKey(["c-1", "c-2"]), among: [short]).evidence == nil)
        let a = RenameDetector.Candidate(column: "buyer", type: .text, recent: Self.customers)
        let b = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let found = RenameDetector.detect(Self.newKey((0..<40).map { "c-\($0)" }), among: [a, b])
        #expect(found.evidence == nil && found.nearMiss?.contains("too close to choose") == true)
    }

    @Test func numbersCompareByRange() throws {
        let price = RenameDetector.Candidate(column: "price", type: .bigint, recent: (0..<200).map { String(100 + $0 % 50) })
        let alike = RenameDetector.detect(Self.newKey((0..<30).map { String(110 + $0) }, type: .bigint), among: [price])
        #expect(alike.evidence?.oldColumn == "price")
        let far = RenameDetector.detect(Self.newKey((0..<30).map { String(1_000_000_000 + $0) }, type: .bigint), among: [price])
        #expect(far.evidence == nil)
    }

    @Test func theRulesPlannerMapsOnlyWithEvidence() throws {
        let drift = Drift(
            kind: .unknownField, column: "client", sourceKey: "client", observed: .text, expected: nil, reason: "new field client")
        let incident = Incident(
            id: 7, table: "orders", signature: "s", kinds: [.unknownField], status: .open, parked: 40, openedAt: Date(), drifts: [drift])
        let schema = TableSchema(name: "orders", columns: [Column(name: "id", type: .bigint), Column(name: "customer", type: .text)])
        let customer = RenameDetector.Candidate(column: "customer", type: .text, recent: Self.customers)
        let finding = RenameDetector.detect(Self.newKey((0..<40).map { "c-\($0)" }), among: [customer])
        let mapped = RulesPlanner().planSync(incident: incident, schema: schema, renames: ["client": finding])
        #expect(mapped.operations == [PlanOperation(kind: .mapField, column: "customer", source: "client")])
        #expect(mapped.evidence?.first?.oldColumn == "customer" && mapped.confidence <= 0.9)
        let plain = RulesPlanner().planSync(incident: incident, schema: schema)
        #expect(plain.operations == [.addColumn("client", .text)] && plain.evidence == nil)
    }
}
