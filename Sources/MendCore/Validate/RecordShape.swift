/// The key sequence of a record that already fit the table as a row, with the column each
/// key lands in, and for an object the keys of its own that flatten into `parent__child`
/// columns. Records of one source mostly repeat their shape, so the next record of the same
/// shape can go from bytes to row directly: no value tree, no flattening, no per-key lookups.
/// The values still go through the same parser and `Coercer` as the general path, so the
/// fast path gives the same row or gives up.
struct RecordShape: Sendable, Equatable {
    struct Slot: Sendable, Equatable {
        /// The key exactly as it appears between the quotes of the raw line.
        var key: [UInt8]
        /// The column the key lands in; nil for a key seen only as null (no column yet), or for
        /// an object.
        var position: Int?
        /// An object flattened into columns: its own keys, in order.
        var children: [Slot]? = nil
    }
    var slots: [Slot]
}

extension Validator {
    /// At most this many shapes are tried per record: enough for a source that
    /// alternates between a few optional-field layouts, cheap when none matches.
    static let maxShapes = 4

    /// Remembers the shape of a record that the general path fit as a row with no coercion,
    /// when its keys (and those of the objects the flattener walked) map one-to-one onto
    /// distinct columns. Anything less plain (an object kept whole, an empty object, a new key
    /// path, a key that needs escaping) is not learned and keeps taking the general path.
    public mutating func learnShape(members: [(key: String, value: JSONValue)], fields: [FlatField]) {
        guard !members.isEmpty else { return }
        var cursor = 0
        var used = Set<Int>()
        guard let slots = shapeSlots(members, prefix: nil, fields: fields, cursor: &cursor, used: &used), cursor == fields.count
        else { return }
        let shape = RecordShape(slots: slots)
        if let i = shapes.firstIndex(of: shape) {
            shapes.swapAt(0, i)
            return
        }
        if shapes.count == Self.maxShapes { shapes.removeLast() }
        shapes.insert(shape, at: 0)
    }

