import Foundation
import MendCore
import Testing

@Suite struct IdentifierTests {
    @Test(arguments: [
        ("userId", "user_id"), ("UserId", "user_id"), ("user_id", "user_id"), ("HTTPStatus", "http_status"),
        ("getHTTPResponseCode", "get_http_response_code"), ("userID", "user_id"), ("ID", "id"), ("Order ID", "order_id"),
        ("order-id", "order_id"), ("order.id", "order_id"), ("  padded  ", "padded"), ("a__b", "a_b"), ("a  b", "a_b"),
        ("price$", "price"), ("%rate", "rate"), ("x int; DROP TABLE events; --", "x_int_drop_table_events"),
        ("x int; DROP TABLE t; --", "x_int_drop_table_t"), ("1st", "_1st"), ("2024", "_2024"), ("9lives", "_9lives"),
        ("v2Name", "v2_name"), ("already_snake_case", "already_snake_case"), ("ALLCAPS", "allcaps"), ("__private", "private"),
        ("Café", "café"), ("straße", "straße"), ("Ünïcode Key", "ünïcode_key"), ("名前", "名前"), ("ÀB", "àb"),
        (#"a"b"#, "a_b"), ("tab\there", "tab_here"), ("line\nbreak", "line_break"),
    ])
    func normalizes(_ key: String, _ expected: String) {
        #expect(Identifier.normalize(key) == expected)
    }

    @Test(arguments: ["", "!!!", "___", "  ", "-", "😀", "$%^&*()"])
    func nothingToNameBecomesUnderscore(_ key: String) {
        #expect(Identifier.normalize(key) == "_")
        #expect(!Identifier.hasLetterOrDigit(key))
    }

    @Test func hasLetterOrDigit() {
        #expect(Identifier.hasLetterOrDigit("a"))
        #expect(Identifier.hasLetterOrDigit("_1"))
        #expect(Identifier.hasLetterOrDigit("é"))
        #expect(!Identifier.hasLetterOrDigit("_-_"))
    }

    @Test func hostileKeysBecomeHarmlessWellFormedNames() {
        let hostile = [
            "x int; DROP TABLE events; --", #"a"; DROP TABLE x; --"#, "a') OR 1=1 --", "/* c */ name", "`backtick`",
            "name\u{0}with nul", "$1", "\"quoted\"", "a.b.c", "SELECT * FROM pg_user",
        ]
        for key in hostile {
            let n = Identifier.normalize(key)
            #expect(Identifier.isWellFormed(n), "\(key) → \(n)")
            #expect(!n.contains(";") && !n.contains("\"") && !n.contains(" ") && !n.contains("-"), "\(key) → \(n)")
        }
    }

    @Test func normalizeIsIdempotent() {
        let keys = [
            "userId", "HTTPStatus", "Order ID", "x int; DROP TABLE events; --", "1st", "", "!!!", "Café",
            String(repeating: "a", count: 100), String(repeating: "é", count: 50), "a__b", "v2Name",
        ]
        for key in keys {
            let once = Identifier.normalize(key)
            #expect(Identifier.normalize(once) == once, "\(key) → \(once)")
        }
    }

    /// Found by fuzz-flatten (Tests/Fuzz/crashes/fuzz-flatten/): names Mend wrote that its
    /// own isWellFormed refused, so such records parked with a plan that could never apply.
    @Test(arguments: [
        ("ℂ", "c"), ("𝐀bc", "abc"), ("a_ℋ_r", "a_h_r"), ("a\u{7f}\u{345}", "a"), ("b\u{1}\u{345}x", "b_x"),
    ])
    func fuzzFindingsNormalizeToWellFormedNames(_ key: String, _ expected: String) {
        let n = Identifier.normalize(key)
        #expect(n == expected, "\(key.unicodeScalars.map { String($0.value, radix: 16) }) → \(n)")
        #expect(Identifier.isWellFormed(n))
    }

    @Test func aLoneCombiningMarkIsNotALetterOfAName() {
        #expect(!Identifier.hasLetterOrDigit("\u{345}"))
        #expect(!Identifier.hasLetterOrDigit("\u{7f}\u{345}"))
        #expect(Identifier.hasLetterOrDigit("e\u{301}"))
    }

    @Test func normalizedNamesAreWellFormed() {
        for key in ["userId", "1st", "Café", String(repeating: "Ab", count: 60), "名前", "x y z"] {
            #expect(Identifier.isWellFormed(Identifier.normalize(key)), "\(key)")
        }
    }

    // MARK: long names

    @Test func longKeysAreShortenedDeterministically() {
        let long = String(repeating: "very_long_field_name_", count: 5)  // 105 bytes
        let a = Identifier.normalize(long)
        #expect(a.utf8.count <= Identifier.maxBytes)
        #expect(a == Identifier.normalize(long))
        #expect(Identifier.isWellFormed(a))
        #expect(a.hasPrefix("very_long_field_name_very_long"))
        // The hash suffix is the FNV-1a of the full normalized name.
        let full = String(long.dropLast())
        #expect(a.hasSuffix("_" + Identifier.fnv1a32Hex(full)))
    }

    @Test func longKeysSharingAPrefixStayDistinct() {
        let prefix = String(repeating: "x", count: 70)
        let names = (0..<50).map { Identifier.normalize(prefix + "_field_\($0)") }
        #expect(Set(names).count == names.count)
        for n in names { #expect(n.utf8.count <= Identifier.maxBytes) }
        // Names that differ only after byte 63 too.
        #expect(Identifier.normalize(prefix + "a") != Identifier.normalize(prefix + "b"))
    }

    @Test func exactly63BytesIsKept64IsShortened() {
        let n63 = String(repeating: "a", count: 63)
        let n64 = String(repeating: "a", count: 64)
        #expect(Identifier.normalize(n63) == n63)
        #expect(Identifier.shorten(n63) == n63)
        let s = Identifier.normalize(n64)
        #expect(s != n64)
        #expect(s.utf8.count == 63)
    }

    @Test func shorteningNeverSplitsACharacter() {
        let long = String(repeating: "é", count: 40)  // 80 bytes
        let s = Identifier.normalize(long)
        #expect(s.utf8.count <= Identifier.maxBytes)
        #expect(s.hasPrefix("éé"))
        #expect(s.unicodeScalars.allSatisfy { $0 == "é" || $0 == "_" || $0.properties.isASCIIHexDigit })
        #expect(Identifier.isWellFormed(s))
        let cjk = Identifier.normalize(String(repeating: "名", count: 30))  // 90 bytes
        #expect(cjk.utf8.count <= Identifier.maxBytes)
        #expect(Identifier.isWellFormed(cjk))
    }

    @Test func fnvIsStableAndPadded() {
        // Published FNV-1a 32-bit test vectors.
        #expect(Identifier.fnv1a32Hex("") == "811c9dc5")
        #expect(Identifier.fnv1a32Hex("a") == "e40c292c")
        #expect(Identifier.fnv1a32Hex("foobar") == "bf9cf968")
        for s in ["", "a", "abc", "x"] { #expect(Identifier.fnv1a32Hex(s).count == 8) }
    }

    // MARK: quoting

    @Test func quoteDoublesQuotes() {
        #expect(Identifier.quote("events") == #""events""#)
        #expect(Identifier.quote(#"a"b"#) == #""a""b""#)
        #expect(Identifier.quote(#"""#) == #""""""#)
        #expect(Identifier.quote(#"x"; DROP TABLE events; --"#) == #""x""; DROP TABLE events; --""#)
        #expect(Identifier.quote("") == #""""#)
        #expect(Identifier.quote("a\u{0}b") == #""ab""#)
        #expect(Identifier.quote("Café") == #""Café""#)
    }

    @Test func quotedIdentifierIsOneToken() {
        // Whatever the name, the quoted form starts and ends with a quote, and every
        // quote inside is doubled, so a reader sees exactly one identifier.
        for name in [#"a"b"#, #""""#, #"" OR ""="#, "x\"; --", #"\""#] {
            let q = Identifier.quote(name)
            #expect(q.first == "\"" && q.last == "\"")
            let inner = q.dropFirst().dropLast()
            #expect(inner.replacingOccurrences(of: "\"\"", with: "").contains("\"") == false, "\(q)")
            #expect(inner.replacingOccurrences(of: "\"\"", with: "\"") == name)
        }
    }

    @Test func qualified() {
        #expect(Identifier.qualified("public", "events") == #""public"."events""#)
        #expect(Identifier.qualified(nil, "events") == #""events""#)
        #expect(Identifier.qualified(#"s"x"#, #"t"y"#) == #""s""x"."t""y""#)
    }

    // MARK: well-formedness

    @Test func isWellFormed() {
        for good in ["a", "_", "_x", "a1", "user_id", "a__b", String(repeating: "a", count: 63), "café", "ü", "名前"] {
            #expect(Identifier.isWellFormed(good), "\(good)")
        }
        for bad in [
            "", "A", "userId", "1a", "9", "a-b", "a b", "x;drop", "x;DROP TABLE t", #"a"b"#, "a.b", "é\u{0}",
            String(repeating: "a", count: 64), String(repeating: "é", count: 32), "É",
        ] {
            #expect(!Identifier.isWellFormed(bad), "\(bad)")
        }
    }

    @Test func validateUserName() {
        #expect(Identifier.validateUserName("events") == nil)
        #expect(Identifier.validateUserName("events_2026") == nil)
        #expect(Identifier.validateUserName("_private") == nil)
        #expect(Identifier.validateUserName("")?.contains("empty") == true)
        let bad = Identifier.validateUserName("Bad-Name")
        #expect(bad != nil)
        #expect(bad?.contains("bad_name") == true, "suggests the normalized spelling: \(bad ?? "")")
        #expect(Identifier.validateUserName("1events") != nil)
        #expect(Identifier.validateUserName("events; DROP TABLE x") != nil)
        #expect(Identifier.validateUserName(String(repeating: "a", count: 64))?.contains("63") == true)
        #expect(Identifier.validateUserName("_mend_audit")?.contains("reserved") == true)
        #expect(Identifier.validateUserName("_mend")?.contains("reserved") == true)
    }
}
