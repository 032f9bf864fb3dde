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
            // A new key path's column is settled by the batch commit: not learned before.
            guard field.validName, !field.isNew, !field.deep, field.sourceKey == source else { return nil }
            let target = schema.mappings[field.column] ?? field.column
            guard schema.conversions[target] == nil else { return nil }
            let position = schema.position(of: target)
            // The overflow column holds a merged object, never one field's value.
            guard position == nil || position != overflowPosition else { return nil }
            if let position {
                guard used.insert(position).inserted else { return nil }
            } else if member.value != .null {
                return nil
            }
            slots.append(RecordShape.Slot(key: key, position: position))
            cursor += 1
        }
        return slots
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
        p.skipWhitespace()
        guard p.pos < n, bytes[p.pos] == UInt8(ascii: "{") else { return false }
        p.pos += 1
        for (i, slot) in slots.enumerated() {
            p.skipWhitespace()
            if i > 0 {
                guard p.pos < n, bytes[p.pos] == UInt8(ascii: ",") else { return false }
                p.pos += 1
                p.skipWhitespace()
            }
            // "key" with exactly the learned bytes.
            let k = slot.key.count
            guard p.pos + k + 2 <= n, bytes[p.pos] == UInt8(ascii: "\""), bytes[p.pos + k + 1] == UInt8(ascii: "\"") else {
                return false
            }
            let at = p.pos + 1
            for j in 0..<k where slot.key[j] != bytes[at + j] { return false }
            p.pos += k + 2
            p.skipWhitespace()
            guard p.pos < n, bytes[p.pos] == UInt8(ascii: ":") else { return false }
            p.pos += 1
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
        p.skipWhitespace()
        guard p.pos < n, bytes[p.pos] == UInt8(ascii: "}") else { return false }
        p.pos += 1
        return true
    }
}
