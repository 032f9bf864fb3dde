import Foundation

/// The outcome of fitting one value into one column.
public enum Coercion: Sendable, Equatable {
    /// The value is already of the column's type.
    case exact(SQLValue)
    /// The value was converted and converts back to exactly what arrived ("12.5" → 12.5).
    case coerced(SQLValue)
    /// It does not fit without a decision; the reason says why.
    case mismatch(String)
}

public enum Coercer {
    /// Fits `value` into a column of `type`, converting only when the conversion
    /// round-trips exactly. `"00042"` never becomes 42; `true` never becomes 1.
    public static func coerce(_ value: JSONValue, to type: LogicalType) -> Coercion {
        switch (type, value) {
        case (_, .null): return .exact(.null)
        case (.json, _): return .exact(.text(value.jsonText))

        case (.boolean, .bool(let b)): return .exact(.bool(b))
        case (.boolean, .string(let s)) where s == "true" || s == "false": return .coerced(.bool(s == "true"))

        case (.bigint, .number(let n)):
            if let i = n.int { return .exact(.int(i)) }
            if let c = DecimalText(n.text), let i = c.exactInt64 { return .coerced(.int(i)) }
            return .mismatch("\(n.text) is not a whole number that fits in bigint")
        case (.bigint, .string(let s)):
            if DecimalText.isCanonicalNumber(s), let i = Int64(s) { return .coerced(.int(i)) }
            return .mismatch("the string \(JSONValue.quoted(cap(s))) would not read back the same as a bigint")

        case (.double, .number(let n)):
            if let i = n.int, i.magnitude > 1 << 53 {
                return .mismatch("\(n.text) cannot be held exactly by a double precision column")
            }
            let d = n.double
            guard d.isFinite else { return .mismatch("\(n.text) is out of range for double precision") }
            // 1e-400 reads as 0.0: a number that is not zero must not load as zero.
            if d == 0, let t = DecimalText(n.text), !t.digits.isEmpty {
                return .mismatch("\(n.text) underflows double precision (it would be stored as 0)")
            }
            // An integer literal beyond Int64 fits only if the double holds it exactly.
            if n.int == nil, n.isInteger, DecimalText(n.text) != DecimalText(d.description) {
                return .mismatch("\(n.text) cannot be held exactly by a double precision column")
            }
            return .exact(.double(d))
        case (.double, .string(let s)):
            guard DecimalText.isCanonicalNumber(s), let d = Double(s), d.isFinite,
                let a = DecimalText(s), let b = DecimalText(d.description), a == b
            else { return .mismatch("the string \(JSONValue.quoted(cap(s))) would not read back the same as a double") }
            return .coerced(.double(d))

        case (.numeric, .number(let n)): return .exact(.text(n.text))
        case (.numeric, .string(let s)):
            if DecimalText.isCanonicalNumber(s) { return .coerced(.text(s)) }
            return .mismatch("the string \(JSONValue.quoted(cap(s))) is not a plain decimal number")

        case (.text, .string(let s)): return .exact(.text(s))
        case (.text, .number(let n)): return .coerced(.text(n.text))
        case (.text, .bool(let b)): return .coerced(.text(b ? "true" : "false"))

        case (.timestamptz, .string(let s)):
            if TextShapes.isTimestampTZ(s) { return .exact(.text(s)) }
            return .mismatch("\(JSONValue.quoted(cap(s))) is not an ISO-8601 timestamp with a time zone")
        case (.date, .string(let s)):
            if TextShapes.isDate(s) { return .exact(.text(s)) }
            return .mismatch("\(JSONValue.quoted(cap(s))) is not a YYYY-MM-DD date")
        case (.uuid, .string(let s)):
            if TextShapes.isUUID(s) { return .exact(.text(s.lowercased())) }
            return .mismatch("\(JSONValue.quoted(cap(s))) is not a UUID")

        case (.timestamptz, .number(let n)):
            return .mismatch(
                "\(n.text) is a number but the column holds timestamps; if it is epoch time, a convert_value repair decides the unit"
            )
        default:
            return .mismatch("a JSON \(value.kindName) does not fit a \(type.rawValue) column")
        }
    }

    static func cap(_ s: String) -> String { s.count > 60 ? String(s.prefix(57)) + "..." : s }
}

/// A decimal literal in canonical form (sign, significant digits, exponent), to compare
/// two spellings of the same number: "12.50" and "12.5" are equal, "1e3" and "1000" too.
public struct DecimalText: Equatable, Sendable {
    public let negative: Bool
    public let digits: [UInt8]
    public let exponent: Int

    public init?(_ s: String) {
        var b = Array(s.utf8)
        var neg = false
        if b.first == UInt8(ascii: "-") {
            neg = true
            b.removeFirst()
        }
        var exp = 0
        if let e = b.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard let x = Int(String(decoding: b[(e + 1)...], as: UTF8.self)) else { return nil }
            exp = x
            b = Array(b[..<e])
        }
        var intPart = b
        var frac: [UInt8] = []
        if let dot = b.firstIndex(of: UInt8(ascii: ".")) {
            intPart = Array(b[..<dot])
            frac = Array(b[(dot + 1)...])
        }
        guard !intPart.isEmpty || !frac.isEmpty, (intPart + frac).allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return nil
        }
        var all = intPart + frac
        exp -= frac.count
        while let f = all.first, f == 48 { all.removeFirst() }
        while let l = all.last, l == 48 {
            all.removeLast()
            exp += 1
        }
        if all.isEmpty {
            negative = false
            digits = []
            exponent = 0
        } else {
            negative = neg
            digits = all
            exponent = exp
        }
    }

    /// The value as Int64 when it is whole and in range.
    public var exactInt64: Int64? {
        if digits.isEmpty { return 0 }
        guard exponent >= 0, digits.count + exponent <= 19 else { return nil }
        let text = (negative ? "-" : "") + String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: exponent)
        return Int64(text)
    }

    /// JSON-number grammar, no leading zeros, no '+', no spaces, no inf/nan: a string
    /// that a reader would take for a number and nothing else. `"00042"` is not one.
    public static func isCanonicalNumber(_ s: String) -> Bool {
        let b = Array(s.utf8)
        var i = 0
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count else { return false }
        if b[i] == 48 {
            i += 1
        } else if b[i] >= 49, b[i] <= 57 {
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        } else {
            return false
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            if i == s { return false }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            let s = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            if i == s { return false }
        }
        return i == b.count
    }
}
