/// One field of a record after flattening: the column it targets, the key path it came
/// from (`KeyPath` text, kept for messages and the table's key map), and its value.
public struct FlatField: Sendable, Equatable {
    public var column: String
    public var sourceKey: String
    public var value: JSONValue
    /// False when the key had nothing to name a column after (parked as invalid_identifier).
    public var validName: Bool
    /// An object nested deeper than the policy's overflow depth: it belongs in the overflow
    /// column (Overflow.swift), not in a column of its own.
    public var deep: Bool
    /// The key path was not in the flattener's key map: `column` is the name it gets now,
    /// which holds only once the batch commit stores it (CommitBatch settles such records).
    public var isNew: Bool

    public init(
        column: String, sourceKey: String, value: JSONValue, validName: Bool = true, deep: Bool = false, isNew: Bool = false
    ) {
        self.column = column
        self.sourceKey = sourceKey
        self.value = value
        self.validName = validName
        self.deep = deep
        self.isNew = isNew
    }
}

/// Flattens nested objects into `parent__child` columns and normalizes keys, against the
/// table's key map: a key path in the map lands in its column, always. A new one gets its
/// normalized name, or the next free `name_2`, … (`KeyMap`); with `assigns` the flattener
/// keeps that choice in `keys` and lists it in `added` for the caller to store.
/// Arrays (and objects nested deeper than `maxDepth`) stay whole, as JSON values.
public struct Flattener: Sendable {
    public static let separator = "__"
    public var maxDepth: Int
    /// True when `maxDepth` comes from the policy's `overflow_depth`: the objects it stops at
    /// are marked `deep` and go to the overflow column.
    public var deepToOverflow: Bool
    /// The table's key map (and, with `assigns`, the key paths this flattener gave a column).
    public var keys: KeyMap {
        didSet { lastKeys = [] }
    }
    /// Whether new key paths are added to `keys`. Off for the reader's parallel flatteners,
    /// whose choices are settled by the batch commit, one record after the other.
    public var assigns: Bool
    /// Key paths given a column since the caller last emptied this, in the order seen.
    public var added: [(key: String, column: String)] = []
    /// key → (normalized name, has a letter or digit). Keys repeat across records and
    /// both answers cost Unicode property lookups, so they are computed once per key.
    private var cache: [String: (name: String, valid: Bool)] = [:]
    /// The key paths of the previous record, and where they landed: records of one source
    /// mostly share their shape, so the map is consulted once per shape, not per field.
    private var lastKeys: [String] = []
    private var lastColumns: [String] = []
    private var lastNew: [Bool] = []

    public init(maxDepth: Int = 4, keys: KeyMap = KeyMap(), assigns: Bool = false) {
        self.maxDepth = maxDepth
        deepToOverflow = false
        self.keys = keys
        self.assigns = assigns
    }

    /// The policy's `overflow_depth` (nil: objects deeper than 4 levels stay whole in a json column).
    public init(overflowDepth: Int?, keys: KeyMap = KeyMap(), assigns: Bool = false) {
        maxDepth = overflowDepth ?? 4
        deepToOverflow = overflowDepth != nil
        self.keys = keys
        self.assigns = assigns
    }

    /// Normalizes with a cache: keys repeat across records, normalization is not free.
    public mutating func normalize(_ key: String) -> String { lookup(key).name }

    /// The key's normalized name and whether it has a letter or digit, from the same cache.
    public mutating func named(_ key: String) -> (name: String, valid: Bool) { lookup(key) }

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
        if out.count == lastKeys.count {
            var same = true
            for i in out.indices where out[i].sourceKey != lastKeys[i] {
                same = false
                break
            }
            if same {
                for i in out.indices {
                    out[i].column = lastColumns[i]
                    out[i].isNew = lastNew[i]
                }
                return out
            }
        }
        resolve(&out)
        lastKeys = out.map(\.sourceKey)
        lastColumns = out.map(\.column)
        // Once assigned, the key paths are in the map: the next record of this shape is not new.
        lastNew = assigns ? Array(repeating: false, count: out.count) : out.map(\.isNew)
        return out
    }

    private mutating func append(
        _ members: [(key: String, value: JSONValue)], prefix: String?, sourcePrefix: String?, depth: Int,
        into out: inout [FlatField]
    ) {
        for (key, value) in members {
            let (part, valid) = lookup(key)
            let column = prefix.map { $0 + Flattener.separator + part } ?? part
            // From the key's own bytes, never the cache: NFC and NFD spellings share a cache entry.
            let source = KeyPath.join(sourcePrefix, key)
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

    /// Sends each field to its key path's column. Fields arrive named by their normalized
    /// key; key paths the map does not know get a name no other key path holds. Within one
    /// record, among new key paths that want the same name, the one spelled exactly like it
    /// wins, then the first in key path order: the same record always maps the same way.
    private mutating func resolve(_ fields: inout [FlatField]) {
        var fresh: [Int] = []
        for i in fields.indices {
            if fields[i].validName, let column = keys[fields[i].sourceKey] {
                fields[i].column = column
            } else {
                // A key without a letter or digit never gets a column (its record parks), but a
                // name of its own in the record all the same; it is never stored.
                fields[i].isNew = fields[i].validName
                fresh.append(i)
            }
        }
        if fresh.isEmpty { return }
        var chosen: [String: String] = [:]  // key path → column, for a key path seen twice
        var taken = Set<String>()
        // Wanted names first, so a key spelled `user_id_2` is not pushed aside by a suffix.
        let ordered = fresh.sorted { a, b in
            let (fa, fb) = (fields[a], fields[b])
            if fa.column != fb.column { return fa.column < fb.column }
            let (ea, eb) = (fa.sourceKey == fa.column, fb.sourceKey == fb.column)
            if ea != eb { return ea }
            return fa.sourceKey < fb.sourceKey
        }
        var later: [Int] = []
        for i in ordered where chosen[fields[i].sourceKey] == nil {
            let name = fields[i].column
            if keys.owns(name) || taken.contains(name) {
                later.append(i)
            } else {
                taken.insert(name)
                chosen[fields[i].sourceKey] = name
            }
        }
        for i in later where chosen[fields[i].sourceKey] == nil {
            let name = keys.freeName(fields[i].column, also: taken)
            taken.insert(name)
            chosen[fields[i].sourceKey] = name
        }
        for i in fresh {
            guard let column = chosen[fields[i].sourceKey] else { continue }
            fields[i].column = column
        }
        if assigns {
            // In record order: the order they are stored in.
            for i in fresh where fields[i].validName && keys[fields[i].sourceKey] == nil {
                keys.assign(fields[i].sourceKey, to: fields[i].column)
                added.append((fields[i].sourceKey, fields[i].column))
            }
        }
    }
}
