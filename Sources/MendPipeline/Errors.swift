/// Errors a user can act on; the CLI prints `description` and exits non-zero.
public enum PipelineError: Error, Sendable, CustomStringConvertible {
    case input(String)
    case invalidTable(String, String)
    case policy(String)
    case notFound(String)
    case state(String)
    case refused(String)

    public var description: String {
        switch self {
        case .input(let m): m
        case .invalidTable(let name, let why): "invalid table name '\(name)': \(why)"
        case .policy(let m): "policy: \(m)"
        case .notFound(let m): m
        case .state(let m): m
        case .refused(let m): m
        }
    }
}
