import MendCore
import Testing

/// A row carried across a repair must be exactly the row the new table's validation gives,
/// or the record must be validated again: a carried row is never a guess.
@Suite struct RowCarryTests {
    static let old = TableSchema(
        name: "events",
        columns: [
            Column(name: "id", type: .bigint, nullable: false),
            Column(name: "user_id", type: .bigint),
            Column(name: "amount", type: .double),
            Column(name: "ts", type: .bigint),
        ])

    static let records = [
        #"{"id": 1, "user_id": 7, "amount": 1.5, "ts": 1700000000}"#,
        #"{"id": 2, "user_id": null, "amount": 2}"#,
        #"{"id": 3, "amount": 3.25, "extra": null}"#,
        #"{"id": 4, "user_id": 9, "extra": 5}"#,
        #"{"id": 5, "user_id": "u-9"}"#,
        #"{"id": 6, "nested": {"a": null}}"#,
        #"{"id": 7, "nested": {"a": 1.5}, "ts": 12}"#,
    ]

    static func fit(_ line: String, _ schema: TableSchema) -> Fit? {
        guard case .object(let members)? = try? JSONParser.parse(line) else { return nil }
        var f = Flattener()
        var v = Validator(schema: schema, limits: RecordLimits())
        return v.fit(f.flatten(members))
    }

    /// Every kind of change a repair makes, applied to `old`.
    static var changes: [(String, TableSchema)] {
        var added = old
        added.append(Column(name: "extra", type: .bigint))
        added.append(Column(name: "nested__a", type: .double))
        let widened = TableSchema(
            name: "events",
            columns: [old.columns[0], Column(name: "user_id", type: .text), old.columns[2], old.columns[3]])
        var converted = old
        converted.conversions["ts"] = .epochSecondsToTimestamp
        var mapped = old
        mapped.mappings["extra"] = "user_id"
        let required = TableSchema(name: "events", columns: old.columns + [Column(name: "extra", type: .bigint, nullable: false)])
        return [
            ("same", old), ("two added columns", added), ("user_id widened to text", widened),
            ("a conversion on ts", converted), ("extra mapped to user_id", mapped), ("a NOT NULL column", required),
        ]
    }

    @Test(arguments: changes.map(\.0))
    func carriedRowsEqualValidationAgainstTheNewTable(change: String) throws {
        let new = try #require(Self.changes.first { $0.0 == change }?.1)
        guard let carry = RowCarry(from: Self.old, to: new) else {
            // Only the changes that can move any record's values refuse to carry.
            #expect(["extra mapped to user_id", "a NOT NULL column"].contains(change))
            return
        }
        var carried = 0
        for line in Self.records {
            guard case .row(let row, let coerced)? = Self.fit(line, Self.old), let moved = carry.carry(row) else { continue }
            carried += 1
            #expect(Self.fit(line, new) == .row(moved, coerced: coerced), "\(change): \(line)")
        }
        #expect(carried > 0, "\(change): nothing carried, so nothing was checked")
    }

    @Test func aRowWithAValueInAChangedColumnIsValidatedAgain() throws {
        let widened = try #require(Self.changes.first { $0.0 == "user_id widened to text" }?.1)
        let carry = try #require(RowCarry(from: Self.old, to: widened))
        #expect(carry.changed == [1])
        #expect(carry.carry([.int(1), .int(7), .null, .null]) == nil)
        #expect(carry.carry([.int(1), .null, .double(2), .null]) == [.int(1), .null, .double(2), .null])
        #expect(RowCarry(from: Self.old, to: Self.old)?.isIdentity == true)
    }
}
