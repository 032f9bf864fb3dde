package import Dispatch

/// Runs blocking work on a Dispatch queue and suspends until it is done: Swift's cooperative
/// pool has one thread per core (two on a small machine), and a task that blocks one of them
/// (a source's reads, parsing in `concurrentPerform`, a child process) holds up every other
/// task of the process meanwhile: servers, timers, time-bounded waits. `package`: the tests
/// run their blocking calls through this one too.
package func offThePool<T: Sendable, E: Error>(
    on queue: DispatchQueue = .global(), _ body: @escaping @Sendable () throws(E) -> T
) async throws(E) -> T {
    let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, E>, Never>) in
        queue.async { c.resume(returning: Result { () throws(E) in try body() }) }
    }
    return try result.get()
}
