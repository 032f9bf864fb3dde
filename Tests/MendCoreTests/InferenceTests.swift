import MendCore
import Testing

@Suite struct InferenceTests {
    static func type(_ json: String) throws -> LogicalType? { try JSONParser.parse(json).inferredType }

    @Test(arguments: [
        "2026-03-01T10:00:01Z", "2026-03-01T10:00:01z", "2026-03-02T08:30:00.123+02:00", "2026-03-02T08:30:00-05:00",
        "2026-03-02 08:30:00+02:00", "2026-03-02T08:30:00+0200", "2026-03-02T08:30:00+02", "2026-03-02T08:30:00.123456789Z",
        "2024-02-29T00:00:00Z", "2026-12-31T23:59:60Z",
    ])
    func timestampsWithZoneAreTimestamptz(_ s: String) {
        #expect(TextShapes.isTimestampTZ(s))
        #expect(JSONValue.string(s).inferredType == .timestamptz)
    }

    @Test(arguments: [
        "2026-03-01T10:00:01",  // no offset: ambiguous instant
        "2026-03-01T10:00:01.5", "2026-03-01", "2026-03-01T10:00Z", "2026-03-01T24:00:00Z", "2026-03-01T10:60:00Z",
        "2026-03-01T10:00:61Z", "2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z", "2026-03-01T10:00:01+24:00",
        "2026-03-01T10:00:01+02:60", "2026-03-01T10:00:01.Z", "2026-03-01T10:00:01.1234567890Z", "2026-03-01X10:00:01Z",
        "2026-03-01T10:00:01Zjunk", "2026-03-01T10:00:01+02:00junk", " 2026-03-01T10:00:01Z", "2026-03-01T10:00:01+2",
        "0000-01-01T00:00:00Z",
    ])
    func otherTimestampShapesStayText(_ s: String) {
        #expect(!TextShapes.isTimestampTZ(s))
        #expect(JSONValue.string(s).inferredType != .timestamptz)
    }

    @Test func timestampWithoutOffsetIsText() {
        #expect(JSONValue.string("2026-03-01T10:00:01").inferredType == .text)
        #expect(JSONValue.string("2026-03-01 10:00:01").inferredType == .text)
    }

    @Test func dates() {
        let valid = ["2026-03-01", "2024-02-29", "2000-02-29", "2026-12-31", "0001-01-01", "2026-04-30"]
        let invalid = [
            "2026-02-30", "2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00", "2026-1-01",
            "26-01-01", "2026/01/01", "2026-01-01 ", "0000-01-01", "2026-01-32", "abcd-ef-gh",
        ]
        for s in valid {
            #expect(TextShapes.isDate(s), "\(s)")
            #expect(JSONValue.string(s).inferredType == .date, "\(s)")
        }
        for s in invalid {
            #expect(!TextShapes.isDate(s), "\(s)")
            #expect(JSONValue.string(s).inferredType == .text, "\(s)")
        }
    }

