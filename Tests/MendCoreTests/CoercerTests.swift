import MendCore
import Testing

@Suite struct CoercerTests {
    static func num(_ text: String) -> JSONValue {
        guard case .number(let n) = try? JSONParser.parse(text) else { return .null }
        return .number(n)
    }

    static func isMismatch(_ c: Coercion) -> Bool {
        if case .mismatch = c { return true }
        return false
    }

    // MARK: strings into numbers: only when they read back the same

    @Test func stringsIntoDouble() {
        #expect(Coercer.coerce(.string("12.5"), to: .double) == .coerced(.double(12.5)))
        #expect(Coercer.coerce(.string("12.50"), to: .double) == .coerced(.double(12.5)))
        #expect(Coercer.coerce(.string("-0.25"), to: .double) == .coerced(.double(-0.25)))
        #expect(Coercer.coerce(.string("1e3"), to: .double) == .coerced(.double(1000)))
        #expect(Coercer.coerce(.string("42"), to: .double) == .coerced(.double(42)))
        for s in ["00042", "012.5", "+1", " 1", "1 ", "1,5", "abc", "", "NaN", "inf", "Infinity", "1e400", "0x10", ".5", "5."] {
            #expect(Self.isMismatch(Coercer.coerce(.string(s), to: .double)), "\(s)")
        }
        // More digits than a double keeps.
        #expect(Self.isMismatch(Coercer.coerce(.string("0.1000000000000000055511151231257827"), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(.string("9007199254740993"), to: .double)))
    }

    @Test func stringsIntoBigint() {
        #expect(Coercer.coerce(.string("42"), to: .bigint) == .coerced(.int(42)))
        #expect(Coercer.coerce(.string("-7"), to: .bigint) == .coerced(.int(-7)))
        #expect(Coercer.coerce(.string("9223372036854775807"), to: .bigint) == .coerced(.int(.max)))
        #expect(Self.isMismatch(Coercer.coerce(.string("00042"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string("9223372036854775808"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string("4.0"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string("4.5"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string("+4"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string(" 4"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string("true"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.string(""), to: .bigint)))
        // An exponent spelling would read back as "1000", not "1e3": not coerced.
        #expect(Self.isMismatch(Coercer.coerce(.string("1e3"), to: .bigint)))
    }

    @Test func mismatchReasonQuotesTheValue() {
        guard case .mismatch(let why) = Coercer.coerce(.string("00042"), to: .bigint) else {
            Issue.record("expected a mismatch")
            return
        }
        #expect(why.contains(#""00042""#))
        guard case .mismatch(let long) = Coercer.coerce(.string(String(repeating: "z", count: 500)), to: .bigint) else {
            Issue.record("expected a mismatch")
            return
        }
        #expect(long.count < 200, "long values are capped in reasons")
    }

    // MARK: numbers into bigint

    @Test func numbersIntoBigint() {
        #expect(Coercer.coerce(Self.num("42"), to: .bigint) == .exact(.int(42)))
        #expect(Coercer.coerce(Self.num("-9223372036854775808"), to: .bigint) == .exact(.int(.min)))
        #expect(Coercer.coerce(Self.num("2.0"), to: .bigint) == .coerced(.int(2)))
        #expect(Coercer.coerce(Self.num("2.000"), to: .bigint) == .coerced(.int(2)))
        #expect(Coercer.coerce(Self.num("1e3"), to: .bigint) == .coerced(.int(1000)))
        #expect(Coercer.coerce(Self.num("-1.5e1"), to: .bigint) == .coerced(.int(-15)))
        #expect(Coercer.coerce(Self.num("0.0"), to: .bigint) == .coerced(.int(0)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("2.5"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1e-1"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("9223372036854775808"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("9.3e18"), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1e30"), to: .bigint)))
    }

    @Test func booleansNeverBecomeNumbers() {
        #expect(Self.isMismatch(Coercer.coerce(.bool(true), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.bool(false), to: .bigint)))
        #expect(Self.isMismatch(Coercer.coerce(.bool(true), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(.bool(true), to: .numeric)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1"), to: .boolean)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("0"), to: .boolean)))
    }

    @Test func booleans() {
        #expect(Coercer.coerce(.bool(true), to: .boolean) == .exact(.bool(true)))
        #expect(Coercer.coerce(.string("true"), to: .boolean) == .coerced(.bool(true)))
        #expect(Coercer.coerce(.string("false"), to: .boolean) == .coerced(.bool(false)))
        for s in ["TRUE", "True", "yes", "1", "t", "", "false "] {
            #expect(Self.isMismatch(Coercer.coerce(.string(s), to: .boolean)), "\(s)")
        }
    }

