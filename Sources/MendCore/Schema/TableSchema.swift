public struct Column: Sendable, Equatable, Codable {
    public var name: String
    /// Nil for a type Mend does not manage (then validation treats it as text).
    public var type: LogicalType?
    /// The type as the database declares it (`double precision`, `VARCHAR(20)`, ...).
    public var declaredType: String
    public var nullable: Bool

    public init(name: String, type: LogicalType?, declaredType: String? = nil, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.declaredType = declaredType ?? type?.rawValue ?? "text"
        self.nullable = nullable
    }
}

/// A table as the catalog reports it, plus what Mend remembers about it.
public struct TableSchema: Sendable, Equatable {
    public var name: String
    public private(set) var columns: [Column]
    private var index: [String: Int]
    /// Positions of NOT NULL columns, checked for every record (usually none), kept
    /// here so the check costs nothing per record.
    public private(set) var requiredPositions: [Int]
    /// Source column names that land in another column (`map_field` repairs).
    public var mappings: [String: String]
    /// Which column each source key path lands in, for the life of the table (KeyMap).
    public var keys: KeyMap
    /// Conversions applied to a column's incoming values before validation.
    public var conversions: [String: ValueConversion]
    public var version: Int

    public init(
        name: String, columns: [Column], mappings: [String: String] = [:],
        conversions: [String: ValueConversion] = [:], version: Int = 1, keys: KeyMap = KeyMap()
    ) {
        self.name = name
        self.columns = columns
        self.index = Dictionary(columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.requiredPositions = columns.indices.filter { !columns[$0].nullable }
        self.mappings = mappings
        self.conversions = conversions
        self.version = version
        self.keys = keys
    }

    /// The same table with the catalog's columns as they are now (after DDL): what Mend keeps
    /// about it (mappings, conversions, key map, version) is its own and carried.
    public func replacingColumns(_ columns: [Column]) -> TableSchema {
        TableSchema(name: name, columns: columns, mappings: mappings, conversions: conversions, version: version, keys: keys)
    }

    public func column(named name: String) -> Column? { index[name].map { columns[$0] } }
    public func position(of name: String) -> Int? { index[name] }

    public mutating func append(_ column: Column) {
        guard index[column.name] == nil else { return }
        index[column.name] = columns.count
        if !column.nullable { requiredPositions.append(columns.count) }
        columns.append(column)
    }
}

/// A value conversion a planner can ask for when a type change carries meaning that
/// no lossless coercion sees (epoch seconds that are really timestamps, cents vs euros).
public enum ValueConversion: Sendable, Equatable, Codable, Hashable {
    case epochSecondsToTimestamp
    case epochMillisToTimestamp
    case timestampToEpochSeconds
    case numericString
    case scale(factor: Double)

    public var name: String {
        switch self {
        case .epochSecondsToTimestamp: "epoch_seconds_to_timestamptz"
        case .epochMillisToTimestamp: "epoch_millis_to_timestamptz"
        case .timestampToEpochSeconds: "iso8601_to_epoch_seconds"
        case .numericString: "numeric_string_to_number"
        case .scale(let f): "scale_by_\(f)"
        }
    }
}

extension TableSchema {
    /// The source key paths (KeyPath text) of each column: the key paths the key map sends
    /// there or a `map_field` joined to it; for a variant column (`col__v_<type>`), its base
    /// column's; for the overflow column, the key paths recorded as loaded into it.
    public func sources(overflowKeys: Set<String> = []) -> [String: [String]] {
        var out: [String: Set<String>] = [:]
        for (key, own) in keys.columns {
            let column = mappings[own] ?? own
            if index[column] != nil { out[column, default: []].insert(key) }
        }
        for c in columns {
            guard let base = out[c.name] else { continue }
            for t in LogicalType.allCases {
                let variant = Identifier.shorten("\(c.name)__v_\(t.rawValue)")
                if index[variant] != nil { out[variant, default: []].formUnion(base) }
            }
        }
        if index[Overflow.column] != nil, !overflowKeys.isEmpty { out[Overflow.column, default: []].formUnion(overflowKeys) }
        return out.mapValues { $0.sorted() }
    }
}