    @Test func uuids() {
        for s in ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000", "00000000-0000-0000-0000-000000000000"] {
            #expect(TextShapes.isUUID(s), "\(s)")
            #expect(JSONValue.string(s).inferredType == .uuid, "\(s)")
        }
        for s in [
            "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400", "123e4567-e89b-12d3-a456-4266141740000",
            "g23e4567-e89b-12d3-a456-426614174000", "{123e4567-e89b-12d3-a456-426614174000}", "123e4567_e89b_12d3_a456_426614174000",
        ] {
            #expect(!TextShapes.isUUID(s), "\(s)")
            #expect(JSONValue.string(s).inferredType == .text, "\(s)")
        }
    }

    @Test func numbers() throws {
        #expect(try Self.type("0") == .bigint)
        #expect(try Self.type("-42") == .bigint)
        #expect(try Self.type("9223372036854775807") == .bigint)
        #expect(try Self.type("9223372036854775808") == .numeric)
        #expect(try Self.type("-9223372036854775809") == .numeric)
        #expect(try Self.type("123456789012345678901234567890") == .numeric)
        #expect(try Self.type("1.5") == .double)
        #expect(try Self.type("1.0") == .double)
        #expect(try Self.type("1e3") == .double)
        #expect(try Self.type("-0.0") == .double)
    }

    @Test func booleanIsNeverAnInteger() throws {
        #expect(try Self.type("true") == .boolean)
        #expect(try Self.type("false") == .boolean)
        #expect(try Self.type("1") != .boolean)
        #expect(try Self.type("0") != .boolean)
        #expect(JSONValue.string("true").inferredType == .text)
        #expect(LogicalType.boolean.join(.bigint) != .bigint)
    }

    @Test func otherKinds() throws {
        #expect(try Self.type("null") == nil)
        #expect(try Self.type("[]") == .json)
        #expect(try Self.type("[1,2]") == .json)
        #expect(try Self.type("{}") == .json)
        #expect(try Self.type(#"{"a":1}"#) == .json)
        #expect(try Self.type(#""""#) == .text)
        #expect(try Self.type(#""42""#) == .text)
    }

    // MARK: lattice

    @Test func joinExamples() {
        #expect(LogicalType.boolean.join(.bigint) == .text)
        #expect(LogicalType.bigint.join(.boolean) == .text)
        #expect(LogicalType.bigint.join(.double) == .double)
        #expect(LogicalType.double.join(.bigint) == .double)
        #expect(LogicalType.bigint.join(.numeric) == .numeric)
        #expect(LogicalType.double.join(.numeric) == .numeric)
        #expect(LogicalType.numeric.join(.double) == .numeric)
        #expect(LogicalType.date.join(.timestamptz) == .text)
        #expect(LogicalType.uuid.join(.text) == .text)
        #expect(LogicalType.boolean.join(.double) == .text)
        #expect(LogicalType.json.join(.bigint) == .json)
        #expect(LogicalType.text.join(.json) == .json)
    }

    @Test func joinIsIdempotentCommutativeAndAssociative() {
        for a in LogicalType.allCases {
            #expect(a.join(a) == a)
            for b in LogicalType.allCases {
                #expect(a.join(b) == b.join(a), "\(a) ⊔ \(b)")
                for c in LogicalType.allCases {
                    #expect(a.join(b).join(c) == a.join(b.join(c)), "(\(a) ⊔ \(b)) ⊔ \(c)")
                }
            }
        }
    }

    @Test func joinIsAnUpperBoundThatWidens() {
        // Every type widens to its join with another, except bigint → double, which the
        // lattice accepts on purpose (bigint ⊔ double = double) but is not lossless above 2^53.
        for a in LogicalType.allCases {
            for b in LogicalType.allCases where !(a == .bigint && b == .double) && !(a == .double && b == .bigint) {
                let j = a.join(b)
                #expect(a.widens(to: j), "\(a) should widen to \(a) ⊔ \(b) = \(j)")
            }
        }
        #expect(!LogicalType.bigint.widens(to: .double))
    }

    @Test func widens() {
        #expect(LogicalType.bigint.widens(to: .numeric))
        #expect(LogicalType.double.widens(to: .numeric))
        #expect(LogicalType.bigint.widens(to: .text))
        #expect(LogicalType.boolean.widens(to: .text))
        #expect(LogicalType.timestamptz.widens(to: .text))
        #expect(LogicalType.text.widens(to: .json))
        #expect(LogicalType.json.widens(to: .json))
        #expect(!LogicalType.json.widens(to: .text))
        #expect(!LogicalType.numeric.widens(to: .bigint))
        #expect(!LogicalType.numeric.widens(to: .double))
        #expect(!LogicalType.double.widens(to: .bigint))
        #expect(!LogicalType.bigint.widens(to: .double))
        #expect(!LogicalType.text.widens(to: .bigint))
        #expect(!LogicalType.boolean.widens(to: .bigint))
        #expect(!LogicalType.text.widens(to: .timestamptz))
        #expect(!LogicalType.date.widens(to: .timestamptz))
        for t in LogicalType.allCases { #expect(t.widens(to: t)) }
    }

    @Test func widensIsAntisymmetric() {
        for a in LogicalType.allCases {
            for b in LogicalType.allCases where a != b {
                #expect(!(a.widens(to: b) && b.widens(to: a)), "\(a) and \(b) widen to each other")
            }
        }
    }

    @Test func sqlTypeNamesReadBack() {
        for t in LogicalType.allCases {
            #expect(LogicalType(sqlTypeName: t.postgresName) == t, "\(t.postgresName)")
            #expect(LogicalType(sqlTypeName: t.sqliteName) == t, "\(t.sqliteName)")
            #expect(LogicalType(sqlTypeName: t.rawValue) == t || t == .double, "\(t.rawValue)")
        }
        #expect(LogicalType(sqlTypeName: "VARCHAR(20)") == .text)
        #expect(LogicalType(sqlTypeName: " numeric(10, 2) ") == .numeric)
        #expect(LogicalType(sqlTypeName: "INT4") == .bigint)
        #expect(LogicalType(sqlTypeName: "timestamp with time zone") == .timestamptz)
        #expect(LogicalType(sqlTypeName: "timestamp") == nil)  // without zone: not managed
        #expect(LogicalType(sqlTypeName: "geometry") == nil)
        #expect(LogicalType.double.postgresName == "double precision")
        #expect(LogicalType.double.sqliteName == "DOUBLE PRECISION")
        #expect(LogicalType.json.postgresName == "jsonb")
        #expect(LogicalType.json.sqliteName == "JSON")
    }

    // MARK: schema inference

    @Test func schemaInferenceJoinsAndSkipsNullOnly() {
        let records: [[FlatField]] = [
            [
                FlatField(column: "id", sourceKey: "id", value: .number(JSONNumber(int: 1))),
                FlatField(column: "x", sourceKey: "x", value: .null),
                FlatField(column: "amount", sourceKey: "amount", value: .number(JSONNumber(int: 5))),
            ],
            [
                FlatField(column: "id", sourceKey: "id", value: .number(JSONNumber(int: 2))),
                FlatField(column: "amount", sourceKey: "amount", value: .number(JSONNumber(text: "5.5"))),
                FlatField(column: "flag", sourceKey: "flag", value: .bool(true)),
                FlatField(column: "_", sourceKey: "!!!", value: .string("x"), validName: false),
            ],
            [FlatField(column: "flag", sourceKey: "flag", value: .number(JSONNumber(int: 1)))],
        ]
        let cols = SchemaInference.columns(from: records)
        #expect(cols.map(\.name) == ["id", "amount", "flag"])
        #expect(cols.map(\.type) == [.bigint, .double, .text])
        #expect(cols.allSatisfy { $0.nullable })
    }
}
