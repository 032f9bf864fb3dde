/// The shape of a record with child tables (`nested_lists: tables`) whose rows all fit their
/// tables exactly: its keys in order, and where each value lands (a column of the current
/// row, an object flattened into it, a list whose elements are rows of a child table).
/// Records of one source mostly repeat their shape, their lists changing only in length, so
/// the next record of the shape goes from bytes to rows directly: no value tree, no
/// unnesting, no flattening, no per-key lookups. Values go through the same parser and
/// `Coercer` as the general path, and only an exact fit is taken: otherwise the record takes
/// the general path, which decides (D30). It is `RecordShape` for a record tree.
struct NestedShape: Sendable, Equatable {
    indirect enum Node: Sendable, Equatable {
        /// A scalar of the current row. `position` nil: seen only as null (no column yet).
        /// `keyPart`: which part of the root's natural key (`primary_key`) it is.
        case value(key: [UInt8], position: Int?, keyPart: Int?)
        /// An object whose members flatten into the current row.
        case object(key: [UInt8], nodes: [Node])
        /// A list whose elements are rows of the table `table` (a validator's index).
        case list(key: [UInt8], table: Int, path: String, links: Links, elements: [Element])
    }

    /// The layouts a list's elements take (a few, tried in order).
    enum Element: Sendable, Equatable {
        case object([Node])
        /// A scalar element: its `value` column.
        case scalar(position: Int)
    }

    /// Where a row's linking columns are (`Unnester`): the root has only its id.
    struct Links: Sendable, Equatable {
        var id: Int
        var parent: Int?
        var index: Int?
        var root: Int?
    }

    var table: Int
    var links: Links
    var nodes: [Node]
    /// How many parts the natural key has, and whether the shape holds all of them as values
    /// of the root row (else the root's id always comes from the source position).
    var keyParts: Int
    var keyComplete: Bool
}

/// One row a record became on the fast path: its table (a validator's index) and its values.
public struct ShapedRow: Sendable {
    public var table: Int
    public var values: [ShapedValue]

    /// The values as the general path makes them; `bytes` are the record's.
    public func sqlValues(_ bytes: UnsafeBufferPointer<UInt8>) -> [SQLValue] {
        values.map { v in
            switch v {
            case .value(let value): value
            case .text(let range): .text(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
            }
        }
    }
}

/// A value of a row read by shape. A text column's value that is plain in the record (ASCII
/// between quotes, no escape) stays its bytes there: the bulk load copies them, and no String
/// is made (one per text value was most of what the decoder allocated).
public enum ShapedValue: Sendable, Equatable {
    case value(SQLValue)
    /// The text's bytes in the record, quotes excluded.
    case text(Range<Int>)
}

/// What the decoder checks a table's values against, taken from its validator once (a
/// Validator copied per value would cost a dozen reference counts).
struct TableFacts: Sendable {
    var types: [LogicalType]
    var nullable: [Bool]
    var required: [Int]
    var maxValueBytes: Int

    init(_ v: Validator) {
        types = v.types
        nullable = v.nullable
        required = v.schema.requiredPositions
        maxValueBytes = v.maxValueBytes
    }
}

/// The shapes one reader has learned, most recently used first. They hold for the validators
/// they were learned with: the caller empties them when a table's schema changes.
public struct NestedShapes: Sendable {
    /// Enough for a source that alternates between a few layouts; cheap when none matches.
    public static let maxShapes = 4
    static let maxElementLayouts = 4
    var shapes: [NestedShape] = []
    /// The validators' facts, by the same index, as of the last shape learned (learning is
    /// rare: only records that miss every shape are learned from).
    var facts: [TableFacts] = []

    public init() {}

    public var isEmpty: Bool { shapes.isEmpty }
    public mutating func removeAll() {
        shapes.removeAll()
        facts.removeAll()
    }

    /// The rows of `bytes` when the record has a learned shape and every row fits exactly,
    /// in the general path's order (a parent before its children, in document order); nil when
    /// the general path must decide. `rootID(naturalKey)` names the root row (nil: no natural
    /// key), `childID(parentID, path, index)` a child row, as for `Unnester.unnest`.
    public mutating func rows(
        _ bytes: UnsafeBufferPointer<UInt8>, rootID: (String?) -> String, childID: (String, String, Int) -> String
    ) -> [ShapedRow]? {
        for i in shapes.indices {
            var decoder = Decoder(bytes: bytes, facts: facts)
            if let rows = decoder.record(shapes[i], rootID: rootID, childID: childID) {
                if i > 0 { shapes.swapAt(0, i) }
                return rows
            }
        }
        return nil
    }

