/// How one table's lists become child tables (`nested_lists: tables`, D26).
public struct NestingRule: Sendable, Equatable {
    /// dlt's default budget (1,000): in practice no limit.
    public static let unlimited = 1_000
    /// The budget of a root row: an object level costs 1, a child table's rows start with
    /// their parent row's budget minus 1, and at 0 a nested value stays JSON (dlt's
    /// `max_table_nesting`).
    public var maxNesting: Int
    /// Key paths of lists that stay JSON (`payload.pull_request.labels`; a list inside the
    /// elements of `commits` is `commits.files`).
    public var keepJSON: Set<String>
    /// How deep objects flatten into columns at most (the flattener's depth: 4, or the
    /// policy's `overflow_depth`).
    public var objectDepth: Int
    /// Key paths of the root row's natural key; empty when none is declared.
    public var primaryKey: [String]

    public init(maxNesting: Int = NestingRule.unlimited, keepJSON: Set<String> = [], objectDepth: Int = 4, primaryKey: [String] = []) {
        self.maxNesting = maxNesting
        self.keepJSON = keepJSON
        self.objectDepth = objectDepth
        self.primaryKey = primaryKey
    }

    /// The flattener's depth for rows with `budget`: an object flattens while budget is left.
    public func flattenDepth(budget: Int) -> Int { max(1, min(budget + 1, objectDepth)) }

}

/// One row a record becomes: the root row, or one element of a list.
public struct NestedRow: Sendable {
    /// The table, shortened to an identifier (`Identifier.shorten`).
    public var table: String
    /// How many lists below the root (0 for the root).
    public var level: Int
    /// The row's nesting budget: how deep its objects flatten and whether its lists are tables.
    public var budget: Int
    /// The row's own members, lists that went to child tables removed; flattened by the
    /// table's flattener like any record.
    public var members: [(key: String, value: JSONValue)]
    public var id: String
    public var parentID: String?
    public var index: Int?
    public var rootID: String

    /// The linking columns, added after flattening: their names start with `_mend`, which
    /// no normalized key can, so they never meet a key of the record.
    public var links: [FlatField] {
        var out = [FlatField(column: Unnester.idColumn, sourceKey: Unnester.idColumn, value: .string(id))]
        if let parentID, let index {
            out.append(FlatField(column: Unnester.parentColumn, sourceKey: Unnester.parentColumn, value: .string(parentID)))
            out.append(
                FlatField(column: Unnester.indexColumn, sourceKey: Unnester.indexColumn, value: .number(JSONNumber(int: Int64(index)))))
            out.append(FlatField(column: Unnester.rootColumn, sourceKey: Unnester.rootColumn, value: .string(rootID)))
        }
        return out
    }
}

/// Splits a record into its root row and one row per list element, dlt's way: a list
/// becomes the table `parent__field` (also when it sits under nested objects of the row),
/// objects inside an element flatten into the child's columns, lists inside an element
/// become grandchildren, scalars a `value` column, a list of lists an in-between `__list`
/// table. Empty lists give no rows. Ids come from the caller (`childID`), so this stays
/// pure: the same record and root id always give the same rows and ids.
public enum Unnester {
    public static let idColumn = "_mend_id"
    public static let parentColumn = "_mend_parent_id"
    public static let indexColumn = "_mend_list_idx"
    public static let rootColumn = "_mend_root_id"
    public static let linkColumns: Set<String> = [idColumn, parentColumn, indexColumn, rootColumn]
    /// The key a scalar element (or a list kept as JSON) is loaded under.
    public static let valueKey = "value"
    public static let listSuffix = "list"

    /// The rows of one record, the root first, then every child row in document order.
    /// `childID(parentID, path, index)` names a child row: `path` is the list's key path
    /// within its parent row (`payload.commits`), `list` for the elements of a list of lists.
    /// `names` normalizes keys with its cache (a flattener kept across records).
    public static func unnest(
        _ members: [(key: String, value: JSONValue)], table: String, rootID: String, rule: NestingRule, names: inout Flattener,
        childID: (String, String, Int) -> String
    ) -> [NestedRow] {
        withoutActuallyEscaping(childID) { childID in
            var walk = Walk(rule: rule, rootID: rootID, childID: childID)
            // Moved in and out, not copied: a copy of the cache would be made on its first write.
            swap(&walk.names, &names)
            walk.row(members, table: table, level: 0, budget: rule.maxNesting, rowPath: nil, id: rootID, parentID: nil, index: nil)
            swap(&walk.names, &names)
            return walk.rows
        }
    }

    public static func unnest(
        _ members: [(key: String, value: JSONValue)], table: String, rootID: String, rule: NestingRule,
        childID: (String, String, Int) -> String
    ) -> [NestedRow] {
        var names = Flattener()
        return unnest(members, table: table, rootID: rootID, rule: rule, names: &names, childID: childID)
    }

