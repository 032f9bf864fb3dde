import MendCore
import Testing

@Suite struct SchemaDiffTests {
    let schema = TableSchema(
        name: "events",
        columns: [Column(name: "id", type: .bigint), Column(name: "amount", type: .bigint), Column(name: "customer", type: .text)])

    @Test func marksAddedWidenedAndMappedColumns() {
        let d = SchemaDiff(
            table: "events", schema: schema,
            operations: [
                .addColumn("channel", .text), .widen("amount", from: .bigint, to: .numeric),
                PlanOperation(kind: .mapField, column: "customer", source: "cust_id"),
            ])
        #expect(d.rows.map(\.column) == ["id", "amount", "customer", "channel"])
        #expect(d.rows.map(\.mark) == [.unchanged, .widened, .mapped, .added])
        #expect(d.rows[1].before == .bigint && d.rows[1].type == .numeric && d.rows[1].note == "bigint → numeric")
        #expect(d.rows[2].note.contains("cust_id"))
        #expect(d.changed.count == 3)
    }

    @Test func aColumnAnotherWorkerAddedIsNotShownAsNew() {
        let d = SchemaDiff(table: "events", schema: schema, operations: [.addColumn("amount", .bigint)])
        #expect(d.changed.isEmpty)
        #expect(d.rows[1].note == "already present; skipped")
    }

    @Test func aNewTableListsItsColumnsAsAdded() {
        let d = SchemaDiff(
            table: "events", schema: nil,
            operations: [PlanOperation(kind: .createTable, columns: schema.columns), .init(kind: .quarantine)])
        #expect(d.rows.allSatisfy { $0.mark == .added })
        #expect(d.other.count == 1)
    }
}
