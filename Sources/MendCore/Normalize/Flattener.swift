/// One field of a record after flattening: the column it targets, the key path it came
/// from (kept for messages and for the column's remembered source key), and its value.
public struct FlatField: Sendable, Equatable {
    public var column: String
    public var sourceKey: String
    public var value: JSONValue
    /// False when the key had nothing to name a column after (parked as invalid_identifier).
    public var validName: Bool
    /// An object nested deeper than the policy's overflow depth: it belongs in the overflow
    /// column (Overflow.swift), not in a column of its own.
    public var deep: Bool

    public init(column: String, sourceKey: String, value: JSONValue, validName: Bool = true, deep: Bool = false) {
        self.column = column
        self.sourceKey = sourceKey
        self.value = value
        self.validName = validName
        self.deep = deep
    }
}

/// Flattens nested objects into `parent__child` columns and normalizes keys.
/// Arrays (and objects nested deeper than `maxDepth`) stay whole, as JSON values.
public struct Flattener: Sendable {
    public static let separator = "__"
    public var maxDepth: Int
    /// True when `maxDepth` comes from the policy's `overflow_depth`: the objects it stops at
    /// are marked `deep` and go to the overflow column.
    public var deepToOverflow: Bool
    /// key → (normalized name, has a letter or digit). Keys repeat across records and
    /// both answers cost Unicode property lookups, so they are computed once per key.
    private var cache: [String: (name: String, valid: Bool)] = [:]
    /// The column sequence of the previous record and whether it needed collision
    /// handling: records of one source mostly share their shape, so the check is skipped.
    private var lastShape: [String] = []
    private var lastShapeClashed = true

    public init(maxDepth: Int = 4) {
        self.maxDepth = maxDepth
        deepToOverflow = false
    }

    /// The policy's `overflow_depth` (nil: objects deeper than 4 levels stay whole in a json column).
    public init(overflowDepth: Int?) {
        maxDepth = overflowDepth ?? 4
        deepToOverflow = overflowDepth != nil
    }

    /// Normalizes with a cache: keys repeat across records, normalization is not free.
    public mutating func normalize(_ key: String) -> String { lookup(key).name }

    private mutating func lookup(_ key: String) -> (name: String, valid: Bool) {
        if let hit = cache[key] { return hit }
        let entry = (name: Identifier.normalize(key), valid: Identifier.hasLetterOrDigit(key))
        if cache.count < 100_000 { cache[key] = entry }
        return entry
    }

    public mutating func flatten(_ record: [(key: String, value: JSONValue)]) -> [FlatField] {
        var out: [FlatField] = []
        out.reserveCapacity(record.count)
        append(record, prefix: nil, sourcePrefix: nil, depth: 1, into: &out)
        if out.count == lastShape.count, !lastShapeClashed {
            var same = true
            for i in out.indices where out[i].column != lastShape[i] {
                same = false
                break
            }
            if same { return out }
        }
        let resolved = Flattener.resolveCollisions(out)
        lastShape = out.map(\.column)
        lastShapeClashed = resolved != out
        return resolved
    }

    private mutating func append(
        _ members: [(key: String, value: JSONValue)], prefix: String?, sourcePrefix: String?, depth: Int,
        into out: inout [FlatField]
    ) {
        for (key, value) in members {
            let (part, valid) = lookup(key)
            let column = prefix.map { $0 + Flattener.separator + part } ?? part
            let source = sourcePrefix.map { $0 + "." + key } ?? key
            if case .object(let inner) = value, !inner.isEmpty, valid {
                if depth < maxDepth {
                    append(inner, prefix: column, sourcePrefix: source, depth: depth + 1, into: &out)
                    continue
                }
                let name = prefix == nil ? column : Identifier.shorten(column)
                out.append(FlatField(column: name, sourceKey: source, value: value, validName: valid, deep: deepToOverflow))
            } else {
                let name = prefix == nil ? column : Identifier.shorten(column)
                out.append(FlatField(column: name, sourceKey: source, value: value, validName: valid))
            }
        }
    }

    /// Two keys of one record that normalize to the same column (`userId` and `user_id`)
    /// must not overwrite each other. The key that already is the column name keeps it;
    /// the others, in key order, get `_2`, `_3`, ... — the same record always maps the same way.
    static func resolveCollisions(_ fields: [FlatField]) -> [FlatField] {
        if fields.count < 2 { return fields }
        var seen = Set<String>()
        var clash = false
        for f in fields where !seen.insert(f.column).inserted {
            clash = true
            break
        }
        if !clash { return fields }
        var groups: [String: [Int]] = [:]
        for (i, f) in fields.enumerated() { groups[f.column, default: []].append(i) }
        var result = fields
        var taken = Set(fields.map(\.column))
        for (column, indices) in groups where indices.count > 1 {
            let ordered = indices.sorted { a, b in
                let ea = fields[a].sourceKey == column
                let eb = fields[b].sourceKey == column
                if ea != eb { return ea }
                return fields[a].sourceKey < fields[b].sourceKey
            }
            var n = 2
            for idx in ordered.dropFirst() {
                var candidate = Identifier.shorten(column + "_\(n)")
                while taken.contains(candidate) {
                    n += 1
                    candidate = Identifier.shorten(column + "_\(n)")
                }
                taken.insert(candidate)
                result[idx].column = candidate
                n += 1
            }
        }
        return result
    }
}
