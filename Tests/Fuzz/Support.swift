// Shared by the libFuzzer entry points in this folder (scripts/fuzz.sh builds them).
// Not part of the SwiftPM package: Tests/Fuzz is not a target.
//
// `Reference` is an independent, deliberately plain RFC 8259 recognizer written for the
// fuzzer (it shares no code with MendCore's JSONParser). It answers two questions about
// an input: is it JSON Mend should accept (whole input valid UTF-8, the RFC grammar, no
// unpaired surrogate escapes, nesting at most JSONParser.maxDepth), and if so, what is
// its compact text in the form `JSONValue.jsonText` writes. The fuzzers compare Mend's
// answer with it byte for byte.

import MendCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Stops the run with a message; libFuzzer then saves the input as crash-<sha1>.
func fuzzFail(_ message: @autoclosure () -> String, input: UnsafeBufferPointer<UInt8>) -> Never {
    let shown = input.prefix(200).map { b -> String in
        (0x20..<0x7F).contains(b) && b != 0x5C ? String(UnicodeScalar(b)) : "\\x" + hex2(b)
    }.joined()
    var text = "\nFUZZ PROPERTY VIOLATED: \(message())\ninput (\(input.count) bytes): \(shown)\n"
    text.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
    abort()
}

func hex2(_ b: UInt8) -> String {
    let h = String(b, radix: 16)
    return h.count == 1 ? "0" + h : h
}

/// Bytes of a string, for comparisons that must not go through Swift's String ==
/// (which is canonical equivalence: "é" == "e\u{301}").
@inline(__always) func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// UTF-8 validity per RFC 3629 (no overlongs, no surrogates, nothing past U+10FFFF),
/// written out rather than taken from the standard library so the oracle is independent.
func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
    var i = 0
    let n = b.count
    func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { k < n && b[k] >= lo && b[k] <= hi }
    while i < n {
        let c = b[i]
        switch c {
        case 0x00...0x7F: i += 1
        case 0xC2...0xDF:
            guard cont(i + 1) else { return false }
            i += 2
        case 0xE0:
            guard cont(i + 1, 0xA0, 0xBF), cont(i + 2) else { return false }
            i += 3
        case 0xE1...0xEC, 0xEE...0xEF:
            guard cont(i + 1), cont(i + 2) else { return false }
            i += 3
        case 0xED:
            guard cont(i + 1, 0x80, 0x9F), cont(i + 2) else { return false }
            i += 3
        case 0xF0:
            guard cont(i + 1, 0x90, 0xBF), cont(i + 2), cont(i + 3) else { return false }
            i += 4
        case 0xF1...0xF3:
            guard cont(i + 1), cont(i + 2), cont(i + 3) else { return false }
            i += 4
        case 0xF4:
            guard cont(i + 1, 0x80, 0x8F), cont(i + 2), cont(i + 3) else { return false }
            i += 4
        default: return false
        }
    }
    return true
}

struct Reference {
    struct Invalid: Error {}

    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    var out: [UInt8] = []
    var maxDepthSeen = 0

    /// The canonical compact text of `bytes`, or nil when Mend must refuse it.
    static func canonical(_ bytes: UnsafeBufferPointer<UInt8>) -> (text: [UInt8], depth: Int)? {
        guard isValidUTF8(bytes) else { return nil }
        var r = Reference(b: bytes)
        do {
            r.ws()
            try r.value(depth: 0)
            r.ws()
            guard r.i == bytes.count else { return nil }
        } catch {
            return nil
        }
        return (r.out, r.maxDepthSeen)
    }

    func peek() -> UInt8? { i < b.count ? b[i] : nil }

    mutating func ws() {
        while let c = peek(), c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    mutating func expect(_ c: UInt8) throws(Invalid) {
        guard peek() == c else { throw Invalid() }
        i += 1
    }

    mutating func value(depth: Int) throws(Invalid) {
        guard let c = peek() else { throw Invalid() }
        switch c {
        case 0x7B:  // {
            let d = depth + 1
            guard d <= JSONParser.maxDepth else { throw Invalid() }
            maxDepthSeen = max(maxDepthSeen, d)
            i += 1
            out.append(0x7B)
            ws()
            if peek() == 0x7D {
                i += 1
                out.append(0x7D)
                return
            }
            var first = true
            while true {
                ws()
                if !first { out.append(0x2C) }
                first = false
                guard peek() == 0x22 else { throw Invalid() }
                try string()
                ws()
                try expect(0x3A)
                out.append(0x3A)
                ws()
                try value(depth: d)
                ws()
                guard let e = peek() else { throw Invalid() }
                i += 1
                if e == 0x2C { continue }
                if e == 0x7D {
                    out.append(0x7D)
                    return
                }
                throw Invalid()
            }
        case 0x5B:  // [
            let d = depth + 1
            guard d <= JSONParser.maxDepth else { throw Invalid() }
            maxDepthSeen = max(maxDepthSeen, d)
            i += 1
            out.append(0x5B)
            ws()
            if peek() == 0x5D {
                i += 1
                out.append(0x5D)
                return
            }
            var first = true
            while true {
                ws()
                if !first { out.append(0x2C) }
                first = false
                try value(depth: d)
                ws()
                guard let e = peek() else { throw Invalid() }
                i += 1
                if e == 0x2C { continue }
                if e == 0x5D {
                    out.append(0x5D)
                    return
                }
                throw Invalid()
            }
        case 0x22: try string()
        case 0x74: try word("true")
        case 0x66: try word("false")
        case 0x6E: try word("null")
        case 0x2D, 0x30...0x39: try number()
        default: throw Invalid()
        }
    }

    mutating func word(_ w: String) throws(Invalid) {
        for c in w.utf8 { try expect(c) }
        out.append(contentsOf: w.utf8)
    }

    func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }

