/// A JSON value that keeps what a relational loader must not lose: object key order,
/// the difference between `true` and `1`, and the exact text of every number.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, with its literal text as it appeared in the input (for exact round trips).
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    /// Ordered members; duplicate keys are kept as they came (the last one wins on lookup).
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// A short name of the JSON kind, for messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.isInteger ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON number: its literal text plus the parsed forms that make sense for it.
public struct JSONNumber: Sendable, Equatable {
    public let text: String
    /// Set when the literal is an integer that fits in 64 bits.
    public let int: Int64?

    public init(text: String) {
        self.text = text
        let looksInteger = !text.utf8.contains(where: { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 })
        self.int = looksInteger ? Int64(text) : nil
    }

    public init(text: String, intValue: Int64) {
        self.text = text
        self.int = intValue
    }

    public init(int: Int64) {
        self.text = String(int)
        self.int = int
    }

    public var double: Double { int.map(Double.init) ?? Double(text) ?? .nan }

    /// True for a literal without fraction or exponent (it may still be too big for Int64).
    public var isInteger: Bool { !text.utf8.contains(where: { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }) }
}

extension JSONValue {
    /// Compact JSON text with keys in their original order.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n.text
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    public static func quoted(_ s: String) -> String {
        var out = ""
        writeString(s, to: &out)
        return out
    }
}
