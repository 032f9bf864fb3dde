import ArgumentParser

/// An incident id on the command line: `7`, or `#7` as `mend incidents` prints it.
struct IncidentID: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var value: Int64

    init?(argument: String) {
        guard let id = try? Self.parse(argument) else { return nil }
        self = id
    }

    init(_ value: Int64) { self.value = value }

    /// Parses with a message that says what an id looks like and where to find one;
    /// `init?(argument:)` can only say "invalid", so `IncidentArgument` uses this.
    static func parse(_ s: String) throws -> IncidentID {
        guard let id = Int64(s.hasPrefix("#") ? String(s.dropFirst()) : s), id > 0 else {
            throw ValidationError("'\(s)' is not an incident id; run `mend incidents` to list them")
        }
        return IncidentID(id)
    }

    var description: String { "\(value)" }
}
