import MendCore
import Testing

@Suite struct JSONParserTests {
    @Test func keepsBooleansApartFromNumbers() throws {
        let v = try JSONParser.parse(#"{"a": true, "b": 1, "c": 1.50, "d": "x"}"#)
        #expect(v["a"] == .bool(true))
        #expect(v["b"]?.inferredType == .bigint)
        guard case .number(let n)? = v["c"] else { Issue.record("c is not a number"); return }
        #expect(n.text == "1.50")
    }

    @Test func reportsWhereItStopped() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"id": 22, "user_id": "#) }
    }

    // MARK: strictness

    @Test(arguments: [
        "[1,2,]", #"{"a":1,}"#, "[,1]", #"{,"a":1}"#, "[1,,2]",
    ])
    func rejectsTrailingAndStrayCommas(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test(arguments: ["01", "-01", "00", "[01]", #"{"a":007}"#, "0123.5"])
    func rejectsLeadingZeros(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test(arguments: ["-", "1.", ".5", "+1", "1e", "1e+", "1.e3", "-.5", "NaN", "Infinity", "-Infinity", "0x10", "1_000"])
    func rejectsMalformedNumbers(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test(arguments: [
        #""\uD800""#, #""\uDC00""#, #""\uDBFF x""#, #""\uD800\u0041""#, #""\uD800\uD800""#, #""\uDE00\uD83D""#,
        #""\uD83D""#, #""a\uD83Db""#,
    ])
    func rejectsLoneSurrogates(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsRawControlCharactersInStrings() throws {
        for code in [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] {
            let text = "\"a" + String(Character(Unicode.Scalar(UInt8(code)))) + "b\""
            #expect(throws: JSONParseError.self, "raw U+\(code) must be escaped") { try JSONParser.parse(text) }
        }
        // The same characters escaped are fine.
        #expect(try JSONParser.parse(#""a\tb\n\u0000\u001f""#) == .string("a\tb\n\u{0}\u{1F}"))
        // DEL (0x7F) is not a control character for JSON.
        #expect(try JSONParser.parse("\"a\u{7F}\"") == .string("a\u{7F}"))
    }

    @Test(arguments: [
        "", " ", "\n", "tru", "nul", "True", "NULL", "fals", "nulll", "{", "[", "}", "]", #"{"a"}"#, #"{"a" 1}"#,
        #"{a:1}"#, "{'a':1}", "'x'", #""abc"#, #""\x""#, #""\u12""#, #""\u12G4""#, "[1 2]", #"{"a":1 "b":2}"#,
        "1 2", "{} {}", "[]]", "\u{FEFF}{}",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func acceptsSurroundingWhitespaceButNothingElse() throws {
        #expect(try JSONParser.parse(" \t\r\n{}\n ") == .object([]))
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{} x") }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{}\u{0B}") }  // vertical tab is not JSON whitespace
    }

    @Test func errorOffsetPointsAtTheProblem() {
        do {
            _ = try JSONParser.parse(#"{"a":}"#)
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 5)
            #expect(error.description.contains("byte 6"))
        }
        do {
            _ = try JSONParser.parse("[1,2,]")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 5)
        }
    }

    // MARK: nesting

    static func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
        String(repeating: open, count: depth) + String(repeating: close, count: depth)
    }

    @Test func nestingUpToTheLimitParses() throws {
        _ = try JSONParser.parse(Self.nested(JSONParser.maxDepth))
        let objects =
            String(repeating: #"{"a":"#, count: JSONParser.maxDepth - 1) + "{}" + String(repeating: "}", count: JSONParser.maxDepth - 1)
        _ = try JSONParser.parse(objects)
    }

    @Test func nestingBeyondTheLimitIsRefused() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Self.nested(JSONParser.maxDepth + 1)) }
        let objects = String(repeating: #"{"a":"#, count: JSONParser.maxDepth) + "{}" + String(repeating: "}", count: JSONParser.maxDepth)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(objects) }
        // Mixed arrays and objects count together.
        let mixed = String(repeating: #"[{"a":"#, count: 40) + "1" + String(repeating: "}]", count: 40)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(mixed) }
    }

    @Test func veryDeepInputDoesNotCrash() {
        // 100k brackets must be an error, not a stack overflow.
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Self.nested(100_000)) }
    }

    // MARK: numbers

    @Test(arguments: [
        "0", "-0", "1.50", "1e3", "1E3", "1e+3", "-1.5e-10", "0.000", "12345678901234567890", "-9223372036854775808",
        "3.141592653589793238462643383279", "100000000000000000000000000000", "0e0",
    ])
    func keepsExactNumberText(_ text: String) throws {
        guard case .number(let n) = try JSONParser.parse(text) else {
            Issue.record("\(text) did not parse as a number")
            return
        }
        #expect(n.text == text)
        #expect(try JSONParser.parse("[\(text)]").jsonText == "[\(text)]")
    }

    @Test func integersInInt64RangeCarryTheirValue() throws {
        let cases: [(String, Int64?)] = [
            ("0", 0), ("-0", 0), ("42", 42), ("-42", -42),
            ("999999999999999999", 999_999_999_999_999_999),  // 18 digits: fast path
            ("-99999999999999999", -99_999_999_999_999_999),
            ("9223372036854775807", .max), ("-9223372036854775808", .min),
            ("9223372036854775808", nil), ("-9223372036854775809", nil), ("12345678901234567890", nil),
            ("1.0", nil), ("1e2", nil),
        ]
        for (text, expected) in cases {
            guard case .number(let n) = try JSONParser.parse(text) else {
                Issue.record("\(text) is not a number")
                continue
            }
            #expect(n.int == expected, "\(text)")
            #expect(n.isInteger == !(text.contains(".") || text.contains("e")), "\(text)")
        }
    }

    @Test func booleansAndNumbersStayDistinct() throws {
        let v = try JSONParser.parse("[true, 1, false, 0, null]")
        guard case .array(let items) = v else { Issue.record("not an array"); return }
        #expect(items[0] == .bool(true))
        #expect(items[0] != .number(JSONNumber(int: 1)))
        #expect(items[1] == .number(JSONNumber(int: 1)))
        #expect(items[2] == .bool(false))
        #expect(items[2] != items[3])
        #expect(items[4] == .null)
        #expect(items[0].kindName == "boolean")
        #expect(items[1].kindName == "integer")
        #expect(items[0].inferredType == .boolean)
        #expect(items[1].inferredType == .bigint)
    }

    // MARK: objects

    @Test func keepsDuplicateKeysInOrderAndLastWinsOnLookup() throws {
        let v = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["a", "b", "a"])
        #expect(v["a"] == .number(JSONNumber(int: 3)))
        #expect(v.jsonText == #"{"a":1,"b":2,"a":3}"#)
    }

    @Test func keepsKeyOrder() throws {
        let v = try JSONParser.parse(#"{"z":1,"a":2,"m":3}"#)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["z", "a", "m"])
        #expect(v != (try JSONParser.parse(#"{"a":2,"z":1,"m":3}"#)))
    }

    @Test func subscriptOnNonObjectIsNil() throws {
        #expect(try JSONParser.parse("[1]")["a"] == nil)
        #expect(try JSONParser.parse(#"{"b":1}"#)["a"] == nil)
    }

    // MARK: strings

    @Test func decodesEscapes() throws {
        #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try JSONParser.parse(#""\u00e9\u00E9""#) == .string("éé"))
        #expect(try JSONParser.parse(#""\u4e2d""#) == .string("中"))
        #expect(try JSONParser.parse(#""x\u0041y""#) == .string("xAy"))
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""a\uD834\uDD1Eb""#) == .string("a𝄞b"))
        // The highest code point.
        #expect(try JSONParser.parse(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
    }

    @Test func keepsRawUTF8() throws {
        #expect(try JSONParser.parse(#""grüße 😀 中文""#) == .string("grüße 😀 中文"))
        #expect(try JSONParser.parse(#"{"ключ":"значение"}"#)["ключ"] == .string("значение"))
    }

    @Test func stringWithEscapeAfterPlainPrefix() throws {
        // Exercises the switch from the no-escape fast path to the slow path.
        #expect(try JSONParser.parse(#""abcdef\ng""#) == .string("abcdef\ng"))
        #expect(throws: JSONParseError.self) { try JSONParser.parse("\"abc\\nd\u{01}\"") }
    }

    @Test func jsonTextRoundTrips() throws {
        let inputs = [
            #"{"a":[1,2.50,{"b":null}],"c":"q\"x\\y\n","d":true,"e":false,"f":{}}"#,
            #"[]"#, #""\u0001""#, #"{"":""}"#,
        ]
        for text in inputs {
            let v = try JSONParser.parse(text)
            let again = try JSONParser.parse(v.jsonText)
            #expect(again == v, "\(text)")
        }
        #expect(JSONValue.quoted("a\u{1}b") == #""a\u0001b""#)
    }
}
