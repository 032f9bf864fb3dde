import NIOConcurrencyHelpers

/// One transaction at a time on a warehouse's connection, first come first served.
/// Both adapters hold one connection for the pipeline's writes; this is the queue in
/// front of it. Waiters suspend (no thread blocks), and `unlock` hands the lock to the
/// oldest waiter directly, so a newcomer cannot overtake it.
final class TransactionLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    func lock() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let acquired = state.withLockedValue { s -> Bool in
                if s.held {
                    s.waiters.append(c)
                    return false
                }
                s.held = true
                return true
            }
            if acquired { c.resume() }
        }
    }

    /// Takes the lock only when it is free now.
    func tryLock() -> Bool {
        state.withLockedValue { s in
            if s.held { return false }
            s.held = true
            return true
        }
    }

    func unlock() {
        let next = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
