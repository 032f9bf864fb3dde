/// Infers the columns of a new table from its first records.
public enum SchemaInference {
    /// A new table's first schema comes from exactly this many first records (or all of a
    /// shorter input), whatever the batch size or the database: the same data always gets
    /// the same first schema (docs/decisions.md D15).
    public static let firstSchemaWindow = 10_000

    /// Columns in order of first appearance, each typed by the join of its non-null
    /// values. A field that has only been null gets no column yet: its type is unknown.
    public static func columns(from records: [[FlatField]]) -> [Column] {
        var order: [String] = []
        var types: [String: LogicalType] = [:]
        for fields in records {
            for f in fields where f.validName {
                guard let t = f.value.inferredType else { continue }
                if let existing = types[f.column] {
                    types[f.column] = existing.join(t)
                } else {
                    types[f.column] = t
                    order.append(f.column)
                }
            }
        }
        return order.compactMap { name in types[name].map { Column(name: name, type: $0) } }
    }
}
