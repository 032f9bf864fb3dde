/// The ways a record can fail to fit its table.
public enum DriftKind: String, Codable, Sendable, CaseIterable, Comparable {
    case unknownField = "unknown_field"
    case typeMismatch = "type_mismatch"
    case missingRequired = "missing_required"
    case unparseable
    case invalidIdentifier = "invalid_identifier"
    case valueTooLarge = "value_too_large"
    /// More fields than the policy's `max_record_fields`: parked whole, never a table's worth of columns.
    case recordTooLarge = "record_too_large"
    /// A field that loaded into the table's JSON overflow column (past the column budget, or
    /// nested deeper than the policy's overflow depth): nothing parks; the incident records it
    /// so that a person can promote the field to its own column (`promote_field`).
    case overflow

    public static func < (a: DriftKind, b: DriftKind) -> Bool { a.rawValue < b.rawValue }
}

/// One reason one record does not fit, phrased for the person who reads it at 2 a.m.
public struct Drift: Sendable, Equatable, Codable {
    public var kind: DriftKind
    public var column: String
    public var sourceKey: String
    /// The type the value has (nil for missing values).
    public var observed: LogicalType?
    /// The column's type (nil for unknown fields).
    public var expected: LogicalType?
    public var reason: String

    public init(
        kind: DriftKind, column: String, sourceKey: String, observed: LogicalType?, expected: LogicalType?,
        reason: String
    ) {
        self.kind = kind
        self.column = column
        self.sourceKey = sourceKey
        self.observed = observed
        self.expected = expected
        self.reason = reason
    }

    /// A row the database refused though validation let it through (a value out of range, a
    /// constraint added by hand): its record parks with the database's own words.
    public static func rejectedByDatabase(_ message: String) -> Drift {
        Drift(
            kind: .typeMismatch, column: "", sourceKey: "", observed: nil, expected: nil,
            reason: "the database rejected the row: \(message)")
    }

    /// What makes two drifts "the same problem": records whose drifts share signatures
    /// are grouped into one incident and fixed by one plan.
    public var signature: String {
        "\(kind.rawValue):\(column):\(observed?.rawValue ?? "-")"
    }

    /// The signature of a record's drift set, order-independent.
    public static func signature(of drifts: [Drift]) -> String {
        Array(Set(drifts.map(\.signature))).sorted().joined(separator: "|")
    }
}