    // MARK: doubles

    @Test func numbersIntoDouble() {
        #expect(Coercer.coerce(Self.num("1.5"), to: .double) == .exact(.double(1.5)))
        #expect(Coercer.coerce(Self.num("3"), to: .double) == .exact(.double(3)))
        #expect(Coercer.coerce(Self.num("9007199254740992"), to: .double) == .exact(.double(9_007_199_254_740_992)))
        #expect(Coercer.coerce(Self.num("-9007199254740992"), to: .double) == .exact(.double(-9_007_199_254_740_992)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("9007199254740993"), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("-9007199254740993"), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("9223372036854775807"), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1e400"), to: .double)))
    }

    @Test func integersBeyondInt64IntoDoubleMustNotLoseDigits() {
        // 2^64 + 1 has no exact double; loading it as 1.8446744073709552e19 would change the value.
        #expect(Self.isMismatch(Coercer.coerce(Self.num("18446744073709551617"), to: .double)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("-12345678901234567891"), to: .double)))
        // A big integer literal that a double holds exactly still fits.
        #expect(Coercer.coerce(Self.num("100000000000000000000"), to: .double) == .exact(.double(1e20)))
    }

    // MARK: numeric and text

    @Test func numeric() {
        #expect(Coercer.coerce(Self.num("12345678901234567890.5"), to: .numeric) == .exact(.text("12345678901234567890.5")))
        #expect(Coercer.coerce(Self.num("1.50"), to: .numeric) == .exact(.text("1.50")))
        #expect(Coercer.coerce(.string("12.50"), to: .numeric) == .coerced(.text("12.50")))
        #expect(Self.isMismatch(Coercer.coerce(.string("00042"), to: .numeric)))
        #expect(Self.isMismatch(Coercer.coerce(.string("1,000"), to: .numeric)))
        #expect(Self.isMismatch(Coercer.coerce(.string("NaN"), to: .numeric)))
    }

    @Test func numbersAndBooleansIntoTextKeepTheirSpelling() {
        #expect(Coercer.coerce(Self.num("1.50"), to: .text) == .coerced(.text("1.50")))
        #expect(Coercer.coerce(Self.num("1e3"), to: .text) == .coerced(.text("1e3")))
        #expect(Coercer.coerce(Self.num("-0"), to: .text) == .coerced(.text("-0")))
        #expect(Coercer.coerce(Self.num("123456789012345678901234567890"), to: .text) == .coerced(.text("123456789012345678901234567890")))
        #expect(Coercer.coerce(.bool(false), to: .text) == .coerced(.text("false")))
        #expect(Coercer.coerce(.string("x"), to: .text) == .exact(.text("x")))
        #expect(Self.isMismatch(Coercer.coerce(.array([]), to: .text)))
        #expect(Self.isMismatch(Coercer.coerce(.object([]), to: .text)))
    }

    // MARK: timestamps, dates, uuids

    @Test func timestamps() {
        #expect(Coercer.coerce(.string("2026-03-01T10:00:01Z"), to: .timestamptz) == .exact(.text("2026-03-01T10:00:01Z")))
        #expect(Self.isMismatch(Coercer.coerce(.string("2026-03-01T10:00:01"), to: .timestamptz)))
        #expect(Self.isMismatch(Coercer.coerce(.string("2026-03-01"), to: .timestamptz)))
        #expect(Self.isMismatch(Coercer.coerce(.string("yesterday"), to: .timestamptz)))
        guard case .mismatch(let why) = Coercer.coerce(Self.num("1767225600"), to: .timestamptz) else {
            Issue.record("epoch seconds must not silently become a timestamp")
            return
        }
        #expect(why.contains("convert_value"))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1767225600000"), to: .timestamptz)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1767225600.5"), to: .timestamptz)))
    }

    @Test func dates() {
        #expect(Coercer.coerce(.string("2026-02-28"), to: .date) == .exact(.text("2026-02-28")))
        #expect(Self.isMismatch(Coercer.coerce(.string("2026-02-30"), to: .date)))
        #expect(Self.isMismatch(Coercer.coerce(.string("2026-03-01T00:00:00Z"), to: .date)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("20260228"), to: .date)))
    }

