public import MendCore
import NIOCore

/// COPY binary format (PostgreSQL docs, "Binary Format"): the server reads typed
/// values without parsing text, about a third less work than the text format for
/// Mend's usual columns, and Mend writes them with less work too (no decimal or
/// escaping). Only for column types whose wire form is simple and whose values Mend
/// has already validated; anything else, or any value this encoder is not sure of,
/// makes the caller use the text format for the batch.
enum CopyBinary {
    enum Kind: Sendable {
        case int8, float8, bool, text, timestamptz, date, uuid, jsonb
    }

    /// The kinds for `columns` as the catalog declares them (`format_type`), or nil when
    /// one of them has no binary form here (numeric, integer, varchar(n), ...).
    static func kinds(_ columns: [Column]) -> [Kind]? {
        var out: [Kind] = []
        out.reserveCapacity(columns.count)
        for c in columns {
            switch c.declaredType {
            case "bigint": out.append(.int8)
            case "double precision": out.append(.float8)
            case "boolean": out.append(.bool)
            // Unbounded varchar takes the same bytes as text; varchar(n) needs its typmod check.
            case "text", "character varying": out.append(.text)
            case "timestamp with time zone": out.append(.timestamptz)
            case "date": out.append(.date)
            case "uuid": out.append(.uuid)
            case "jsonb": out.append(.jsonb)
            default: return nil
            }
        }
        return out
    }

    /// Bytes of framing `writeHeader` and `writeTrailer` write.
    static let headerLength = 19
    static let trailerLength = 2

    /// "PGCOPY\n\377\r\n\0", flags (no OIDs), header extension length.
    static func writeHeader(to buffer: inout ByteBuffer) {
        buffer.writeBytes([0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(0))
    }

    static func writeTrailer(to buffer: inout ByteBuffer) { buffer.writeInteger(Int16(-1)) }

    /// The whole COPY payload for `rows`, or nil when a value has no sure binary form.
    static func encode(_ rows: [[SQLValue]], kinds: [Kind]) -> ByteBuffer? {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(21 + rows.count * (2 + kinds.count * 4 + 96))
        writeHeader(to: &buffer)
        for row in rows {
            guard append(row, kinds: kinds, to: &buffer) else { return nil }
        }
        writeTrailer(to: &buffer)
        return buffer
    }

    /// One tuple, written in place: its size is known before any byte is written, so
    /// the buffer grows at most once per row and each field is a plain store. False
    /// (and nothing written) when a value has no sure binary form.
    static func append(_ row: [SQLValue], kinds: [Kind], to buffer: inout ByteBuffer) -> Bool {
        guard row.count == kinds.count, row.count <= Int(Int16.max) else { return false }
        var size = 2
        for (value, kind) in zip(row, kinds) {
            guard let n = fieldSize(value, kind) else { return false }
            size += n
        }
        var ok = true
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var o = 0
            put(Int16(truncatingIfNeeded: row.count), out, &o)
            for (value, kind) in zip(row, kinds) where !writeField(value, kind, out, &o) {
                ok = false
                return 0  // nothing of the row is kept
            }
            return o
        }
        return ok
    }

