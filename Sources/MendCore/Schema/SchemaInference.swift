/// Infers the columns of a new table from its first records.
public enum SchemaInference {
    /// A new table's first schema comes from exactly this many first records (or all of a
    /// shorter input), whatever the batch size or the database: the same data always gets
    /// the same first schema (docs/decisions.md D15).
    public static let firstSchemaWindow = 10_000

    /// Columns in order of first appearance, each typed by the join of its non-null
    /// values. A field that has only been null gets no column yet: its type is unknown.
    /// Objects nested deeper than the overflow depth give the overflow column.
    public static func columns(from records: [[FlatField]]) -> [Column] {
        var window = Window()
        for fields in records { window.add(fields) }
        return window.columns
    }

    /// The inference one record at a time: a window's records need not be held at once
    /// (10,000 flattened records were most of a new table's peak memory).
    public struct Window: Sendable {
        private var order: [String] = []
        private var types: [String: LogicalType] = [:]
        /// Records added so far.
        public private(set) var records = 0

        public init() {}

        public mutating func add(_ fields: [FlatField]) {
            records += 1
            for f in fields where f.validName {
                guard var t = f.value.inferredType else { continue }
                // Nested deeper than the overflow depth: it loads into the overflow column.
                let column = f.deep ? Overflow.column : f.column
                if f.deep { t = .json }
                if let existing = types[column] {
                    types[column] = existing.join(t)
                } else {
                    types[column] = t
                    order.append(column)
                }
            }
        }

        public var columns: [Column] { order.compactMap { name in types[name].map { Column(name: name, type: $0) } } }
    }
}
