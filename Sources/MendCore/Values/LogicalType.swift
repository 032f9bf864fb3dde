import Foundation

/// The type lattice Mend infers and stores. Each maps to one PostgreSQL type and one
/// declared SQLite type (SQLite keeps the declared name, which Mend reads back).
public enum LogicalType: String, Codable, Sendable, CaseIterable, Hashable {
    case boolean, bigint, double, numeric, text, timestamptz, date, uuid, json

    /// The least type that holds every value of both without loss, or nil when no
    /// column type short of `json`/`text` can hold both (the caller decides).
    ///
    /// A boolean never joins with a number: `true` is not `1`.
    public func join(_ other: LogicalType) -> LogicalType {
        if self == other { return self }
        switch (self, other) {
        case (.bigint, .double), (.double, .bigint): return .double
        case (.bigint, .numeric), (.numeric, .bigint), (.double, .numeric), (.numeric, .double): return .numeric
        case (.json, _), (_, .json): return .json
        default: return .text
        }
    }

    /// Whether every value of `self` converts to `wider` and back without loss, which
    /// is what makes an ALTER from `self` to `wider` a widening.
    public func widens(to wider: LogicalType) -> Bool {
        if self == wider { return true }
        switch (self, wider) {
        case (.bigint, .numeric), (.double, .numeric): return true
        case (_, .text): return self != .json
        case (_, .json): return true
        default: return false
        }
    }

    public var postgresName: String {
        switch self {
        case .boolean: "boolean"
        case .bigint: "bigint"
        case .double: "double precision"
        case .numeric: "numeric"
        case .text: "text"
        case .timestamptz: "timestamptz"
        case .date: "date"
        case .uuid: "uuid"
        case .json: "jsonb"
        }
    }

    /// Declared type on SQLite: the PostgreSQL spelling, upper-cased (`JSON` for json),
    /// so that the same guard parses both dialects and the type reads back unchanged.
    /// SQLite's affinity rules give these the storage the values need (DOUBLE PRECISION
    /// is REAL, BIGINT is INTEGER, TEXT is TEXT, the rest keep non-numeric text as text).
    public var sqliteName: String { self == .json ? "JSON" : postgresName.uppercased() }

    /// Maps a declared or catalog type name back to the lattice; nil for a type Mend does
    /// not manage (the column is then left alone and treated as text for validation).
    public init?(sqlTypeName raw: String) {
        let name = raw.lowercased().trimmingCharacters(in: .whitespaces)
        let base = name.split(separator: "(").first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? name
        switch base {
        case "boolean", "bool": self = .boolean
        case "bigint", "int8", "integer", "int", "int4", "smallint", "int2": self = .bigint
        case "double", "double precision", "float8", "real", "float4", "float": self = .double
        case "numeric", "decimal": self = .numeric
        case "text", "varchar", "character varying", "char", "character", "bpchar", "string", "clob": self = .text
        case "timestamptz", "timestamp with time zone": self = .timestamptz
        case "date": self = .date
        case "uuid": self = .uuid
        case "json", "jsonb": self = .json
        default: return nil
        }
    }
}

/// Recognizers for the string shapes that earn a richer type than text.
public enum TextShapes {
    /// ISO-8601 / RFC 3339 date-time with an explicit offset or Z, e.g.
    /// `2026-03-01T10:00:01Z`, `2026-03-02T08:30:00.123+02:00`. Without an offset the
    /// instant is ambiguous, so such strings stay text.
    public static func isTimestampTZ(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { isTimestampTZ(bytes: $0) } ?? isTimestampTZ(bytes: Array(s.utf8))
    }

    static func isTimestampTZ<B: RandomAccessCollection<UInt8>>(bytes b: B) -> Bool where B.Index == Int {
        guard b.count >= 20, b.count <= 40, isDate(b, 0) else { return false }
        guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "t") else { return false }
        guard digits(b, 11, 2), b[13] == UInt8(ascii: ":"), digits(b, 14, 2), b[16] == UInt8(ascii: ":"), digits(b, 17, 2)
        else { return false }
        guard num(b, 11, 2) < 24, num(b, 14, 2) < 60, num(b, 17, 2) < 61 else { return false }
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            if i == start || i - start > 9 { return false }
        }
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return false }
        i += 1
        guard digits(b, i, 2), num(b, i, 2) < 24 else { return false }
        i += 2
        if i == b.count { return true }
        if b[i] == UInt8(ascii: ":") { i += 1 }
        return i + 2 == b.count && digits(b, i, 2) && num(b, i, 2) < 60
    }

    /// A calendar date `YYYY-MM-DD` that exists (leap years included).
    public static func isDate(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { $0.count == 10 && isDate($0, 0) } ?? false
    }

    public static func isUUID(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { isUUID(bytes: $0) } ?? false
    }

    static func isUUID(bytes b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if c != UInt8(ascii: "-") { return false }
            } else if !((48...57).contains(c) || (97...102).contains(c) || (65...70).contains(c)) {
                return false
            }
        }
        return true
    }

    private static func isDate<B: RandomAccessCollection<UInt8>>(_ b: B, _ o: Int) -> Bool where B.Index == Int {
        guard b.count >= o + 10, digits(b, o, 4), b[o + 4] == UInt8(ascii: "-"), digits(b, o + 5, 2),
            b[o + 7] == UInt8(ascii: "-"), digits(b, o + 8, 2)
        else { return false }
        let y = num(b, o, 4)
        let m = num(b, o + 5, 2)
        let d = num(b, o + 8, 2)
        guard y >= 1, (1...12).contains(m), d >= 1 else { return false }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return d <= days[m - 1]
    }

    private static func digits<B: RandomAccessCollection<UInt8>>(_ b: B, _ o: Int, _ n: Int) -> Bool where B.Index == Int {
        guard o + n <= b.count else { return false }
        for i in o..<(o + n) where b[i] < 48 || b[i] > 57 { return false }
        return true
    }

    private static func num<B: RandomAccessCollection<UInt8>>(_ b: B, _ o: Int, _ n: Int) -> Int where B.Index == Int {
        var v = 0
        for i in o..<(o + n) { v = v * 10 + Int(b[i] - 48) }
        return v
    }
}

extension JSONValue {
    /// The narrowest logical type for this value, or nil for null (null says nothing).
    public var inferredType: LogicalType? {
        switch self {
        case .null: return nil
        case .bool: return .boolean
        case .number(let n):
            if n.int != nil { return .bigint }
            return n.isInteger ? .numeric : .double
        case .string(let s):
            if TextShapes.isTimestampTZ(s) { return .timestamptz }
            if TextShapes.isDate(s) { return .date }
            if TextShapes.isUUID(s) { return .uuid }
            return .text
        case .array, .object: return .json
        }
    }
}