    @Test func uuids() {
        let u = "123E4567-E89B-12D3-A456-426614174000"
        #expect(Coercer.coerce(.string(u), to: .uuid) == .exact(.text(u.lowercased())))
        #expect(Self.isMismatch(Coercer.coerce(.string("123e4567e89b12d3a456426614174000"), to: .uuid)))
        #expect(Self.isMismatch(Coercer.coerce(.string("not-a-uuid"), to: .uuid)))
        #expect(Self.isMismatch(Coercer.coerce(Self.num("1"), to: .uuid)))
    }

    // MARK: json and null

    @Test func anythingFitsJSONAsItsText() {
        #expect(Coercer.coerce(.string("x"), to: .json) == .exact(.text(#""x""#)))
        #expect(Coercer.coerce(Self.num("1.50"), to: .json) == .exact(.text("1.50")))
        #expect(Coercer.coerce(.bool(true), to: .json) == .exact(.text("true")))
        let obj = try? JSONParser.parse(#"{"b":1,"a":[true,null]}"#)
        #expect(Coercer.coerce(obj ?? .null, to: .json) == .exact(.text(#"{"b":1,"a":[true,null]}"#)))
    }

    @Test func nullFitsEveryType() {
        for t in LogicalType.allCases {
            #expect(Coercer.coerce(.null, to: t) == .exact(.null), "\(t)")
        }
    }

    @Test func exactValuesMatchTheirInferredType() {
        // Whatever infers as type T must fit a T column exactly (no coercion, no mismatch).
        let samples = [
            "true", "42", "-1", "1.5", "1e3", "12345678901234567890", #""x""#, #""2026-03-01T10:00:01Z""#,
            #""2026-03-01""#, #""123e4567-e89b-12d3-a456-426614174000""#, "[1]", #"{"a":1}"#,
        ]
        for s in samples {
            guard let v = try? JSONParser.parse(s), let t = v.inferredType else {
                Issue.record("\(s)")
                continue
            }
            guard case .exact = Coercer.coerce(v, to: t) else {
                Issue.record("\(s) inferred as \(t) does not fit a \(t) column exactly: \(Coercer.coerce(v, to: t))")
                continue
            }
        }
    }

    // MARK: decimal text

    @Test func decimalTextComparesValuesNotSpellings() {
        #expect(DecimalText("12.50") == DecimalText("12.5"))
        #expect(DecimalText("1e3") == DecimalText("1000"))
        #expect(DecimalText("1E+3") == DecimalText("1000.000"))
        #expect(DecimalText("0.0") == DecimalText("-0"))
        #expect(DecimalText("0.001") == DecimalText("1e-3"))
        #expect(DecimalText("12.5") != DecimalText("12.51"))
        #expect(DecimalText("-1") != DecimalText("1"))
        #expect(DecimalText("abc") == nil)
        #expect(DecimalText("") == nil)
        #expect(DecimalText("1e") == nil)
        #expect(DecimalText("1000")?.exactInt64 == 1000)
        #expect(DecimalText("1.5")?.exactInt64 == nil)
        #expect(DecimalText("1e19")?.exactInt64 == nil)
        #expect(DecimalText("-9223372036854775808")?.exactInt64 == .min)
    }

    @Test func canonicalNumbers() {
        for s in ["0", "-0", "1", "12.5", "1e3", "1E-3", "-0.5", "1.5e+10"] {
            #expect(DecimalText.isCanonicalNumber(s), "\(s)")
        }
        for s in ["", "-", "00", "01", "+1", "1.", ".1", "1e", "1e+", " 1", "1 ", "NaN", "0x1", "1_0", "--1"] {
            #expect(!DecimalText.isCanonicalNumber(s), "\(s)")
        }
    }
}

/// Overflow, underflow and non-finite values never load as something else.
@Suite struct CoercerRangeTests {
    @Test func overflowAndUnderflowAreMismatches() {
        for text in ["1e400", "-1e400", "1e-400", "-2.5e-330"] {
            guard case .mismatch(let why) = Coercer.coerce(.number(JSONNumber(text: text)), to: .double) else {
                Issue.record("\(text) must not fit a double precision column")
                continue
            }
            #expect(why.contains(text))
        }
        #expect(Coercer.coerce(.number(JSONNumber(text: "0e-400")), to: .double) == .exact(.double(0)))
        #expect(Coercer.coerce(.number(JSONNumber(text: "5e-324")), to: .double) == .exact(.double(Double.leastNonzeroMagnitude)))
    }
}
