import Foundation
import MendCore
import Testing

@Suite struct ValidatorTests {
    static let base = TableSchema(
        name: "events",
        columns: [
            Column(name: "id", type: .bigint, nullable: false),
            Column(name: "name", type: .text),
            Column(name: "amount", type: .double),
            Column(name: "at", type: .timestamptz),
        ])

    static func fit(_ json: String, schema: TableSchema = base, maxValueBytes: Int = 8 << 20) throws -> Fit {
        guard case .object(let members) = try JSONParser.parse(json) else {
            Issue.record("not an object")
            return .drifts([])
        }
        var f = Flattener()
        var v = Validator(schema: schema, limits: RecordLimits(maxValueBytes: maxValueBytes))
        return v.fit(f.flatten(members))
    }

    static func drifts(_ fit: Fit) -> [Drift] {
        if case .drifts(let d) = fit { return d }
        return []
    }

    static func row(_ fit: Fit) -> [SQLValue]? {
        if case .row(let r, _) = fit { return r }
        return nil
    }

    @Test func fittingRecordBecomesARowInColumnOrder() throws {
        let fit = try Self.fit(#"{"at":"2026-03-01T10:00:01Z","amount":1.5,"name":"a","id":7}"#)
        #expect(fit == .row([.int(7), .text("a"), .double(1.5), .text("2026-03-01T10:00:01Z")], coerced: 0))
    }

    @Test func absentNullableColumnsAreNull() throws {
        #expect(try Self.fit(#"{"id":1}"#) == .row([.int(1), .null, .null, .null], coerced: 0))
        #expect(try Self.fit(#"{"id":1,"name":null}"#) == .row([.int(1), .null, .null, .null], coerced: 0))
    }

    @Test func coercionsAreCounted() throws {
        let fit = try Self.fit(#"{"id":"5","amount":"2.50","name":3}"#)
        #expect(fit == .row([.int(5), .text("3"), .double(2.5), .null], coerced: 3))
    }

    @Test func unknownField() throws {
        let d = Self.drifts(try Self.fit(#"{"id":1,"extraField":"x"}"#))
        #expect(d.count == 1)
        #expect(d.first?.kind == .unknownField)
        #expect(d.first?.column == "extra_field")
        #expect(d.first?.sourceKey == "extraField")
        #expect(d.first?.observed == .text)
        #expect(d.first?.expected == nil)
        #expect(d.first?.reason.contains("extra_field") == true)
    }

    @Test func unknownNestedFieldIsNamedByItsPath() throws {
        let d = Self.drifts(try Self.fit(#"{"id":1,"meta":{"ip":"1.2.3.4","ok":true}}"#))
        #expect(d.map(\.column) == ["meta__ip", "meta__ok"])
        #expect(d.map(\.observed) == [.text, .boolean])
        #expect(d.map(\.sourceKey) == ["meta.ip", "meta.ok"])
    }

    @Test func nullOnlyUnknownFieldIsIgnored() throws {
        #expect(try Self.fit(#"{"id":1,"extra":null}"#) == .row([.int(1), .null, .null, .null], coerced: 0))
    }

    @Test func typeMismatch() throws {
        let d = Self.drifts(try Self.fit(#"{"id":1,"amount":"n/a"}"#))
        #expect(d.count == 1)
        #expect(d.first?.kind == .typeMismatch)
        #expect(d.first?.column == "amount")
        #expect(d.first?.observed == .text)
        #expect(d.first?.expected == .double)
        #expect(d.first?.reason.hasPrefix("amount:") == true)
    }

    @Test func booleanIntoBigintIsAMismatch() throws {
        let d = Self.drifts(try Self.fit(#"{"id":true}"#))
        #expect(d.map(\.kind) == [.typeMismatch])
        #expect(d.first?.observed == .boolean)
        #expect(d.first?.expected == .bigint)
    }

    @Test func missingRequired() throws {
        let absent = Self.drifts(try Self.fit(#"{"name":"x"}"#))
        #expect(absent.map(\.kind) == [.missingRequired])
        #expect(absent.first?.column == "id")
        #expect(absent.first?.expected == .bigint)
        let null = Self.drifts(try Self.fit(#"{"id":null,"name":"x"}"#))
        #expect(null.map(\.kind) == [.missingRequired])
        #expect(null.first?.column == "id")
    }

    @Test func mismatchOnARequiredColumnIsReportedOnce() throws {
        let d = Self.drifts(try Self.fit(#"{"id":"abc"}"#))
        #expect(d.map(\.kind) == [.typeMismatch], "not also missing_required: \(d.map(\.kind))")
    }

    @Test func valueTooLarge() throws {
        let d = Self.drifts(try Self.fit(#"{"id":1,"name":"0123456789abc"}"#, maxValueBytes: 10))
        #expect(d.map(\.kind) == [.valueTooLarge])
        #expect(d.first?.column == "name")
        #expect(d.first?.reason.contains("13 bytes") == true)
        #expect(
            try Self.fit(#"{"id":1,"name":"0123456789"}"#, maxValueBytes: 10)
                == .row([.int(1), .text("0123456789"), .null, .null], coerced: 0))
        // Counted in bytes, not characters.
        #expect(Self.drifts(try Self.fit(#"{"id":1,"name":"ééééééé"}"#, maxValueBytes: 10)).map(\.kind) == [.valueTooLarge])
    }

    @Test func invalidIdentifier() throws {
        let d = Self.drifts(try Self.fit(#"{"id":1,"!!!":5}"#))
        #expect(d.map(\.kind) == [.invalidIdentifier])
        #expect(d.first?.sourceKey == "!!!")
        // A nameless key is invalid even when null.
        #expect(Self.drifts(try Self.fit(#"{"id":1,"%%":null}"#)).map(\.kind) == [.invalidIdentifier])
    }

    @Test func severalDriftsInOneRecordAreAllReported() throws {
        let d = Self.drifts(try Self.fit(#"{"amount":"x","new":1,"!":2}"#))
        #expect(Set(d.map(\.kind)) == [.typeMismatch, .unknownField, .invalidIdentifier, .missingRequired])
    }

    @Test func mappingsRouteAFieldToAnotherColumn() throws {
        var schema = Self.base
        schema.mappings = ["user_name": "name"]
        #expect(try Self.fit(#"{"id":1,"userName":"ada"}"#, schema: schema) == .row([.int(1), .text("ada"), .null, .null], coerced: 0))
        // The mapped value is validated against the target column's type.
        schema.mappings = ["cost": "amount"]
        let d = Self.drifts(try Self.fit(#"{"id":1,"cost":"lots"}"#, schema: schema))
        #expect(d.map(\.kind) == [.typeMismatch])
        #expect(d.first?.column == "amount")
        #expect(d.first?.sourceKey == "cost")
    }

    @Test func variantColumnTakesValuesThatDoNotFit() throws {
        var schema = Self.base
        schema.append(Column(name: "amount__v_text", type: .text))
        let fit = try Self.fit(#"{"id":1,"amount":"n/a"}"#, schema: schema)
        #expect(fit == .row([.int(1), .null, .null, .null, .text("n/a")], coerced: 0))
        // Values that fit still go to the original column.
        #expect(try Self.fit(#"{"id":2,"amount":2.5}"#, schema: schema) == .row([.int(2), .null, .double(2.5), .null, .null], coerced: 0))
        // A variant for another type does not take them.
        let d = Self.drifts(try Self.fit(#"{"id":3,"amount":true}"#, schema: schema))
        #expect(d.map(\.kind) == [.typeMismatch])
    }

    @Test func variantColumnForALongNameUsesTheShortenedName() throws {
        let long = String(repeating: "c", count: 60)
        var schema = TableSchema(name: "t", columns: [Column(name: long, type: .bigint)])
        let variant = Identifier.shorten("\(long)__v_text")
        #expect(variant.utf8.count <= Identifier.maxBytes)
        schema.append(Column(name: variant, type: .text))
        #expect(try Self.fit(#"{"\#(long)":"x"}"#, schema: schema) == .row([.null, .text("x")], coerced: 0))
    }

    @Test func conversionsApplyBeforeValidation() throws {
        var schema = Self.base
        schema.conversions = ["at": .epochSecondsToTimestamp]
        #expect(
            try Self.fit(#"{"id":1,"at":0}"#, schema: schema) == .row([.int(1), .null, .null, .text("1970-01-01T00:00:00Z")], coerced: 0))
        schema.conversions = ["at": .epochMillisToTimestamp]
        #expect(
            try Self.fit(#"{"id":1,"at":1767225600000}"#, schema: schema)
                == .row([.int(1), .null, .null, .text("2026-01-01T00:00:00Z")], coerced: 0))
        // A value the conversion does not apply to is validated as it is.
        #expect(
            try Self.fit(#"{"id":1,"at":"2026-03-01T10:00:01Z"}"#, schema: schema)
                == .row([.int(1), .null, .null, .text("2026-03-01T10:00:01Z")], coerced: 0))
        schema.conversions = ["id": .numericString]
        #expect(try Self.fit(#"{"id":"42"}"#, schema: schema) == .row([.int(42), .null, .null, .null], coerced: 0))
        schema.conversions = ["amount": .scale(factor: 0.01)]
        #expect(try Self.fit(#"{"id":1,"amount":250}"#, schema: schema) == .row([.int(1), .null, .double(2.5), .null], coerced: 0))
    }

    @Test func unmanagedColumnTypeIsTreatedAsText() throws {
        let schema = TableSchema(name: "t", columns: [Column(name: "geo", type: nil, declaredType: "geometry")])
        #expect(try Self.fit(#"{"geo":"POINT(1 2)"}"#, schema: schema) == .row([.text("POINT(1 2)")], coerced: 0))
    }

    @Test func jsonColumnTakesObjectsAndArrays() throws {
        let schema = TableSchema(name: "t", columns: [Column(name: "tags", type: .json), Column(name: "meta", type: .json)])
        let fit = try Self.fit(#"{"tags":["a"],"meta":{}}"#, schema: schema)
        #expect(fit == .row([.text(#"["a"]"#), .text("{}")], coerced: 0))
    }
}

@Suite struct DriftTests {
    static func d(_ kind: DriftKind, _ col: String, _ obs: LogicalType?) -> Drift {
        Drift(kind: kind, column: col, sourceKey: col, observed: obs, expected: nil, reason: "r \(col)")
    }

    @Test func signatureIsOrderIndependentAndDeduplicated() {
        let a = Self.d(.unknownField, "x", .text)
        let b = Self.d(.typeMismatch, "amount", .text)
        let c = Self.d(.missingRequired, "id", nil)
        let s1 = Drift.signature(of: [a, b, c])
        #expect(s1 == Drift.signature(of: [c, a, b]))
        #expect(s1 == Drift.signature(of: [b, c, a, b, a]))
        #expect(s1 != Drift.signature(of: [a, b]))
        #expect(Drift.signature(of: []) == "")
    }

    @Test func signatureIgnoresReasonAndSourceKeyButNotObservedType() {
        var a = Self.d(.unknownField, "x", .text)
        var b = a
        b.reason = "something else"
        b.sourceKey = "X"
        #expect(a.signature == b.signature)
        a.observed = .bigint
        #expect(a.signature != b.signature)
        #expect(b.signature == "unknown_field:x:text")
        #expect(Self.d(.missingRequired, "id", nil).signature == "missing_required:id:-")
    }
}

/// The column budget and the overflow column (ColumnBudget.swift, Overflow.swift).
@Suite struct OverflowTests {
    static let full = TableSchema(
        name: "events", columns: [Column(name: "id", type: .bigint), Column(name: "a", type: .text), Overflow.definition])

    static func fields(_ json: String, depth: Int? = nil) throws -> [FlatField] {
        guard case .object(let members) = try JSONParser.parse(json) else { throw CancellationError() }
        var f = Flattener(overflowDepth: depth)
        return f.flatten(members)
    }

    @Test func atTheBudgetNewFieldsLoadIntoTheOverflowColumnUnderTheirKeyPaths() throws {
        var v = Validator(schema: Self.full, limits: RecordLimits(maxColumns: 3))
        let fit = v.fit(try Self.fields(#"{"id": 1, "a": "x", "b": 2, "nested": {"c": true}, "gone": null}"#))
        guard case .row(let row, _) = fit else {
            Issue.record("the record must load: \(fit)")
            return
        }
        #expect(row[0] == .int(1) && row[1] == .text("x"))
        #expect(row[2] == .text(#"{"b":2,"nested.c":true}"#), "source paths, and no null-only key")
        #expect(v.overflowed.keys.sorted() == ["b", "nested.c"])
        #expect(v.overflowed["b"]?.kind == .overflow && v.overflowed["b"]?.observed == .bigint)
    }

    @Test func belowTheBudgetANewFieldIsStillDrift() throws {
        var v = Validator(schema: Self.full, limits: RecordLimits(maxColumns: 10))
        guard case .drifts(let d) = v.fit(try Self.fields(#"{"id": 1, "b": 2}"#)) else {
            Issue.record("a new field below the budget asks for a column")
            return
        }
        #expect(d.map(\.kind) == [.unknownField] && v.overflowed.isEmpty)
    }

    @Test func objectsDeeperThanTheOverflowDepthGoToTheOverflowColumn() throws {
        let fields = try Self.fields(#"{"id": 1, "meta": {"a": 1, "deep": {"x": [1, 2]}}}"#, depth: 2)
        #expect(fields.map(\.column) == ["id", "meta__a", "meta__deep"])
        #expect(fields.map(\.deep) == [false, false, true])
        let schema = TableSchema(
            name: "events", columns: [Column(name: "id", type: .bigint), Column(name: "meta__a", type: .bigint), Overflow.definition])
        var v = Validator(schema: schema, limits: RecordLimits(maxColumns: 100))
        guard case .row(let row, _) = v.fit(fields) else {
            Issue.record("the record must load")
            return
        }
        #expect(row[2] == .text(#"{"meta.deep":{"x":[1,2]}}"#))

        // Without an overflow column, the first deep object asks for one.
        var bare = Validator(schema: TableSchema(name: "events", columns: [Column(name: "id", type: .bigint)]))
        let d = ValidatorTests.drifts(bare.fit(try Self.fields(#"{"id": 1, "meta": {"deep": {"x": 1}}}"#, depth: 1)))
        #expect(d.map(\.column) == [Overflow.column] && d.first?.observed == .json)
        // Without overflow_depth, deep objects stay whole in a json column of their own.
        #expect(try Self.fields(#"{"m": {"a": {"b": {"c": {"d": 1}}}}}"#).map(\.deep) == [false])
    }

    @Test func aNewTableKeepsBudgetMinusOneColumnsAndTheOverflowColumn() {
        let cols = (0..<10).map { Column(name: "c\($0)", type: .bigint) }
        #expect(ColumnBudget.fit(columns: cols, budget: 20) == cols)
        let fitted = ColumnBudget.fit(columns: cols, budget: 4)
        #expect(fitted.map(\.name) == ["c0", "c1", "c2", Overflow.column] && fitted.last?.type == .json)
    }

    @Test func aPlanIsTrimmedToTheRoomLeftAndGetsTheOverflowColumn() {
        let schema = TableSchema(name: "t", columns: (0..<8).map { Column(name: "c\($0)", type: .bigint) })
        let ops = (0..<5).map { PlanOperation.addColumn("n\($0)", .text) }
        let plan = Plan(incidentID: 1, table: "t", operations: ops, rationale: "new fields", confidence: 0.9, plannedBy: "rules")
        #expect(ColumnBudget.fit(plan, schema: schema, budget: 13) == plan, "a plan that fits is unchanged")
        let cut = ColumnBudget.fit(plan, schema: schema, budget: 10)
        #expect(cut.operations.map(\.column) == ["n0", Overflow.column])
        #expect(cut.rationale.contains("4 new fields (n1, n2, n3, n4) load into _mend_overflow"), "\(cut.rationale)")

        // At the budget, with the overflow column there, the plan changes nothing and replays.
        let withOverflow = TableSchema(name: "t", columns: schema.columns + [Overflow.definition, Column(name: "x", type: .text)])
        #expect(ColumnBudget.fit(plan, schema: withOverflow, budget: 10).operations == [.addColumn(Overflow.column, .json)])
        // A promotion past the budget is cut, and the rationale says what to raise.
        let full = TableSchema(name: "t", columns: schema.columns + [Overflow.definition, Column(name: "x", type: .text)])
        let promote = Plan(
            incidentID: 1, table: "t", operations: [PlanOperation(kind: .promoteField, column: "p", type: .bigint, source: "p")],
            rationale: "", confidence: 0.9, plannedBy: "person")
        let refused = ColumnBudget.fit(promote, schema: full, budget: 10)
        #expect(refused.operations.isEmpty && refused.problem() != nil)
        #expect(refused.rationale.contains("raise max_table_columns"))
    }

    @Test func thePolicyDecodesTheBudgetAndTheDepthAndRefusesBadOnes() throws {
        let p = try JSONDecoder().decode(
            Policy.self,
            from: Data(#"{"max_table_columns": 300, "overflow_depth": 2, "tables": {"wide": {"max_columns": 1200}}}"#.utf8))
        #expect(p.maxColumns(table: "other") == 300 && p.maxColumns(table: "wide") == 1200)
        #expect(p.overflowDepth(table: "wide") == 2 && p.recordLimits(table: "wide").maxColumns == 1200)
        #expect(Policy.default.maxColumns(table: "t") == 1_000 && Policy.default.overflowDepth(table: "t") == nil)
        #expect(throws: PolicyError.self) { try JSONDecoder().decode(Policy.self, from: Data(#"{"max_table_columns": 1700}"#.utf8)) }
        #expect(throws: PolicyError.self) { try JSONDecoder().decode(Policy.self, from: Data(#"{"overflow_depth": 0}"#.utf8)) }
    }

    @Test func theRulesPlannerProposesAPromotionForAnOverflowIncident() {
        let drift = Overflow.drift(FlatField(column: "b__c", sourceKey: "b.c", value: .number(JSONNumber(int: 3))), why: "test")
        let incident = Incident(
            id: 4, table: "t", signature: drift.signature, kinds: [.overflow], status: .open, parked: 0, openedAt: Date(),
            drifts: [drift])
        let plan = RulesPlanner().planSync(incident: incident, schema: Self.full)
        #expect(plan.operations == [PlanOperation(kind: .promoteField, column: "b__c", type: .bigint, source: "b.c")])
        #expect(Policy.default.decide(plan, risks: [.low]).autonomy == .approve, "a promotion is a person's call")
    }
}
