/// How dangerous a schema change is for the table and its readers.
///
/// Ordered so that `max` picks the worst of several findings.
public enum Risk: String, Codable, Sendable, CaseIterable, Comparable {
    /// Metadata-only change (nullable ADD COLUMN without a volatile default).
    case low
    /// Binary-coercible change: no rewrite, short lock.
    case medium
    /// Rewrites the table or holds ACCESS EXCLUSIVE for long.
    case high
    /// Destructive or outside the allow-list: never executed.
    case forbidden

    private var rank: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .high: 2
        case .forbidden: 3
        }
    }

    public static func < (lhs: Risk, rhs: Risk) -> Bool { lhs.rank < rhs.rank }
}
