public import Foundation
import NIOConcurrencyHelpers

/// How long a warehouse waits for its database and how long it keeps trying (DESIGN
/// invariant 8: nothing waits forever). One value per process, set from the command's
/// `--retry-for`, `--connect-timeout` and `--statement-timeout`.
public struct Resilience: Sendable {
    /// Seconds a transaction that failed for a transient reason (connection lost, server
    /// restarting, lock busy) is retried from its start before the error is reported.
    public var retryFor: Double
    /// Seconds to open a connection (TCP, TLS and start-up together).
    public var connectTimeout: Double
    /// Seconds one statement may run. PostgreSQL enforces it (statement_timeout); Mend
    /// also gives up on a connection that has not answered a few seconds after that, which
    /// covers a server that stopped answering altogether (a frozen host, a cut network).
    public var statementTimeout: Double
    /// Where the one line per retry goes (stderr by default); the text never holds a password.
    public var report: @Sendable (String) -> Void

    public init(
        retryFor: Double = 60, connectTimeout: Double = 5, statementTimeout: Double = 120,
        report: @escaping @Sendable (String) -> Void = Resilience.stderr
    ) {
        self.retryFor = max(0, retryFor)
        self.connectTimeout = max(0.1, connectTimeout)
        self.statementTimeout = max(0.1, statementTimeout)
        self.report = report
    }

    public static let `default` = Resilience()

    /// The client-side bound on one statement: the server's own timeout plus its time to say so.
    var watchdog: Double { statementTimeout + 5 }

    @Sendable public static func stderr(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Whether the database answered lately, for `/readyz` and `/metrics`: down since the first
/// failure to reach it, up again at the next transaction that commits. Counters only grow.
public final class DatabaseHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var up: Bool
        public var downSince: Date?
        public var lastError: String?
        public var reconnects: Int
        public var retries: Int
        /// Transactions committed by this process: what a commit costs (a WAL flush on a
        /// durable PostgreSQL) is paid this many times; `mend ingest --json` reports it.
        public var commits: Int
    }
    private let state = NIOLockedValueBox(
        Snapshot(up: true, downSince: nil, lastError: nil, reconnects: 0, retries: 0, commits: 0))

    public init() {}

    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    func markDown(_ why: String) {
        state.withLockedValue { s in
            if s.up { s.downSince = Date() }
            s.up = false
            s.lastError = why
        }
    }

    func markUp() {
        state.withLockedValue { s in
            guard !s.up else { return }
            s.up = true
            s.downSince = nil
            s.lastError = nil
        }
    }

    func countReconnect() { state.withLockedValue { $0.reconnects += 1 } }
    func countRetry() { state.withLockedValue { $0.retries += 1 } }
    func countCommit() { state.withLockedValue { $0.commits += 1 } }
}

/// Retries a transaction that failed for a transient reason, from its start, with
/// exponential backoff and jitter, until `Resilience.retryFor` runs out. Only failures
/// before COMMIT are retried: a rolled-back transaction left nothing behind, and a batch
/// commits its source position with its rows, so running it again cannot load it twice.
/// A failure during COMMIT (`StoreError.commitUnknown`) goes to the caller, which settles
/// it by reading what was committed. The sleep between tries ends at once on cancellation
/// (SIGTERM), so a process waiting for its database still stops within a second.
enum RetryLoop {
    static func run<T>(
        _ resilience: Resilience, health: DatabaseHealth, database: String, isolation: isolated (any Actor)? = #isolation,
        _ attempt: () async throws -> T
    ) async throws -> T {
        var backoff = Backoff(budget: resilience.retryFor, first: 0.1)
        while true {
            do {
                let result = try await attempt()
                health.markUp()
                health.countCommit()
                return result
            } catch let error as StoreError where error.isTransient {
                if case .unavailable(let why) = error { health.markDown(why) }
                guard let wait = backoff.next() else {
                    throw StoreError.gaveUp(database: database, seconds: Int(backoff.elapsed), tries: backoff.attempts, last: error.reason)
                }
                health.countRetry()
                resilience.report(
                    "mend: \(database): \(error.reason); try \(backoff.attempts) failed, next in \(String(format: "%.1f", wait)) s (giving up in \(Int(max(0, resilience.retryFor - backoff.elapsed))) s, --retry-for)"
                )
                try await StopSignal.shared.sleep(seconds: wait)
            }
        }
    }
}

/// The waits between tries of a failing call to a database or a broker, one definition for
/// both: doubling from `first` up to `cap`, each drawn between half and all of that (jitter,
/// so the workers of one restarted server do not come back in step), all inside a budget of
/// seconds counted from the first failure.
public struct Backoff: Sendable {
    public let budget: Double
    public let first: Double
    public let cap: Double
    let started = ContinuousClock.now
    public private(set) var attempts = 0
    private var spent = false

    public init(budget: Double, first: Double = 0.25, cap: Double = 5) {
        (self.budget, self.first, self.cap) = (budget, first, cap)
    }

    /// Seconds since the first failure.
    public var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Counts a failed try and gives the wait before the next, in seconds; the last wait
    /// ends where the budget does, for one more try, and then nil.
    public mutating func next() -> Double? {
        attempts += 1
        let left = budget - elapsed
        guard !spent, left > 0 else { return nil }
        let ceiling = min(cap, first * pow(2, Double(min(attempts - 1, 30))))
        let wait = Double.random(in: (ceiling / 2)...ceiling)
        if wait >= left { spent = true }
        return min(left, wait)
    }
}

/// A graceful shutdown (SIGTERM) under way: a process waiting between two tries has
/// nothing in flight, so it stops waiting at once instead of using up `--retry-for`.
public final class StopSignal: Sendable {
    public static let shared = StopSignal()
    private let stopped = NIOLockedValueBox(false)

    public func stop() { stopped.withLockedValue { $0 = true } }
    public var isStopped: Bool { stopped.withLockedValue { $0 } }

    /// Sleeps `seconds` in short steps; throws `StoreError.interrupted` once stopped.
    func sleep(seconds: Double) async throws {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        while true {
            if isStopped { throw StoreError.interrupted }
            let left = end - clock.now
            if left <= .zero { return }
            try await Task.sleep(for: min(left, .milliseconds(100)))
        }
    }
}

/// An answer given once by whichever of several racers comes first (a connection attempt,
/// its deadline, the caller's cancellation), awaited by one caller who never waits for the
/// losers. `resolve` says whether this call was the one that answered.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Value, any Error>?)
        case done(Result<Value, any Error>)
    }
    private let state = NIOLockedValueBox(State.waiting(nil))

    @discardableResult
    func resolve(_ result: Result<Value, any Error>) -> Bool {
        let waiter: CheckedContinuation<Value, any Error>?? = state.withLockedValue { s in
            guard case .waiting(let c) = s else { return .none }
            s = .done(result)
            return .some(c)
        }
        guard case .some(let c) = waiter else { return false }
        c?.resume(with: result)
        return true
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                let ready: Result<Value, any Error>? = state.withLockedValue { s in
                    switch s {
                    case .done(let r): return r
                    case .waiting:
                        s = .waiting(c)
                        return nil
                    }
                }
                if let ready { c.resume(with: ready) }
            }
        }
    }
}
