/// Why a line is not JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset + 1)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Hand-written rather than Foundation's JSONSerialization because the loader needs
/// what that one loses on Linux (booleans come back as NSNumber and are
/// indistinguishable from 0/1, number literals lose their exact text) and because it
/// runs once per input record on the hot path.
public struct JSONParser {
    public static let maxDepth = 64

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(bytes: bytes)
        p.skipWhitespace()
        let value = try p.parseValue(depth: 0)
        p.skipWhitespace()
        if p.pos != bytes.count {
            throw p.error("unexpected trailing characters")
        }
        return value
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var copy = text
        let result: Result<JSONValue, JSONParseError> = copy.withUTF8 { buf in
            do throws(JSONParseError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // Internal, not private: the shape fast path (RecordShape.swift) reads with the same primitives.
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: pos) }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard pos < bytes.count else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[pos])))'")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard pos + count <= bytes.count else { throw error("unexpected end of input") }
        let w = word.utf8Start
        for i in 0..<count where bytes[pos + i] != w[i] {
            throw error("invalid literal")
        }
        pos += count
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1
        var members: [(key: String, value: JSONValue)] = []
        // Records are objects of a dozen-odd fields: one allocation instead of four regrowths.
        if depth == 1 { members.reserveCapacity(16) }
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append((key, value))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input in object") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
            } else if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}' in object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input in array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
            } else if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(items)
            } else {
                throw error("expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = pos
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw error("invalid number") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else if isDigit(bytes[pos]) {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        } else {
            throw error("invalid number")
        }
        var isInteger = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: digit expected after '.'") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: digit expected in exponent") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<pos])
        let text = String(decoding: slice, as: UTF8.self)
        if isInteger, pos - start <= 18 {
            // Fast path: short integers fit in Int64 without overflow checks.
            var v: Int64 = 0
            var i = 0
            var negative = false
            if slice[0] == UInt8(ascii: "-") {
                negative = true
                i = 1
            }
            while i < slice.count {
                v = v * 10 + Int64(slice[i] &- 48)
                i += 1
            }
            return JSONNumber(text: text, intValue: negative ? -v : v)
        }
        return JSONNumber(text: text)
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// A string's bytes as text, validated, never repaired: invalid UTF-8 must not load as
    /// U+FFFD without a word. ASCII (nearly every string) takes `String(decoding:)`, whose
    /// fast path is several times cheaper than the general validating initializer.
    @inline(__always) private func text(_ b: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> String {
        var ascii = true
        for x in b where x >= 0x80 {
            ascii = false
            break
        }
        if ascii { return String(decoding: b, as: UTF8.self) }
        guard let s = String(validating: b, as: UTF8.self) else {
            throw error("invalid UTF-8 in a string")
        }
        return s
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        pos += 1
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = try text(UnsafeBufferPointer(rebasing: bytes[start..<pos]))
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in string") }
            pos += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                let decoded = out.withUnsafeBufferPointer { b in Result { () throws(JSONParseError) in try text(b) } }
                return try decoded.get()
            }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    // A high surrogate must be followed by a low one.
                    guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate in \\u escape") }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw error("unpaired surrogate in \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case 48...57: d = UInt32(b - 48)
            case 65...70: d = UInt32(b - 55)
            case 97...102: d = UInt32(b - 87)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }
}