    /// The slots of `members`, reading their fields from `cursor` on (the flattener's order:
    /// depth first, in member order).
    private func shapeSlots(
        _ members: [(key: String, value: JSONValue)], prefix: String?, fields: [FlatField], cursor: inout Int, used: inout Set<Int>
    ) -> [RecordShape.Slot]? {
        var slots: [RecordShape.Slot] = []
        slots.reserveCapacity(members.count)
        for member in members {
            let key = Array(member.key.utf8)
            // Keys that needed escaping in JSON never match raw bytes; skip them.
            guard !key.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }) else { return nil }
            let source = KeyPath.join(prefix, member.key)
            guard cursor < fields.count else { return nil }
            let field = fields[cursor]
            if case .object(let inner) = member.value {
                // An object kept whole (past the depth, or empty) is the general path's to judge.
                guard field.sourceKey != source, !inner.isEmpty,
                    let children = shapeSlots(inner, prefix: source, fields: fields, cursor: &cursor, used: &used)
                else { return nil }
                slots.append(RecordShape.Slot(key: key, position: nil, children: children))
                continue
            }
            guard field.sourceKey == source, let landing = landing(of: field, isNull: member.value == .null, used: &used) else {
                return nil
            }
            slots.append(RecordShape.Slot(key: key, position: landing.position))
            cursor += 1
        }
        return slots
    }

    /// Where a field the general path fit lands, for a shape to remember: its column's position,
    /// or none for a key seen only as null (no column yet). Nil when the field is not learned: a
    /// new key path (the batch commit settles its column), a key with nothing to name a column
    /// after, an object past the overflow depth, a converted column, the overflow column (it
    /// holds a merged object, never one field's value), or a column `used` already.
    func landing(of field: FlatField, isNull: Bool, used: inout Set<Int>) -> Landing? {
        guard field.validName, !field.isNew, !field.deep else { return nil }
        let target = schema.mappings[field.column] ?? field.column
        guard schema.conversions[target] == nil else { return nil }
        guard let position = schema.position(of: target) else { return isNull ? Landing(position: nil) : nil }
        guard position != overflowPosition, used.insert(position).inserted else { return nil }
        return Landing(position: position)
    }

    /// A learned field's column (see `landing`): nil for a key seen only as null.
    struct Landing {
        var position: Int?
    }

    /// The row for `bytes` when the record has one of the learned shapes and every
    /// value fits its column exactly; nil when the general path must decide.
    public mutating func fastRow(_ bytes: UnsafeBufferPointer<UInt8>) -> [SQLValue]? {
        for i in shapes.indices {
            if let row = decode(bytes, shapes[i]) {
                if i > 0 { shapes.swapAt(0, i) }
                return row
            }
        }
        return nil
    }

    private func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ shape: RecordShape) -> [SQLValue]? {
        var p = JSONParser(bytes: bytes)
        var row = [SQLValue](repeating: .null, count: schema.columns.count)
        guard object(shape.slots, &p, into: &row) else { return nil }
        p.skipWhitespace()
        guard p.pos == bytes.count else { return nil }
        for i in schema.requiredPositions where row[i] == .null { return nil }
        return row
    }

    /// One object of the shape, `{` to `}`, its values into `row`; false at the first difference.
    private func object(_ slots: [RecordShape.Slot], _ p: inout JSONParser, into row: inout [SQLValue]) -> Bool {
        let bytes = p.bytes
        let n = bytes.count
        guard p.consume(UInt8(ascii: "{")) else { return false }
        for (i, slot) in slots.enumerated() {
            if i > 0, !p.consume(UInt8(ascii: ",")) { return false }
            guard p.consumeKey(slot.key) else { return false }
            p.skipWhitespace()
            if let children = slot.children {
                guard object(children, &p, into: &row) else { return false }
                continue
            }
            // An object would flatten into other columns: only the general path knows.
            guard p.pos < n, bytes[p.pos] != UInt8(ascii: "{") else { return false }
            guard let value = try? p.parseValue(depth: 1) else { return false }
            guard let pos = slot.position else {
                if value == .null { continue }
                return false
            }
            if case .string(let s) = value, s.utf8.count > maxValueBytes { return false }
            // The same coercion as `fit`, and only an exact fit: anything else is the
            // general path's to count, route to a variant column, or park.
            guard case .exact(let v) = Coercer.coerce(value, to: types[pos]) else { return false }
            if case .null = v, !nullable[pos] { return false }
            row[pos] = v
        }
        return p.consume(UInt8(ascii: "}"))
    }
}

/// What the shape decoders read with, besides the parser's values.
extension JSONParser {
    /// Skips whitespace, then `byte`; false (and nothing consumed past the whitespace) when
    /// another byte stands there.
    mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == byte else { return false }
        pos += 1
        return true
    }

    /// The next byte after whitespace, or nil at the end.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < bytes.count ? bytes[pos] : nil
    }

    /// The bytes of a plain string (ASCII, no escape, no control character) after whitespace,
    /// quotes excluded, with the parser past its closing quote; nil, and nothing consumed past
    /// the whitespace, for any other value. Such a string is exactly its bytes.
    mutating func plainString() -> Range<Int>? {
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { return nil }
        var i = pos + 1
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let text = (pos + 1)..<i
                pos = i + 1
                return text
            }
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { return nil }
            i += 1
        }
        return nil
    }

    /// `"key":` with exactly a learned key's bytes (a key that needed escaping is never learned).
    mutating func consumeKey(_ key: [UInt8]) -> Bool {
        skipWhitespace()
        let k = key.count
        guard pos + k + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\""), bytes[pos + k + 1] == UInt8(ascii: "\"") else {
            return false
        }
        let at = pos + 1
        for j in 0..<k where key[j] != bytes[at + j] { return false }
        pos += k + 2
        return consume(UInt8(ascii: ":"))
    }
}
