import Foundation
import MCP
import MendCore

/// Encoding helpers shared by tools, resources and prompts.
enum JSON {
    /// Any Encodable as an MCP `Value`, keys in snake_case, dates as ISO 8601 (the SDK's own `Value(_:)`
    /// would write seconds since 2001).
    static func value<T: Encodable>(_ v: T) throws -> Value {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase  // one key style across every answer
        return try JSONDecoder().decode(Value.self, from: try e.encode(v))
    }

    /// Pretty, key-sorted JSON text, the form agents read best and tests can diff.
    static func text(_ v: Value) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: e.encode(v), as: UTF8.self)) ?? "\(v)"
    }

    /// Canonical bytes of tool arguments (sorted keys, no whitespace) for the audit digest,
    /// so the same arguments always hash the same whatever order the client sent.
    static func canonical(_ v: Value) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(v)) ?? Data()
    }

    /// A parked record's text as JSON, or the text itself when it is not JSON.
    static func parse(_ text: String) -> Value {
        (try? JSONDecoder().decode(Value.self, from: Data(text.utf8))) ?? .string(text)
    }

    /// A value read back as text from a column, typed again by the column's logical type.
    static func typed(_ text: String?, _ type: LogicalType?) -> Value {
        guard let text else { return .null }
        switch type {
        case .bigint: return Int(text).map(Value.int) ?? .string(text)
        case .double: return Double(text).map(Value.double) ?? .string(text)
        case .numeric: return exactNumber(text)
        case .boolean:
            switch text.lowercased() {
            case "1", "t", "true": return .bool(true)
            case "0", "f", "false": return .bool(false)
            default: return .string(text)
            }
        case .json: return parse(text)
        default: return .string(text)
        }
    }

    /// A numeric value as a JSON number when an Int or a Double carries it exactly, else
    /// as its exact text: 123456789012345678901234567890 must not come back as 1.2345678901234568e+29.
    static func exactNumber(_ text: String) -> Value {
        if let i = Int(text) { return .int(i) }
        if let d = Double(text), d.isFinite, let t = DecimalText(text), t == DecimalText(d.description) { return .double(d) }
        return .string(text)
    }
}

extension Dictionary where Key == String, Value == MCP.Value {
    /// An integer argument (JSON numbers may arrive as doubles from some clients).
    func int(_ key: String) -> Int? {
        switch self[key] {
        case .int(let i): i
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: Int(d)
        case .string(let s): Int(s)
        default: nil
        }
    }
}
