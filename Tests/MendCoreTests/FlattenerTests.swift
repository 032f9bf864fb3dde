import MendCore
import Testing

@Suite struct FlattenerTests {
    static func flat(_ json: String, maxDepth: Int = 4) throws -> [FlatField] {
        guard case .object(let members) = try JSONParser.parse(json) else {
            Issue.record("not an object: \(json)")
            return []
        }
        var f = Flattener(maxDepth: maxDepth)
        return f.flatten(members)
    }

    static func columns(_ fields: [FlatField]) -> [String: FlatField] {
        Dictionary(fields.map { ($0.column, $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func nestedObjectsBecomeDoubleUnderscoreColumns() throws {
        let fields = try Self.flat(#"{"id":1,"user":{"firstName":"Ada","address":{"zipCode":"123"}}}"#)
        #expect(fields.map(\.column) == ["id", "user__first_name", "user__address__zip_code"])
        #expect(fields.map(\.sourceKey) == ["id", "user.firstName", "user.address.zipCode"])
        #expect(fields[2].value == .string("123"))
        #expect(fields.allSatisfy { $0.validName })
    }

    @Test func arraysStayWhole() throws {
        let fields = try Self.flat(#"{"tags":["a","b"],"items":[{"x":1}]}"#)
        #expect(fields.map(\.column) == ["tags", "items"])
        #expect(fields[0].value == .array([.string("a"), .string("b")]))
        #expect(fields[1].value.inferredType == .json)
    }

    @Test func emptyObjectStaysAValue() throws {
        let fields = try Self.flat(#"{"id":1,"meta":{}}"#)
        #expect(fields.map(\.column) == ["id", "meta"])
        #expect(fields[1].value == .object([]))
    }

    @Test func emptyRecordFlattensToNothing() throws {
        #expect(try Self.flat("{}").isEmpty)
    }

    @Test func maxDepthKeepsDeeperObjectsWhole() throws {
        let json = #"{"a":{"b":{"c":{"d":{"e":1}}}}}"#
        let four = try Self.flat(json)
        #expect(four.map(\.column) == ["a__b__c__d"])
        #expect(four[0].value == (try JSONParser.parse(#"{"e":1}"#)))
        #expect(four[0].sourceKey == "a.b.c.d")

        let one = try Self.flat(json, maxDepth: 1)
        #expect(one.map(\.column) == ["a"])
        #expect(one[0].value.inferredType == .json)

        let two = try Self.flat(json, maxDepth: 2)
        #expect(two.map(\.column) == ["a__b"])

        let deep = try Self.flat(json, maxDepth: 10)
        #expect(deep.map(\.column) == ["a__b__c__d__e"])
        #expect(deep[0].value == .number(JSONNumber(int: 1)))
    }

    @Test func nullsAndScalarsKeepTheirValues() throws {
        let fields = try Self.flat(#"{"a":null,"b":true,"c":1.50,"d":"x"}"#)
        #expect(fields.map(\.value) == [.null, .bool(true), .number(JSONNumber(text: "1.50")), .string("x")])
    }

    @Test func keysWithoutLettersAreMarkedInvalid() throws {
        let fields = try Self.flat(#"{"id":1,"!!!":2,"":3,"??":{"x":1}}"#)
        #expect(fields.count == 4)
        let invalid = fields.filter { !$0.validName }
        #expect(invalid.map(\.sourceKey) == ["!!!", "", "??"])
        // An object under a nameless key is not flattened into children.
        #expect(invalid.last?.value == (try JSONParser.parse(#"{"x":1}"#)))
        // Nameless columns do not collide into ordinary names.
        #expect(fields.first?.column == "id")
    }

    @Test func sourceKeyNamesTheNestedPath() throws {
        let fields = try Self.flat(#"{"Order Info":{"Total $":5}}"#)
        #expect(fields.map(\.column) == ["order_info__total"])
        #expect(fields.map(\.sourceKey) == ["Order Info.Total $"])
    }

    @Test func longNestedPathsAreShortened() throws {
        let k = String(repeating: "k", count: 40)
        let fields = try Self.flat(#"{"\#(k)":{"\#(k)":1,"\#(k)x":2}}"#)
        #expect(fields.count == 2)
        for f in fields {
            #expect(f.column.utf8.count <= Identifier.maxBytes)
            #expect(Identifier.isWellFormed(f.column))
        }
        #expect(fields[0].column != fields[1].column)
    }

    @Test func flatteningIsDeterministicAcrossInstances() throws {
        let json = #"{"userId":1,"Meta":{"HTTPStatus":200},"tags":[1]}"#
        #expect(try Self.flat(json) == (try Self.flat(json)))
    }

    // MARK: collisions within one record

    @Test func exactKeyKeepsTheColumnOnCollision() throws {
        let fields = try Self.flat(#"{"userId":1,"user_id":2}"#)
        let byColumn = Self.columns(fields)
        #expect(Set(fields.map(\.column)).count == 2, "columns must be distinct: \(fields.map(\.column))")
        #expect(byColumn["user_id"]?.sourceKey == "user_id")
        #expect(byColumn["user_id"]?.value == .number(JSONNumber(int: 2)))
        #expect(byColumn["user_id_2"]?.sourceKey == "userId")
        #expect(byColumn["user_id_2"]?.value == .number(JSONNumber(int: 1)))
        // Field order is the record's order.
        #expect(fields.map(\.sourceKey) == ["userId", "user_id"])
    }

    @Test func collisionResolutionDoesNotDependOnKeyOrder() throws {
        let a = Self.columns(try Self.flat(#"{"userId":1,"user_id":2,"UserId":3}"#))
        let b = Self.columns(try Self.flat(#"{"UserId":3,"user_id":2,"userId":1}"#))
        let c = Self.columns(try Self.flat(#"{"user_id":2,"UserId":3,"userId":1}"#))
        let mapping = { (d: [String: FlatField]) in d.mapValues(\.sourceKey) }
        #expect(mapping(a) == mapping(b))
        #expect(mapping(a) == mapping(c))
        #expect(a.count == 3)
        #expect(a["user_id"]?.sourceKey == "user_id")
    }

    @Test func collisionSuffixSkipsTakenNames() throws {
        let fields = try Self.flat(#"{"userId":1,"user_id":2,"user_id_2":3}"#)
        let byColumn = Self.columns(fields)
        #expect(Set(fields.map(\.column)).count == 3, "\(fields.map(\.column))")
        #expect(byColumn["user_id"]?.sourceKey == "user_id")
        #expect(byColumn["user_id_2"]?.sourceKey == "user_id_2")
        #expect(byColumn["user_id_3"]?.sourceKey == "userId")
    }

    @Test func collisionWithoutAnExactKeyIsOrderedBySourceKey() throws {
        let fields = try Self.flat(#"{"a-b":1,"a b":2}"#)
        let byColumn = Self.columns(fields)
        #expect(byColumn["a_b"]?.sourceKey == "a b")  // " " sorts before "-"
        #expect(byColumn["a_b_2"]?.sourceKey == "a-b")
    }

    @Test func nestedCollisionIsResolved() throws {
        let fields = try Self.flat(#"{"a":{"b":1},"A":{"B":2}}"#)
        #expect(Set(fields.map(\.column)).count == 2, "\(fields.map(\.column))")
        #expect(Set(fields.map(\.column)) == ["a__b", "a__b_2"])
    }

    @Test func nestedPathAndLiteralDoubleUnderscoreKeyDoNotCollide() throws {
        // A key spelled with "__" normalizes to a single "_", so it cannot pose as a nested path.
        let fields = try Self.flat(#"{"a":{"b":1},"a__b":2}"#)
        #expect(fields.map(\.column) == ["a__b", "a_b"])
    }

    @Test func duplicateKeysInOneRecordShareTheirOneColumn() throws {
        // One key, one column: the validator parks the record rather than keep one value.
        let fields = try Self.flat(#"{"a":1,"a":2}"#)
        #expect(fields.map(\.column) == ["a", "a"])
    }
}

@Suite struct RecordViewTests {
    @Test func longRecordsAreCutOnACharacterBoundary() {
        let short = RecordView("{\"a\": 1}")
        #expect(!short.truncated && short.text == "{\"a\": 1}")
        let long = String(repeating: "é", count: 10)  // 2 bytes each
        let cut = RecordView(long, limit: 5)
        #expect(cut.truncated)
        #expect(cut.bytes == 20)
        #expect(cut.text == "éé", "5 bytes back to the boundary at 4")
    }
}