    /// Learns the shape of a record whose rows the general path cut (`Unnester.unnest`),
    /// flattened (`fields`, links first) and fit exactly, with no coercion, in the tables of
    /// `validators` at `tables`. Anything less plain (a list kept as JSON, an object kept
    /// whole, a list of lists, an empty list, a new key path, a key twice) is not learned.
    public mutating func learn(
        _ members: [(key: String, value: JSONValue)], rows: [NestedRow], fields: [[FlatField]], tables: [Int],
        validators: [Validator], primaryKey: [String]
    ) {
        guard !rows.isEmpty, rows.count == fields.count, rows.count == tables.count else { return }
        var learner = Learner(
            rows: rows, fields: fields, tables: tables, validators: validators, primaryKey: primaryKey.map(KeyPath.segments))
        guard let root = learner.links(row: 0), let nodes = learner.row(members, row: 0), learner.next == rows.count else { return }
        let complete = !primaryKey.isEmpty && learner.found.count == primaryKey.count
        let shape = NestedShape(
            table: tables[0], links: root, nodes: nodes, keyParts: primaryKey.count, keyComplete: complete)
        facts = validators.map(TableFacts.init)
        if let i = shapes.firstIndex(of: shape) {
            shapes.swapAt(0, i)
            return
        }
        if shapes.count == Self.maxShapes { shapes.removeLast() }
        shapes.insert(shape, at: 0)
    }
}

/// Walks a record the general path cut, beside its rows' fields, in the same order the
/// Unnester made them: the row's scalars in document order, each list's element rows (and
/// theirs) where the list stands.
private struct Learner {
    let rows: [NestedRow]
    let fields: [[FlatField]]
    let tables: [Int]
    let validators: [Validator]
    let primaryKey: [[String]]
    /// The next row of the record, in the general path's order.
    var next = 1
    /// Natural key parts found among the root's values.
    var found = Set<Int>()

    init(rows: [NestedRow], fields: [[FlatField]], tables: [Int], validators: [Validator], primaryKey: [[String]]) {
        self.rows = rows
        self.fields = fields
        self.tables = tables
        self.validators = validators
        self.primaryKey = primaryKey
    }

    func links(row r: Int) -> NestedShape.Links? {
        let schema = validators[tables[r]].schema
        guard let id = schema.position(of: Unnester.idColumn) else { return nil }
        if r == 0 { return NestedShape.Links(id: id) }
        guard let parent = schema.position(of: Unnester.parentColumn), let index = schema.position(of: Unnester.indexColumn),
            let root = schema.position(of: Unnester.rootColumn)
        else { return nil }
        return NestedShape.Links(id: id, parent: parent, index: index, root: root)
    }

    /// The nodes of row `r` from its members; its fields must be used up exactly.
    mutating func row(_ members: [(key: String, value: JSONValue)], row r: Int) -> [NestedShape.Node]? {
        let linkCount = r == 0 ? 1 : 4
        guard fields[r].count >= linkCount, fields[r][..<linkCount].allSatisfy({ Unnester.linkColumns.contains($0.column) }) else {
            return nil
        }
        var cursor = linkCount
        var used = Set<Int>()
        guard let nodes = walk(members, row: r, prefix: nil, path: [], cursor: &cursor, used: &used), cursor == fields[r].count
        else { return nil }
        return nodes
    }

