/// The overflow column: where a field goes when the table has no room for its own column
/// (past the policy's column budget) or it is nested deeper than the policy's overflow depth.
/// One JSON object per row (jsonb on PostgreSQL) whose keys are the fields' source paths
/// (`payload.items.0` stays `"payload.items.0"`), so every value can be read back.
public enum Overflow {
    public static let column = "_mend_overflow"
    /// At most this many distinct overflow keys are recorded per incident: a firehose of
    /// new keys must not grow one incident's drift list without bound.
    public static let maxRecordedKeys = 1_000

    /// The drift an incident records for a field that spilled into the overflow column.
    public static func drift(_ field: FlatField, why: String) -> Drift {
        let observed = field.value.inferredType
        return Drift(
            kind: .overflow, column: field.column, sourceKey: field.sourceKey, observed: observed, expected: nil,
            reason:
                "field \(JSONValue.quoted(Coercer.cap(field.sourceKey))) (\(observed?.rawValue ?? "null")) was loaded into \(column) (\(why)); `mend promote` gives it a column of its own"
        )
    }

    /// The overflow column's own definition.
    public static var definition: Column { Column(name: column, type: .json) }
}
