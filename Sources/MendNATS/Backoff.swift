import Foundation

/// The waits between tries of a failing broker call: doubling from `first` up to `cap`,
/// each drawn between half and all of that (jitter, so the workers of one restarted server
/// do not come back in step), all inside a budget of seconds counted from the first failure.
struct Backoff: Sendable {
    static let first = 0.25
    static let cap = 5.0
    let budget: Double
    let started = ContinuousClock.now
    private(set) var attempts = 0

    init(budget: Double) { self.budget = budget }

    var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private var spent = false

    /// The next wait in seconds; the last one ends where the budget does, for one more try,
    /// and then nil.
    mutating func next() -> Double? {
        attempts += 1
        let left = budget - elapsed
        guard !spent, left > 0 else { return nil }
        let ceiling = min(Self.cap, Self.first * pow(2, Double(min(attempts - 1, 30))))
        let wait = Double.random(in: (ceiling / 2)...ceiling)
        if wait >= left { spent = true }
        return min(left, wait)
    }
}
