/// A source key path in text: its segments (the keys from the record's top level down)
/// joined with `.`, where a `.` or `\` inside a key is escaped with `\`. So the nested key
/// `id` → `orig_h` is `id.orig_h` and the literal key `"id.orig_h"` is `id\.orig_h`: one
/// text per path, and back (docs/json.md, "Key paths").
public enum KeyPath {
    /// The text of `key` under `prefix` (nil at the top level).
    public static func join(_ prefix: String?, _ key: String) -> String {
        let escaped = escape(key)
        return prefix.map { $0 + "." + escaped } ?? escaped
    }

    public static func escape(_ key: String) -> String {
        // Most keys have neither character: no copy then.
        guard key.utf8.contains(where: { $0 == 0x2E || $0 == 0x5C }) else { return key }
        var out = ""
        out.reserveCapacity(key.utf8.count + 2)
        for c in key {
            if c == "." || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// The segments of a key path's text (the JSON form is this array).
    public static func segments(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var escaping = false
        for c in text {
            if escaping {
                current.append(c)
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else if c == "." {
                out.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        if escaping { current.append("\\") }  // a trailing lone `\` is itself
        out.append(current)
        return out
    }

    /// The text of a path given as segments.
    public static func text(_ segments: [String]) -> String {
        segments.map(escape).joined(separator: ".")
    }
}

/// Where each source key path of a table lands: one column per key path for the life of the
/// table (DESIGN invariant 7). The first key path that normalizes to a name owns it; a later
/// one that normalizes to a taken name gets the next free `name_2`, `name_3`, … once, and
/// keeps it in every later record. No two key paths share a column; only a person's
/// `map_field` (TableSchema.mappings) sends one key's values to another's column.
/// Stored in Mend's state beside the table (StateTransaction.addKeys).
public struct KeyMap: Sendable, Equatable {
    /// Key path text → column.
    public private(set) var columns: [String: String]
    /// The columns some key path owns.
    private var owned: Set<String>

    public init(_ columns: [String: String] = [:]) {
        self.columns = columns
        owned = Set(columns.values)
    }

    public var isEmpty: Bool { columns.isEmpty }
    public var count: Int { columns.count }
    public subscript(key: String) -> String? { columns[key] }
    public func owns(_ column: String) -> Bool { owned.contains(column) }

    /// The key paths that land in each column, sorted.
    public var sources: [String: [String]] {
        var out: [String: [String]] = [:]
        for (key, column) in columns { out[column, default: []].append(key) }
        return out.mapValues { $0.sorted() }
    }

    /// `name` when no key path owns it and `also` does not hold it, else the first free
    /// `name_2`, `name_3`, … (shortened to an identifier's length).
    public func freeName(_ name: String, also: Set<String> = []) -> String {
        if !owned.contains(name), !also.contains(name) { return name }
        var n = 2
        while true {
            let candidate = Identifier.shorten(name + "_\(n)")
            if !owned.contains(candidate), !also.contains(candidate) { return candidate }
            n += 1
        }
    }

    /// Gives `key` the column `column` for good. The caller picked a free one (`freeName`);
    /// a key already mapped keeps its column.
    @discardableResult
    public mutating func assign(_ key: String, to column: String) -> String {
        if let known = columns[key] { return known }
        columns[key] = column
        owned.insert(column)
        return column
    }
}
