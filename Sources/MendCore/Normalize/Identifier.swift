import Foundation

/// SQL identifiers: how source keys become column names, and the one function that
/// quotes an identifier for SQL text.
public enum Identifier {
    /// PostgreSQL truncates identifiers at 63 bytes (NAMEDATALEN - 1); Mend never
    /// relies on that silent truncation and shortens names itself, deterministically.
    public static let maxBytes = 63

    /// Quotes an identifier for SQL. Every identifier Mend writes into SQL text goes
    /// through here (invariant 4): doubling `"` makes any string a single identifier.
    /// NUL cannot appear in a PostgreSQL identifier, so it is refused by the caller
    /// (`validate`) before this point; here it is dropped as a last line of defence.
    public static func quote(_ name: String) -> String {
        var out = "\""
        for scalar in name.unicodeScalars where scalar != "\0" {
            if scalar == "\"" { out += "\"\"" } else { out.unicodeScalars.append(scalar) }
        }
        out += "\""
        return out
    }

    /// Quotes `schema.name`, or just `name` when schema is nil.
    public static func qualified(_ schema: String?, _ name: String) -> String {
        guard let schema else { return quote(name) }
        return quote(schema) + "." + quote(name)
    }

    /// The Unicode NFC form of a name: "café" typed as e + U+0301 and as é is one table,
    /// one column. ASCII (the common case) is returned as it is, without the Foundation call.
    public static func canonical(_ name: String) -> String {
        if name.utf8.allSatisfy({ $0 < 0x80 }) { return name }
        return name.precomposedStringWithCanonicalMapping
    }

    /// Why a name given by a user (a table name) is not acceptable, or nil if it is.
    public static func validateUserName(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        if name.utf8.count > maxBytes { return "the name is longer than \(maxBytes) bytes" }
        if !isWellFormed(name) {
            return "use lowercase letters, digits and underscores, starting with a letter or underscore (for example '\(normalize(name))')"
        }
        if name.hasPrefix("_mend") { return "names starting with _mend are reserved for Mend's own state" }
        return nil
    }

    /// Turns a source key into a snake_case SQL identifier:
    /// `userId` → `user_id`, `HTTPStatus` → `http_status`, `Order ID` → `order_id`,
    /// `x int; DROP TABLE t; --` → `x_int_drop_table_t`. Letters outside ASCII are kept
    /// (PostgreSQL accepts them), lowercased. A name that would start with a digit gets
    /// a leading underscore. An empty result becomes `_` (see `hasLetterOrDigit`).
    public static func normalize(_ raw: String) -> String {
        let key = canonical(raw)
        var out = ""
        out.reserveCapacity(key.utf8.count + 4)
        var previous: Character? = nil
        let chars = Array(key)
        for (i, c) in chars.enumerated() {
            if c.isLetter || c.isNumber, let piece = lowercasePiece(c, afterSeparator: out.isEmpty || out.last == "_") {
                if c.isUppercase, let p = previous {
                    // Split camelCase (`userId`) and acronyms followed by a word (`HTTPStatus`).
                    let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                    if p.isLowercase || p.isNumber || (p.isUppercase && nextIsLower) {
                        if out.last != "_" { out.append("_") }
                    }
                }
                out += piece
                previous = c
            } else {
                if !out.isEmpty, out.last != "_" { out.append("_") }
                previous = nil
            }
        }
        while out.last == "_" { out.removeLast() }
        if out.isEmpty { return "_" }
        if let first = out.first, first.isNumber { out = "_" + out }
        return shorten(out)
    }

    /// A letter or digit as it goes into a name, or nil when it cannot (it then separates):
    /// - a capital with no lowercase form (`ℂ`, `𝐀`, found by fuzzing) takes its
    ///   compatibility form's (`c`, `a`);
    /// - a combining mark standing alone (after a control character) would merge with the
    ///   `_` before it into one character that is neither: it is dropped.
    static func lowercasePiece(_ c: Character, afterSeparator: Bool) -> String? {
        var piece = c.lowercased()
        if c.isASCII { return piece }
        if piece.contains(where: \.isUppercase) {
            piece = String(c).precomposedStringWithCompatibilityMapping.lowercased()
        }
        if afterSeparator {
            let scalars = piece.unicodeScalars.drop { isMark($0) }
            piece = String(String.UnicodeScalarView(scalars))
        }
        guard !piece.isEmpty, piece.allSatisfy({ ($0.isLetter || $0.isNumber) && !$0.isUppercase }) else { return nil }
        return piece
    }

    static func isMark(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: false
        }
    }

    /// Whether a key carries anything to name a column after. A key of only symbols
    /// (`"!!!"`, `""`) would become `_`: such a record is parked as `invalid_identifier`.
    public static func hasLetterOrDigit(_ key: String) -> Bool {
        // What normalize keeps: a lone combining mark is a letter to Swift but not to a name.
        key.contains(where: { ($0.isLetter || $0.isNumber) && ($0.isASCII || lowercasePiece($0, afterSeparator: true) != nil) })
    }

    /// Whether a name has the shape Mend writes: lowercase letters, digits and
    /// underscores, not starting with a digit, at most 63 bytes. Used to vet column
    /// names that arrive in a plan from outside (an LLM, an MCP client).
    public static func isWellFormed(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxBytes, let first = name.first, !first.isNumber else { return false }
        return name.allSatisfy { $0 == "_" || (($0.isLetter || $0.isNumber) && !$0.isUppercase) }
    }

    /// Shortens a name to `maxBytes` with a stable hash suffix, so that two long keys
    /// sharing a prefix stay distinct and the same key always maps to the same name.
    public static func shorten(_ name: String) -> String {
        guard name.utf8.count > maxBytes else { return name }
        let suffix = "_" + fnv1a32Hex(name)
        var prefix = ""
        for c in name {
            if prefix.utf8.count + String(c).utf8.count + suffix.utf8.count > maxBytes { break }
            prefix.append(c)
        }
        return prefix + suffix
    }

    /// 32-bit FNV-1a as 8 hex digits: stable across runs and platforms (Swift's
    /// `hashValue` is seeded per process, so it cannot name anything durable).
    public static func fnv1a32Hex(_ s: String) -> String {
        var h: UInt32 = 0x811C_9DC5
        for b in s.utf8 {
            h ^= UInt32(b)
            h = h &* 0x0100_0193
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
