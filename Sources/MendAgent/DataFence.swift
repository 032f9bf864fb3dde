import Foundation
public import MCP

/// Prompt-injection hygiene. Whatever came from records (values, keys, drift
/// reasons that quote keys) or from tools reaches the model only as JSON inside a
/// `<data>` block: strings capped, arrays and objects cut short, and `<`, `>` and `&`
/// escaped so the data cannot close its own block and speak as Mend.
public enum DataFence {
    public static let maxString = 200
    public static let maxItems = 20
    public static let maxKeys = 60
    public static let maxDepth = 8
    public static let maxBytes = 12_000

    /// The value with every string (and key) capped and collections cut short.
    public static func cap(_ v: Value, items: Int = maxItems, depth: Int = 0) -> Value {
        switch v {
        case .string(let s): return .string(capString(s, maxString))
        case .data(let mime, let d): return .string("<\(d.count) bytes of \(mime ?? "binary") data omitted>")
        case .array(let a):
            if depth >= maxDepth { return .string("<nested array omitted>") }
            var out = a.prefix(items).map { cap($0, items: items, depth: depth + 1) }
            if a.count > items { out.append(.string("<\(a.count - items) more omitted>")) }
            return .array(out)
        case .object(let o):
            if depth >= maxDepth { return .string("<nested object omitted>") }
            var out: [String: Value] = [:]
            for k in o.keys.sorted().prefix(maxKeys) {
                if let value = o[k] { out[capString(k, 100)] = cap(value, items: items, depth: depth + 1) }
            }
            if o.count > maxKeys { out["<omitted>"] = .string("\(o.count - maxKeys) more keys") }
            return .object(out)
        default: return v
        }
    }

    static func capString(_ s: String, _ n: Int) -> String {
        s.count > n ? String(s.prefix(n)) + "…[\(s.count - n) more chars]" : s
    }

    /// JSON text that cannot contain `<`, `>` or `&` outside escapes.
    public static func encode(_ v: Value) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = (try? e.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        // In JSON these characters can only occur inside strings, where \u escapes mean the same.
        return text.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }

    /// A capped, escaped value inside a labelled data block, within `maxBytes`.
    public static func fence(_ label: String, _ v: Value) -> String {
        var text = encode(cap(v))
        if text.utf8.count > maxBytes { text = encode(cap(v, items: 3)) }
        if text.utf8.count > maxBytes {
            text = encode(.object(["truncated": true, "preview": .string(String(text.prefix(maxBytes / 2)))]))
        }
        let safeLabel = label.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" || $0 == "-" }
        return "<data source=\"\(safeLabel)\">\n\(text)\n</data>"
    }

    /// A tool's text contents: JSON stays structured (and capped per value); other text
    /// becomes a capped string. JSON text nested in a string (a parked record kept as
    /// text) is opened too, so each of its values is capped on its own.
    public static func fenceToolOutput(_ tool: String, _ texts: [String]) -> String {
        let values = texts.map { openNested(parse($0) ?? .string($0)) }
        return fence("tool:\(tool)", values.count == 1 ? values[0] : .array(values))
    }

    static func parse(_ text: String) -> Value? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.hasPrefix("{") || t.hasPrefix("[") else { return nil }
        return try? JSONDecoder().decode(Value.self, from: Data(t.utf8))
    }

    static func openNested(_ v: Value, depth: Int = 0) -> Value {
        guard depth < maxDepth else { return v }
        switch v {
        case .string(let s): return parse(s).map { openNested($0, depth: depth + 1) } ?? v
        case .array(let a): return .array(a.map { openNested($0, depth: depth + 1) })
        case .object(let o): return .object(o.mapValues { openNested($0, depth: depth + 1) })
        default: return v
        }
    }
}
