import Foundation

/// Failed dashboard logins allowed per window: after `maxFailures` wrong tokens within
/// `window` seconds, every login (right or wrong) is refused until the oldest failure
/// leaves the window, so the token cannot be guessed at network speed. A pure value,
/// tested without a clock or a socket; the server keeps one for all clients, since a
/// request carries no trustworthy client address on the loopback listener.
struct LoginThrottle: Sendable {
    var maxFailures = 5
    var window: TimeInterval = 60
    private(set) var failures: [Date] = []

    /// Nil when a login may be tried now, else the seconds to wait.
    mutating func retryAfter(now: Date) -> TimeInterval? {
        failures.removeAll { now.timeIntervalSince($0) >= window }
        guard failures.count >= maxFailures, let oldest = failures.first else { return nil }
        return max(1, window - now.timeIntervalSince(oldest))
    }

    mutating func failed(now: Date) {
        failures.append(now)
        if failures.count > maxFailures { failures.removeFirst(failures.count - maxFailures) }
    }
}
