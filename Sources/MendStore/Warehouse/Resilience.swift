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
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(resilience.retryFor)
        var delay = 0.1
        var tries = 0
        while true {
            tries += 1
            do {
                let result = try await attempt()
                health.markUp()
                health.countCommit()
                return result
            } catch let error as StoreError where error.isTransient {
                if case .unavailable(let why) = error { health.markDown(why) }
                // Full jitter around the current step keeps several workers from retrying in step.
                let wait = delay * Double.random(in: 0.5...1.5)
                let left = deadline - clock.now
                if left < .seconds(wait) {
                    let waited = (clock.now - started).components.seconds
                    throw StoreError.gaveUp(database: database, seconds: Int(waited), tries: tries, last: error.reason)
                }
                health.countRetry()
                resilience.report(
                    "mend: \(database): \(error.reason); try \(tries) failed, next in \(String(format: "%.1f", wait)) s (giving up in \(Int(left.components.seconds)) s, --retry-for)"
                )
                try await StopSignal.shared.sleep(seconds: wait)
                delay = min(delay * 2, 5)
            }
        }
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

/// A deadline on one call to a database that may stop answering: after `seconds`,
/// `expire` runs (the adapter closes the connection, which fails the call in flight)
/// unless the call returned first.
struct Watchdog: Sendable {
    private let task: Task<Void, Never>
    private let fired = NIOLockedValueBox(false)

    init(seconds: Double, expire: @escaping @Sendable () async -> Void) {
        let fired = self.fired
        task = Task {
            do {
                try await Task.sleep(for: .seconds(seconds))
            } catch {
                return
            }
            fired.withLockedValue { $0 = true }
            await expire()
        }
    }

    var didFire: Bool { fired.withLockedValue { $0 } }
    func cancel() { task.cancel() }
}
