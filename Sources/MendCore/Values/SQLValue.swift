/// A value ready to be bound or COPY-encoded. Never spliced into SQL text (invariant 4).
public enum SQLValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case text(String)

    /// The value as text, as COPY's text format and messages want it.
    public var textForm: String? {
        switch self {
        case .null: nil
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): d.description
        case .text(let s): s
        }
    }
}