    /// The table a list at `fragments` (normalized keys below the row) of `parent` loads into:
    /// the full name is kept for the children's names, the identifier is shortened stably.
    public static func childTable(parent: String, fragments: [String]) -> String {
        ([parent] + fragments).joined(separator: Flattener.separator)
    }

    /// The natural key's text from `paths` (key paths through objects), or nil when the record
    /// lacks one of them or holds an object or list there.
    public static func naturalKey(_ members: [(key: String, value: JSONValue)], paths: [String]) -> String? {
        var parts: [String] = []
        for path in paths {
            var current: JSONValue = .object(members)
            for segment in KeyPath.segments(path) {
                guard case .object(let m) = current, let hit = m.last(where: { $0.key == segment }) else { return nil }
                current = hit.value
            }
            switch current {
            case .null, .object, .array: return nil
            default: parts.append(current.jsonText)
            }
        }
        return parts.joined(separator: "\u{0}")
    }

    private struct Walk {
        let rule: NestingRule
        let rootID: String
        let childID: (String, String, Int) -> String
        var rows: [NestedRow] = []
        var names = Flattener()

        /// Adds the row, then its children (after it, so a parent always precedes its children).
        mutating func row(
            _ members: [(key: String, value: JSONValue)], table: String, level: Int, budget: Int, rowPath: String?, id: String,
            parentID: String?, index: Int?
        ) {
            let slot = rows.count
            rows.append(
                NestedRow(
                    table: Identifier.shorten(table), level: level, budget: budget, members: [], id: id, parentID: parentID, index: index,
                    rootID: rootID))
            rows[slot].members = strip(
                members, depth: 1, budget: budget, limit: rule.flattenDepth(budget: budget), table: table, level: level, fragments: [],
                rowPath: rowPath, sourcePrefix: nil, id: id)
        }

        /// The members that stay in the row: each list the budget allows becomes rows of its
        /// child table; objects are walked as deep as the flattener will flatten them.
        mutating func strip(
            _ members: [(key: String, value: JSONValue)], depth: Int, budget: Int, limit: Int, table: String, level: Int,
            fragments: [String], rowPath: String?, sourcePrefix: String?, id: String
        ) -> [(key: String, value: JSONValue)] {
            var out: [(key: String, value: JSONValue)] = []
            out.reserveCapacity(members.count)
            for (key, value) in members {
                // Only objects and lists are walked: scalars stay as they are, without a lookup.
                switch value {
                case .object, .array: break
                default:
                    out.append((key, value))
                    continue
                }
                let (name, valid) = names.named(key)
                // A key without a letter or digit names nothing: its value stays, and parks the record.
                guard valid else {
                    out.append((key, value))
                    continue
                }
                switch value {
                case .object(let inner) where !inner.isEmpty && depth < limit:
                    let kept = strip(
                        inner, depth: depth + 1, budget: budget, limit: limit, table: table, level: level,
                        fragments: fragments + [name], rowPath: rowPath,
                        sourcePrefix: KeyPath.join(sourcePrefix, key), id: id)
                    // An object that held only lists that became tables leaves nothing behind.
                    if !kept.isEmpty { out.append((key, .object(kept))) }
                case .array(let elements) where budget - (depth - 1) > 0:
                    let relative = KeyPath.join(sourcePrefix, key)
                    let path = rowPath.map { $0 + "." + relative } ?? relative
                    if rule.keepJSON.contains(path) {
                        out.append((key, value))
                        continue
                    }
                    let child = Unnester.childTable(parent: table, fragments: fragments + [name])
                    list(elements, table: child, level: level + 1, budget: budget - 1, path: path, relative: relative, parentID: id)
                default:
                    out.append((key, value))
                }
            }
            return out
        }

        mutating func list(
            _ elements: [JSONValue], table: String, level: Int, budget: Int, path: String, relative: String, parentID: String
        ) {
            for (i, element) in elements.enumerated() {
                let id = childID(parentID, relative, i)
                switch element {
                case .object(let members):
                    row(members, table: table, level: level, budget: budget, rowPath: path, id: id, parentID: parentID, index: i)
                case .array:
                    // A list of lists, as dlt does it: this row holds the inner list under `list`, at
                    // one level of budget less, so with budget left its elements go to `…__list`.
                    row(
                        [(Unnester.listSuffix, element)], table: table, level: level, budget: budget - 1, rowPath: path, id: id,
                        parentID: parentID, index: i)
                default:
                    row(
                        [(Unnester.valueKey, element)], table: table, level: level, budget: budget, rowPath: path, id: id,
                        parentID: parentID, index: i)
                }
            }
        }
    }
}
