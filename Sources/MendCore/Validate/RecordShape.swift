/// The key sequence of a flat record that already fit the table as a row, with the
/// column each key lands in. Records of one source mostly repeat their shape, so the
/// next record of the same shape can go from bytes to row directly: no value tree, no
/// flattening, no per-key lookups. The values still go through the same parser and
/// `Coercer` as the general path, so the fast path gives the same row or gives up.
struct RecordShape: Sendable, Equatable {
    struct Slot: Sendable, Equatable {
        /// The key exactly as it appears between the quotes of the raw line.
        var key: [UInt8]
        /// The column the key lands in; nil for a key seen only as null (no column yet).
        var position: Int?
    }
    var slots: [Slot]
}

extension Validator {
    /// At most this many shapes are tried per record: enough for a source that
    /// alternates between a few optional-field layouts, cheap when none matches.
    static let maxShapes = 4

    /// Remembers the shape of a record that the general path fit as a row with no
    /// coercion, when it is flat and its keys map one-to-one onto distinct columns.
    /// Anything less plain is not learned and keeps taking the general path.
    public mutating func learnShape(members: [(key: String, value: JSONValue)], fields: [FlatField]) {
        guard !members.isEmpty, members.count == fields.count else { return }
        var slots: [RecordShape.Slot] = []
        slots.reserveCapacity(members.count)
        var used = Set<Int>()
        for (member, field) in zip(members, fields) {
            // A nested object flattens into other columns: the general path's job.
            if case .object = member.value { return }
            // A new key path's column is settled by the batch commit: not learned before.
            guard field.validName, !field.isNew, field.sourceKey == member.key else { return }
            let key = Array(member.key.utf8)
            // Keys that needed escaping in JSON never match raw bytes; skip them.
            guard !key.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }) else { return }
            let target = schema.mappings[field.column] ?? field.column
            guard schema.conversions[target] == nil else { return }
            let position = schema.position(of: target)
            // The overflow column holds a merged object, never one field's value.
            guard position == nil || position != overflowPosition else { return }
            if let position {
                guard used.insert(position).inserted else { return }
            } else if member.value != .null {
                return
            }
            slots.append(RecordShape.Slot(key: key, position: position))
        }
        let shape = RecordShape(slots: slots)
        if let i = shapes.firstIndex(of: shape) {
            shapes.swapAt(0, i)
            return
        }
        if shapes.count == Self.maxShapes { shapes.removeLast() }
        shapes.insert(shape, at: 0)
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
        let n = bytes.count
        p.skipWhitespace()
        guard p.pos < n, bytes[p.pos] == UInt8(ascii: "{") else { return nil }
        p.pos += 1
        var row = [SQLValue](repeating: .null, count: schema.columns.count)
        for (i, slot) in shape.slots.enumerated() {
            p.skipWhitespace()
            if i > 0 {
                guard p.pos < n, bytes[p.pos] == UInt8(ascii: ",") else { return nil }
                p.pos += 1
                p.skipWhitespace()
            }
            // "key" with exactly the learned bytes.
            let k = slot.key.count
            guard p.pos + k + 2 <= n, bytes[p.pos] == UInt8(ascii: "\""), bytes[p.pos + k + 1] == UInt8(ascii: "\"") else {
                return nil
            }
            let at = p.pos + 1
            for j in 0..<k where slot.key[j] != bytes[at + j] { return nil }
            p.pos += k + 2
            p.skipWhitespace()
            guard p.pos < n, bytes[p.pos] == UInt8(ascii: ":") else { return nil }
            p.pos += 1
            p.skipWhitespace()
            // An object would flatten into other columns: only the general path knows.
            guard p.pos < n, bytes[p.pos] != UInt8(ascii: "{") else { return nil }
            guard let value = try? p.parseValue(depth: 1) else { return nil }
            guard let pos = slot.position else {
                if value == .null { continue }
                return nil
            }
            if case .string(let s) = value, s.utf8.count > maxValueBytes { return nil }
            // The same coercion as `fit`, and only an exact fit: anything else is the
            // general path's to count, route to a variant column, or park.
            guard case .exact(let v) = Coercer.coerce(value, to: types[pos]) else { return nil }
            if case .null = v, !nullable[pos] { return nil }
            row[pos] = v
        }
        p.skipWhitespace()
        guard p.pos < n, bytes[p.pos] == UInt8(ascii: "}") else { return nil }
        p.pos += 1
        p.skipWhitespace()
        guard p.pos == n else { return nil }
        for i in schema.requiredPositions where row[i] == .null { return nil }
        return row
    }
}