    private mutating func walk(
        _ members: [(key: String, value: JSONValue)], row r: Int, prefix: String?, path: [String], cursor: inout Int,
        used: inout Set<Int>
    ) -> [NestedShape.Node]? {
        var nodes: [NestedShape.Node] = []
        let validator = validators[tables[r]]
        for (key, value) in members {
            let bytes = Array(key.utf8)
            // Keys that needed escaping in JSON never match raw bytes.
            guard !bytes.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }) else { return nil }
            let source = KeyPath.join(prefix, key)
            let field = cursor < fields[r].count ? fields[r][cursor] : nil
            // A value kept whole (an object past the depth, a list kept as JSON) is the general path's.
            let keptWhole = field?.sourceKey == source
            switch value {
            case .object(let inner):
                guard !keptWhole, !inner.isEmpty,
                    let sub = walk(inner, row: r, prefix: source, path: path + [key], cursor: &cursor, used: &used)
                else { return nil }
                nodes.append(.object(key: bytes, nodes: sub))
            case .array(let elements):
                // An empty list does not say which table its elements go to.
                guard !keptWhole, !elements.isEmpty, let list = list(elements, parent: r, relative: source) else { return nil }
                nodes.append(.list(key: bytes, table: list.table, path: source, links: list.links, elements: list.layouts))
            default:
                guard let field, keptWhole, let landing = validator.landing(of: field, isNull: value == .null, used: &used) else {
                    return nil
                }
                let position = landing.position
                var keyPart: Int? = nil
                if r == 0, let k = primaryKey.firstIndex(of: path + [key]) {
                    keyPart = k
                    found.insert(k)
                }
                nodes.append(.value(key: bytes, position: position, keyPart: keyPart))
                cursor += 1
            }
        }
        return nodes
    }

    private mutating func list(_ elements: [JSONValue], parent r: Int, relative: String) -> (
        table: Int, links: NestedShape.Links, layouts: [NestedShape.Element]
    )? {
        var layouts: [NestedShape.Element] = []
        var table: Int? = nil
        var links: NestedShape.Links? = nil
        for (i, element) in elements.enumerated() {
            let c = next
            guard c < rows.count, rows[c].parentID == rows[r].id, rows[c].index == i else { return nil }
            next += 1
            if table == nil {
                table = tables[c]
                links = self.links(row: c)
            }
            guard tables[c] == table, links != nil else { return nil }
            let layout: NestedShape.Element
            switch element {
            case .object(let members):
                guard !members.isEmpty, let nodes = row(members, row: c) else { return nil }
                layout = .object(nodes)
            case .array, .null:
                // A list of lists takes an in-between table; a null element has no column to say its type.
                return nil
            default:
                let linkCount = 4
                guard fields[c].count == linkCount + 1 else { return nil }
                let field = fields[c][linkCount]
                var used = Set<Int>()
                guard field.sourceKey == Unnester.valueKey,
                    let position = validators[tables[c]].landing(of: field, isNull: false, used: &used)?.position
                else { return nil }
                layout = .scalar(position: position)
            }
            if !layouts.contains(layout) {
                guard layouts.count < NestedShapes.maxElementLayouts else { return nil }
                layouts.append(layout)
            }
        }
        guard let table, let links else { return nil }
        return (table, links, layouts)
    }
}

/// Reads one record's bytes against a shape, row by row, as the general path would cut,
/// flatten and validate it; gives up (nil) at the first difference.
private struct Decoder {
    var p: JSONParser
    let bytes: UnsafeBufferPointer<UInt8>
    let facts: [TableFacts]
    var rows: [ShapedRow] = []
    /// Per row: its parent row, list path and index, for its id once the root's is known.
    var parents: [(row: Int, path: String, index: Int)] = []
    var keyParts: [String?] = []

    init(bytes: UnsafeBufferPointer<UInt8>, facts: [TableFacts]) {
        self.bytes = bytes
        self.facts = facts
        p = JSONParser(bytes: bytes)
    }

    mutating func record(
        _ shape: NestedShape, rootID: (String?) -> String, childID: (String, String, Int) -> String
    ) -> [ShapedRow]? {
        keyParts = Array(repeating: nil, count: shape.keyParts)
        rows.append(ShapedRow(table: shape.table, values: Array(repeating: .value(.null), count: facts[shape.table].types.count)))
        parents.append((0, "", 0))
        guard object(shape.nodes, row: 0) else { return nil }
        p.skipWhitespace()
        guard p.pos == bytes.count else { return nil }
        // Ids once every row is read: the root's may come from a key after the lists.
        var ids: [String] = []
        ids.reserveCapacity(rows.count)
        var key: String? = nil
        if shape.keyComplete, keyParts.allSatisfy({ $0 != nil }) { key = keyParts.compactMap { $0 }.joined(separator: "\u{0}") }
        let root = rootID(key)
        ids.append(root)
        guard set(.string(root), at: shape.links.id, row: 0) else { return nil }
        for r in rows.indices.dropFirst() {
            let (parent, path, index) = parents[r]
            let id = childID(ids[parent], path, index)
            ids.append(id)
            guard let links = linkPositions[r], set(.string(id), at: links.id, row: r),
                let pp = links.parent, set(.string(ids[parent]), at: pp, row: r),
                let ip = links.index, set(.number(JSONNumber(int: Int64(index))), at: ip, row: r),
                let rp = links.root, set(.string(root), at: rp, row: r)
            else { return nil }
        }
        for row in rows {
            for i in facts[row.table].required where row.values[i] == .value(.null) { return nil }
        }
        return rows
    }

