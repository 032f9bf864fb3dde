import Foundation

/// A decoded libpg_query JSON parse tree.
///
/// The tree is walked generically (rules only need a handful of fields), so a small
/// Sendable JSON enum beats mirroring PostgreSQL's hundreds of node structs.
indirect enum PgJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([PgJSON])
    case object([String: PgJSON])

    /// Parses with JSONSerialization (much faster than a Decodable enum that probes every type).
    static func parse(_ data: Data) throws -> PgJSON {
        try PgJSON(any: JSONSerialization.jsonObject(with: data))
    }

    private init(any: Any) {
        switch any {
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.map(PgJSON.init(any:)))
        case let o as [String: Any]: self = .object(o.mapValues(PgJSON.init(any:)))
        // JSON booleans may come back as NSNumber (0/1); `bool` reads either form.
        case let n as NSNumber: self = .number(n.doubleValue)
        case let b as Bool: self = .bool(b)
        default: self = .null
        }
    }

    subscript(key: String) -> PgJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var int: Int? {
        if case .number(let d) = self, d.rounded() == d, abs(d) < 1e15 { return Int(d) }
        return nil
    }

    var bool: Bool {
        switch self {
        case .bool(let b): b
        case .number(let d): d != 0
        default: false
        }
    }

    /// Array elements; libpg_query omits empty lists, so a missing field reads as [].
    var array: [PgJSON] {
        if case .array(let a) = self { return a }
        return []
    }

    /// A parse-tree node is an object with exactly one key, the node type (e.g. "AlterTableStmt").
    var node: (type: String, fields: PgJSON)? {
        guard case .object(let o) = self, o.count == 1, let (k, v) = o.first,
            let first = k.unicodeScalars.first, CharacterSet.uppercaseLetters.contains(first)
        else { return nil }
        return (k, v)
    }

    /// `{"String": {"sval": "x"}}` list items (names, column lists) as Swift strings.
    var stringList: [String] {
        array.compactMap { $0.node?.type == "String" ? ($0.node?.fields["sval"]?.string ?? "") : nil }
    }

    /// Every node in this subtree (self included), depth first.
    func allNodes() -> [(type: String, fields: PgJSON)] {
        var out: [(type: String, fields: PgJSON)] = []
        collect(into: &out)
        return out
    }

    private func collect(into out: inout [(type: String, fields: PgJSON)]) {
        if let n = node { out.append(n) }
        switch self {
        case .array(let a): for v in a { v.collect(into: &out) }
        case .object(let o): for v in o.values { v.collect(into: &out) }
        default: break
        }
    }
}
