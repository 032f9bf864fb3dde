import NIOConcurrencyHelpers

struct DeadlineExceeded: Error, CustomStringConvertible {
    var what: String
    var after: Duration
    var description: String { "\(what) did not finish within \(after)" }
}

/// Runs `operation` and gives up after `timeout`, even if the operation ignores
/// cancellation (a task group would wait for it; this abandons it).
func withDeadline<T: Sendable>(
    _ timeout: Duration, what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = Once<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
            once.set(continuation: k)
            let work = Task {
                do { once.finish(.success(try await operation())) } catch { once.finish(.failure(error)) }
            }
            let timer = Task {
                try await Task.sleep(for: timeout)
                once.finish(.failure(DeadlineExceeded(what: what, after: timeout)))
            }
            once.set(cancellers: [{ work.cancel() }, { timer.cancel() }])
        }
    } onCancel: {
        once.finish(.failure(CancellationError()))
    }
}

/// Resumes a continuation exactly once, then cancels the tasks racing for it.
final class Once<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var continuation: CheckedContinuation<T, any Error>?
        var cancellers: [@Sendable () -> Void] = []
        var resumed = false
    }
    private let state = NIOLockedValueBox(State())

    func set(continuation k: CheckedContinuation<T, any Error>) {
        let early = state.withLockedValue { s -> Result<T, any Error>? in
            s.continuation = k
            if s.result != nil { s.resumed = true }
            return s.result
        }
        if let early { k.resume(with: early) }
    }

    func set(cancellers c: [@Sendable () -> Void]) {
        let finished = state.withLockedValue { s -> Bool in
            if s.result == nil { s.cancellers = c }
            return s.result != nil
        }
        if finished { c.forEach { $0() } }
    }

    func finish(_ r: Result<T, any Error>) {
        let (k, c) = state.withLockedValue { s -> (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) in
            guard s.result == nil else { return (nil, []) }
            s.result = r
            let k = s.resumed ? nil : s.continuation
            if k != nil { s.resumed = true }
            defer { s.cancellers = [] }
            return (k, s.cancellers)
        }
        k?.resume(with: r)
        c.forEach { $0() }
    }
}