    var linkPositions: [NestedShape.Links?] = [nil]

    /// A link's value, through the same coercion as the general path.
    private mutating func set(_ value: JSONValue, at pos: Int, row r: Int) -> Bool {
        let t = rows[r].table
        guard rows[r].values[pos] == .value(.null), case .exact(let v) = Coercer.coerce(value, to: facts[t].types[pos]) else {
            return false
        }
        rows[r].values[pos] = .value(v)
        return true
    }

    private mutating func object(_ nodes: [NestedShape.Node], row r: Int) -> Bool {
        guard p.consume(UInt8(ascii: "{")) else { return false }
        for (i, node) in nodes.enumerated() {
            if i > 0, !p.consume(UInt8(ascii: ",")) { return false }
            switch node {
            case .value(let k, let position, let keyPart):
                guard p.consumeKey(k) else { return false }
                // A plain text for a text column is what `fits` would take as it is (the same
                // bytes, under the same size limit): kept as its bytes.
                if keyPart == nil, let position, facts[rows[r].table].types[position] == .text, let range = p.plainString() {
                    guard range.count <= facts[rows[r].table].maxValueBytes else { return false }
                    rows[r].values[position] = .text(range)
                    continue
                }
                guard let value = scalar() else { return false }
                if let keyPart, case .null = value {
                    keyParts[keyPart] = nil
                } else if let keyPart {
                    keyParts[keyPart] = value.jsonText
                }
                guard let position else {
                    if case .null = value { continue }
                    return false
                }
                guard fits(value, at: position, row: r) else { return false }
            case .object(let k, let inner):
                guard p.consumeKey(k), p.peek() == UInt8(ascii: "{"), object(inner, row: r) else { return false }
            case .list(let k, let table, let path, let links, let elements):
                guard p.consumeKey(k), list(elements, table: table, links: links, path: path, parent: r) else { return false }
            }
        }
        return p.consume(UInt8(ascii: "}"))
    }

    private mutating func list(
        _ layouts: [NestedShape.Element], table: Int, links: NestedShape.Links, path: String, parent: Int
    ) -> Bool {
        guard p.consume(UInt8(ascii: "[")) else { return false }
        if p.peek() == UInt8(ascii: "]") {
            p.pos += 1
            return true
        }
        var index = 0
        while true {
            if index > 0 {
                guard let b = p.peek() else { return false }
                if b == UInt8(ascii: "]") {
                    p.pos += 1
                    return true
                }
                guard b == UInt8(ascii: ",") else { return false }
                p.pos += 1
            }
            guard element(layouts, table: table, links: links, path: path, parent: parent, index: index) else { return false }
            index += 1
        }
    }

    /// One element, in the first layout it fits (each tried from the same place).
    private mutating func element(
        _ layouts: [NestedShape.Element], table: Int, links: NestedShape.Links, path: String, parent: Int, index: Int
    ) -> Bool {
        let (start, count) = (p.pos, rows.count)
        for layout in layouts {
            p.pos = start
            rows.removeSubrange(count...)
            parents.removeSubrange(count...)
            linkPositions.removeSubrange(count...)
            rows.append(ShapedRow(table: table, values: Array(repeating: .value(.null), count: facts[table].types.count)))
            parents.append((parent, path, index))
            linkPositions.append(links)
            switch layout {
            case .object(let nodes):
                if p.peek() == UInt8(ascii: "{"), object(nodes, row: count) { return true }
            case .scalar(let position):
                if let value = scalar(), value != .null, fits(value, at: position, row: count) { return true }
            }
        }
        return false
    }

    /// A scalar value; nil at an object or a list (the general path decides what they become).
    private mutating func scalar() -> JSONValue? {
        guard let b = p.peek(), b != UInt8(ascii: "{"), b != UInt8(ascii: "[") else { return nil }
        return try? p.parseValue(depth: 1)
    }

    /// The value into its column as `Validator.fit` would put it, exactly, or false.
    private mutating func fits(_ value: JSONValue, at pos: Int, row r: Int) -> Bool {
        let t = rows[r].table
        if case .string(let s) = value, s.utf8.count > facts[t].maxValueBytes { return false }
        guard case .exact(let out) = Coercer.coerce(value, to: facts[t].types[pos]) else { return false }
        if case .null = out, !facts[t].nullable[pos] { return false }
        rows[r].values[pos] = .value(out)
        return true
    }
}