    /// A row read by shape (`ShapedValue`): as `append(_:kinds:to:)`, with a text still in the
    /// record's `bytes` copied from there.
    static func append(_ row: [ShapedValue], bytes: UnsafeBufferPointer<UInt8>, kinds: [Kind], to buffer: inout ByteBuffer) -> Bool {
        guard row.count == kinds.count, row.count <= Int(Int16.max) else { return false }
        var size = 2
        for (value, kind) in zip(row, kinds) {
            switch value {
            case .value(let v):
                guard let n = fieldSize(v, kind) else { return false }
                size += n
            case .text(let range):
                guard kind == .text else { return false }
                size += 4 + range.count
            }
        }
        var ok = true
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var o = 0
            put(Int16(truncatingIfNeeded: row.count), out, &o)
            for (value, kind) in zip(row, kinds) {
                switch value {
                case .value(let v):
                    guard writeField(v, kind, out, &o) else {
                        ok = false
                        return 0
                    }
                case .text(let range):
                    put(Int32(truncatingIfNeeded: range.count), out, &o)
                    if let source = bytes.baseAddress, let target = out.baseAddress {
                        (target + o).copyMemory(from: source + range.lowerBound, byteCount: range.count)
                    }
                    o += range.count
                }
            }
            return o
        }
        return ok
    }

    /// The bytes one field takes (its length word included), nil when the value has no sure
    /// binary form.
    @inline(__always) private static func fieldSize(_ value: SQLValue, _ kind: Kind) -> Int? {
        switch (kind, value) {
        case (_, .null): 4
        case (.int8, .int), (.float8, .double), (.timestamptz, .text): 12
        case (.bool, .bool): 5
        case (.date, .text): 8
        case (.uuid, .text): 20
        case (.text, .text(let s)): 4 + s.utf8.count
        case (.jsonb, .text(let s)): 5 + s.utf8.count
        default: nil
        }
    }

    @inline(__always) private static func put<T: FixedWidthInteger>(_ v: T, _ out: UnsafeMutableRawBufferPointer, _ o: inout Int) {
        out.storeBytes(of: v.bigEndian, toByteOffset: o, as: T.self)
        o += MemoryLayout<T>.size
    }

    /// Writes one field at `o` (room was made by `fieldSize`); false when the value has no
    /// sure binary form.
    @inline(__always) private static func writeField(_ value: SQLValue, _ kind: Kind, _ out: UnsafeMutableRawBufferPointer, _ o: inout Int)
        -> Bool
    {
        switch (kind, value) {
        case (_, .null):
            put(Int32(-1), out, &o)
        case (.int8, .int(let n)):
            put(Int32(8), out, &o)
            put(n, out, &o)
        case (.float8, .double(let d)):
            put(Int32(8), out, &o)
            put(d.bitPattern, out, &o)
        case (.bool, .bool(let b)):
            put(Int32(1), out, &o)
            put(UInt8(b ? 1 : 0), out, &o)
        case (.text, .text(let s)), (.jsonb, .text(let s)):
            let count = s.utf8.count
            if kind == .jsonb {
                put(Int32(truncatingIfNeeded: count + 1), out, &o)
                put(UInt8(1), out, &o)  // jsonb's binary form: version 1, then the text
            } else {
                put(Int32(truncatingIfNeeded: count), out, &o)
            }
            copyUTF8(s, to: out, at: o)
            o += count
        case (.timestamptz, .text(let s)):
            guard let micros = timestampMicros(s) else { return false }
            put(Int32(8), out, &o)
            put(micros, out, &o)
        case (.date, .text(let s)):
            guard let days = dateDays(s) else { return false }
            put(Int32(4), out, &o)
            put(days, out, &o)
        case (.uuid, .text(let s)):
            guard let (hi, lo) = uuidHalves(s) else { return false }
            put(Int32(16), out, &o)
            put(hi, out, &o)
            put(lo, out, &o)
        default:
            return false
        }
        return true
    }

    private static func copyUTF8(_ s: String, to out: UnsafeMutableRawBufferPointer, at offset: Int) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes in
            guard let base = bytes.baseAddress, let dst = out.baseAddress else { return }
            (dst + offset).copyMemory(from: base, byteCount: bytes.count)
        }
        if done == nil {
            var o = offset
            for b in s.utf8 {
                out[o] = b
                o += 1
            }
        }
    }

    /// PostgreSQL's epoch for timestamps and dates: 2000-01-01, 10,957 days after 1970-01-01.
    static let postgresEpochDays: Int64 = 10_957

    /// Microseconds since 2000-01-01 UTC for the RFC 3339 shapes the validator accepts
    /// (`TextShapes.isTimestampTZ`). Nil for a leap second, which PostgreSQL rolls over:
    /// the text format decides that one.
    static func timestampMicros(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { b -> Int64? in
            guard b.count >= 20, b.count <= 40, let days = civilDays(b) else { return nil }
            guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
                b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
                let hh = number(b, 11, 2), let mm = number(b, 14, 2), let ss = number(b, 17, 2),
                hh < 24, mm < 60, ss < 60
            else { return nil }
            var i = 19
            var micros: Int64 = 0
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
                let digits = i - start
                guard digits >= 1, digits <= 9, let f = number(b, start, digits) else { return nil }
                if digits <= 6 {
                    micros = f
                    for _ in digits..<6 { micros *= 10 }
                } else {
                    // PostgreSQL reads the fraction with strtod and rounds with rint:
                    // the same double arithmetic gives the same microsecond (it may carry
                    // into the next second, as it does there).
                    guard let frac = Double("0." + String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
                    else { return nil }
                    micros = Int64((frac * 1_000_000).rounded(.toNearestOrEven))
                }
            }
            guard i < b.count else { return nil }
            var offset: Int64 = 0
            switch b[i] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                guard i + 1 == b.count else { return nil }
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                // PostgreSQL refuses offsets beyond 15 hours (MAX_TZDISP_HOUR): text decides.
                guard let oh = number(b, i, 2), oh <= 15 else { return nil }
                i += 2
                var om: Int64 = 0
                if i < b.count {
                    if b[i] == UInt8(ascii: ":") { i += 1 }
                    guard i + 2 == b.count, let m = number(b, i, 2), m < 60 else { return nil }
                    om = m
                }
                offset = sign * (oh * 3600 + om * 60)
            default:
                return nil
            }
            // Local time minus the zone's offset is UTC.
            let seconds = (days - postgresEpochDays) * 86_400 + hh * 3600 + mm * 60 + ss - offset
            return seconds * 1_000_000 + micros
        }
    }

    /// Days since 2000-01-01 for `YYYY-MM-DD`.
    static func dateDays(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { b -> Int32? in
            guard b.count == 10, let days = civilDays(b) else { return nil }
            return Int32(exactly: days - postgresEpochDays)
        }
    }

    /// Days since 1970-01-01 of the `YYYY-MM-DD` at the start of `b`, for a date that
    /// exists (Howard Hinnant's days_from_civil).
    private static func civilDays(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            let y = number(b, 0, 4), let m = number(b, 5, 2), let d = number(b, 8, 2),
            y >= 1, (1...12).contains(m), d >= 1
        else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard d <= monthDays[Int(m - 1)] else { return nil }
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ at: Int, _ count: Int) -> Int64? {
        guard at + count <= b.count else { return nil }
        var v: Int64 = 0
        for i in at..<(at + count) {
            let c = b[i]
            guard c >= 48, c <= 57 else { return nil }
            v = v * 10 + Int64(c - 48)
        }
        return v
    }

    /// The 16 bytes of a hyphenated UUID as two big-endian halves.
    static func uuidHalves(_ s: String) -> (UInt64, UInt64)? {
        var s = s
        return s.withUTF8 { b -> (UInt64, UInt64)? in
            guard b.count == 36 else { return nil }
            var halves: (UInt64, UInt64) = (0, 0)
            var nibbles = 0
            for i in 0..<36 {
                if i == 8 || i == 13 || i == 18 || i == 23 {
                    guard b[i] == UInt8(ascii: "-") else { return nil }
                    continue
                }
                guard let h = hex(b[i]) else { return nil }
                if nibbles < 16 {
                    halves.0 = halves.0 << 4 | UInt64(h)
                } else {
                    halves.1 = halves.1 << 4 | UInt64(h)
                }
                nibbles += 1
            }
            return halves
        }
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// One table's rows as binary COPY tuples, appended a row at a time as a reader reads them, so
/// the rows' values need not be kept until the batch commits (a nested ingest freed them on
/// the commit's side: 10 % of its CPU). `Warehouse.tupleWriter` makes one where the database
/// loads this format; `finished()` is the payload for `SQLSession.load`.
public struct CopyTuples: Sendable {
    let kinds: [CopyBinary.Kind]
    var buffer = ByteBuffer()
    public private(set) var rowCount = 0

    init?(columns: [Column]) {
        guard let kinds = CopyBinary.kinds(columns) else { return nil }
        self.kinds = kinds
        buffer.reserveCapacity(64 * 1024)
        CopyBinary.writeHeader(to: &buffer)
    }

    /// Where the next row goes: `rollback(to:)` it to drop the rows appended since.
    public var mark: Int { buffer.writerIndex }

    /// Appends one row read by shape, whose plain texts are still in the record's `bytes`;
    /// false (and nothing written) when a value has no sure binary form.
    public mutating func append(_ row: [ShapedValue], bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard CopyBinary.append(row, bytes: bytes, kinds: kinds, to: &buffer) else { return false }
        rowCount += 1
        return true
    }

    /// Drops the rows appended after `mark`, `rows` of them.
    public mutating func rollback(to mark: Int, rows: Int) {
        buffer.moveWriterIndex(to: mark)
        rowCount -= rows
    }

    /// The load of every row appended; the writer is used up (its buffer, which a copy would
    /// duplicate before the trailer is written, moves into the load).
    public consuming func finished() -> PreparedLoad {
        CopyBinary.writeTrailer(to: &buffer)
        return PreparedLoad(rowCount: rowCount, payload: buffer, binary: true)
    }
}
