/// How SQLite would store numeric text, and how Mend stores it instead (D16).
enum NumberText {
    enum Storage: Equatable {
        /// A whole number that fits Int64: bound as INTEGER.
        case integer(Int64)
        /// At most 15 significant digits, in the normal double range: a double holds it
        /// and prints it back (15 digits round-trip through binary64). The double, or nil
        /// when the text must be parsed (an exponent beyond the fast path's).
        case real(Double?)
        /// A number a double would round (more digits, or beyond the double range): its text as a BLOB.
        case exactText
        /// Not a number by SQLite's reading: bound as text, which its affinity leaves alone.
        case notANumber
    }

    /// Whether a declared type gets INTEGER or NUMERIC affinity (SQLite's rules, in their
    /// order), the two that convert well-formed numeric text to a number.
    static func affinityRoundsText(_ declared: String) -> Bool {
        let t = declared.uppercased()
        if t.contains("INT") { return true }
        if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") { return false }
        if t.contains("BLOB") || t.isEmpty { return false }
        if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") { return false }
        return true
    }

    /// One pass over the bytes, no allocation. Accepts what SQLite's affinity accepts:
    /// surrounding spaces, a sign, digits with an optional point, an optional exponent.
    static func storage(_ b: UnsafeBufferPointer<UInt8>) -> Storage {
        func space(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }
        func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        var i = 0
        var end = b.count
        while i < end, space(b[i]) { i += 1 }
        while end > i, space(b[end - 1]) { end -= 1 }
        var negative = false
        if i < end, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        var digits = 0, intDigits = 0, significant = 0, pendingZeros = 0
        var firstSignificant = -1
        var sawPoint = false
        // The integer part, accumulated negatively so that Int64.min fits.
        var whole: Int64 = 0
        var wholeFits = true
        // The significant digits (first to last non-zero), while they fit.
        var mantissa: UInt64 = 0
        var mantissaFits = true
        while i < end {
            let c = b[i]
            if digit(c) {
                let d = c - 0x30
                if !sawPoint {
                    intDigits += 1
                    let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                    let (v, o2) = m.subtractingReportingOverflow(Int64(d))
                    whole = v
                    if o1 || o2 { wholeFits = false }
                }
                if d == 0 {
                    if firstSignificant >= 0 { pendingZeros += 1 }
                } else {
                    if firstSignificant < 0 { firstSignificant = digits }
                    significant += pendingZeros + 1
                    // Only a mantissa of 15 digits or fewer is used; beyond that, stop.
                    if significant <= 15 {
                        for _ in 0..<pendingZeros { mantissa *= 10 }
                        mantissa = mantissa * 10 + UInt64(d)
                    } else {
                        mantissaFits = false
                    }
                    pendingZeros = 0
                }
                digits += 1
            } else if c == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                break
            }
            i += 1
        }
        guard digits > 0 else { return .notANumber }
        var exponent = 0
        var sawExponent = false
        if i < end, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            sawExponent = true
            i += 1
            var expNegative = false
            if i < end, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
                expNegative = b[i] == UInt8(ascii: "-")
                i += 1
            }
            let start = i
            while i < end, digit(b[i]) {
                // Saturated: an exponent this large is outside the double range anyway.
                exponent = min(exponent * 10 + Int(b[i] - 0x30), 1_000_000)
                i += 1
            }
            if i == start { return .notANumber }
            if expNegative { exponent = -exponent }
        }
        guard i == end else { return .notANumber }
        if !sawPoint, !sawExponent, wholeFits {
            if negative { return .integer(whole) }
            return whole == .min ? .exactText : .integer(-whole)
        }
        if firstSignificant < 0 { return .real(negative ? -0.0 : 0) }  // zero, however spelled
        // Decimal exponent of the first significant digit (1.5e3 -> 3, 0.01 -> -2).
        let leading = intDigits - 1 - firstSignificant + exponent
        guard mantissaFits, significant <= 15, leading >= -307, leading <= 307 else { return .exactText }
        // value = mantissa × 10^scale. Both are exact doubles when |scale| <= 22, so one
        // IEEE multiply or divide is correctly rounded (Clinger's fast path).
        let scale = leading - (significant - 1)
        let m = Double(mantissa)
        guard scale.magnitude <= 22 else { return .real(nil) }
        let p = powersOfTen[Int(scale.magnitude)]
        let d = scale >= 0 ? m * p : m / p
        return .real(negative ? -d : d)
    }

    /// 10^0 ... 10^22, each exact in binary64.
    private static let powersOfTen: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { a, _ in a * 10 } }

    /// SQL giving a column's value as exact text: a REAL as the shortest of 15, 16 or 17
    /// significant digits that reads back as the same double, a BLOB as its bytes' text,
    /// anything else as it is (a TEXT column's affinity turns an INTEGER into its digits).
    static func exactTextExpression(_ c: String) -> String {
        func g(_ n: Int) -> String { "printf('%!.\(n)g', \(c))" }
        let real =
            "CASE WHEN CAST(\(g(15)) AS REAL) = \(c) THEN \(g(15)) WHEN CAST(\(g(16)) AS REAL) = \(c) THEN \(g(16)) ELSE \(g(17)) END"
        return "CASE typeof(\(c)) WHEN 'real' THEN \(real) WHEN 'blob' THEN CAST(\(c) AS TEXT) ELSE \(c) END"
    }
}