    /// number = [ minus ] int [ frac ] [ exp ]; copied as written.
    mutating func number() throws(Invalid) {
        let start = i
        if peek() == 0x2D { i += 1 }
        if peek() == 0x30 {
            i += 1
        } else if let c = peek(), c >= 0x31 && c <= 0x39 {
            while isDigit(peek()) { i += 1 }
        } else {
            throw Invalid()
        }
        if peek() == 0x2E {
            i += 1
            guard isDigit(peek()) else { throw Invalid() }
            while isDigit(peek()) { i += 1 }
        }
        if peek() == 0x65 || peek() == 0x45 {
            i += 1
            if peek() == 0x2B || peek() == 0x2D { i += 1 }
            guard isDigit(peek()) else { throw Invalid() }
            while isDigit(peek()) { i += 1 }
        }
        out.append(contentsOf: b[start..<i])
    }

    mutating func hex4() throws(Invalid) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek() else { throw Invalid() }
            let d: UInt32
            if c >= 0x30 && c <= 0x39 {
                d = UInt32(c - 0x30)
            } else if c >= 0x41 && c <= 0x46 {
                d = UInt32(c - 0x41 + 10)
            } else if c >= 0x61 && c <= 0x66 {
                d = UInt32(c - 0x61 + 10)
            } else {
                throw Invalid()
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Decodes a string and writes it back the way JSONValue.writeString does:
    /// `"` `\` `\n` `\r` `\t` escaped by name, other C0 controls as \u00xx (lowercase
    /// hex), everything else as raw UTF-8.
    mutating func string() throws(Invalid) {
        try expect(0x22)
        out.append(0x22)
        while true {
            guard let c = peek() else { throw Invalid() }
            if c == 0x22 {
                i += 1
                out.append(0x22)
                return
            }
            if c < 0x20 { throw Invalid() }
            if c != 0x5C {
                // Raw byte of a (whole-input validated) UTF-8 sequence.
                i += 1
                out.append(c)
                continue
            }
            i += 1
            guard let e = peek() else { throw Invalid() }
            i += 1
            switch e {
            case 0x22: emit(0x22)
            case 0x5C: emit(0x5C)
            case 0x2F: emit(0x2F)
            case 0x62: emit(0x08)
            case 0x66: emit(0x0C)
            case 0x6E: emit(0x0A)
            case 0x72: emit(0x0D)
            case 0x74: emit(0x09)
            case 0x75:
                let u = try hex4()
                if u >= 0xD800 && u <= 0xDBFF {
                    try expect(0x5C)
                    try expect(0x75)
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo <= 0xDFFF else { throw Invalid() }
                    emit(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                } else if u >= 0xDC00 && u <= 0xDFFF {
                    throw Invalid()
                } else {
                    emit(u)
                }
            default: throw Invalid()
            }
        }
    }

    /// One decoded scalar, in writeString's form.
    mutating func emit(_ s: UInt32) {
        switch s {
        case 0x22: out += [0x5C, 0x22]
        case 0x5C: out += [0x5C, 0x5C]
        case 0x0A: out += [0x5C, 0x6E]
        case 0x0D: out += [0x5C, 0x72]
        case 0x09: out += [0x5C, 0x74]
        case 0..<0x20:
            out += Array("\\u00".utf8) + Array(hex2(UInt8(s)).utf8)
        case 0..<0x80: out.append(UInt8(s))
        case 0..<0x800:
            out += [UInt8(0xC0 | s >> 6), UInt8(0x80 | s & 0x3F)]
        case 0..<0x10000:
            out += [UInt8(0xE0 | s >> 12), UInt8(0x80 | s >> 6 & 0x3F), UInt8(0x80 | s & 0x3F)]
        default:
            out += [
                UInt8(0xF0 | s >> 18), UInt8(0x80 | s >> 12 & 0x3F), UInt8(0x80 | s >> 6 & 0x3F), UInt8(0x80 | s & 0x3F),
            ]
        }
    }
}

/// Nesting depth of a parsed value: a scalar is 0, `[]` and `{}` are 1.
func depth(_ v: JSONValue) -> Int {
    switch v {
    case .array(let items): 1 + (items.map(depth).max() ?? 0)
    case .object(let members): 1 + (members.map { depth($0.value) }.max() ?? 0)
    default: 0
    }
}
