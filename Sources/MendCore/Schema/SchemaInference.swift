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
        var order: [String] = []
        var types: [String: LogicalType] = [:]
        for fields in records {
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
        return order.compactMap { name in types[name].map { Column(name: name, type: $0) } }
    }
}
