public import Foundation

/// Turns an ingest body into NDJSON without re-encoding any record: numbers, key order
/// and escapes reach the pipeline exactly as sent.
public enum NDJSONBody {
    public static func normalize(_ body: Data) throws -> Data {
        let bytes = [UInt8](body)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { throw IngestBodyError.empty }
        switch bytes[first] {
        case UInt8(ascii: "["):
            return try splitArray(bytes, from: first)
        case UInt8(ascii: "{"):
            // One object (perhaps pretty-printed over many lines) or NDJSON.
            let end = try valueEnd(bytes, from: first)
            if bytes[end...].allSatisfy(isSpace) { return Data(oneLine(bytes[first..<end]) + [0x0A]) }
            return body  // NDJSON: a line that is not JSON is quarantined by the pipeline, not rejected
        default:
            throw IngestBodyError.notJSON("it starts with \(describe(bytes[first])), not '{' or '['")
        }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func describe(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "byte 0x%02x", b)
    }

    /// Index just past the JSON value (object or array) that starts at `start`.
    static func valueEnd(_ bytes: [UInt8], from start: Int) throws -> Int {
        var scan = Scanner()
        for i in start..<bytes.count where scan.step(bytes[i]) {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["): scan.depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                scan.depth -= 1
                if scan.depth == 0 { return i + 1 }
            default: break
            }
        }
        throw IngestBodyError.notJSON(
            "the \(bytes[start] == UInt8(ascii: "[") ? "array" : "object") that starts at byte \(start) is not closed")
    }

    /// Top-level elements of an array, one per line. Elements that are not objects are
    /// passed on and quarantined by the pipeline like any record that is not an object.
    static func splitArray(_ bytes: [UInt8], from start: Int) throws -> Data {
        let end = try valueEnd(bytes, from: start)
        guard bytes[end...].allSatisfy(isSpace) else {
            throw IngestBodyError.notJSON("there is more after the closing ']' at byte \(end - 1)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = start + 1
        while i < end - 1 {
            while i < end - 1, isSpace(bytes[i]) { i += 1 }
            if i >= end - 1 { break }
            // An element runs to the next top-level comma.
            var j = i
            var scan = Scanner()
            while j < end - 1 {
                let b = bytes[j]
                if scan.step(b) {
                    if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                        scan.depth += 1
                    } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                        scan.depth -= 1
                    } else if b == UInt8(ascii: ","), scan.depth == 0 {
                        break
                    }
                }
                j += 1
            }
            var element = bytes[i..<j]
            while let last = element.last, isSpace(last) { element = element.dropLast() }
            if element.isEmpty { throw IngestBodyError.notJSON("the array has an empty element before byte \(j)") }
            out += oneLine(element)
            out.append(0x0A)
            i = j + 1
        }
        return Data(out)
    }

    /// A value on one line: newlines outside strings are whitespace and become spaces.
    /// (Inside strings JSON forbids raw newlines, so those are left for the parser to reject.)
    static func oneLine(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var scan = Scanner()
        for b in bytes { out.append(scan.step(b) && (b == 0x0A || b == 0x0D) ? 0x20 : b) }
        return out
    }

    /// Tracks whether a byte of JSON text is inside a string, the one piece of JSON
    /// grammar the three scans above need (the full parse happens later, per record).
    struct Scanner {
        var depth = 0
        private var inString = false
        private var escaped = false

        /// Consumes one byte; true when it is structural (outside any string, quotes excluded).
        mutating func step(_ b: UInt8) -> Bool {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                return false
            }
            if b == UInt8(ascii: "\"") {
                inString = true
                return false
            }
            return true
        }
    }
}
