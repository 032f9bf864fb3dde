import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// COPY FROM STDIN through postgres-nio 1.33, made safe against a connection that dies
/// mid-COPY (a restart, `pg_terminate_backend`). The library's copy writer has two faults
/// there, both seen in PostgresFaultTests:
/// - a write waiting for backpressure relief is dropped when the server's error arrives,
///   so the COPY waits forever (the hang of issue 27);
/// - `CopyDone` or `CopyFail` sent after the connection's state machine left the query
///   state stops the process on a `preconditionFailure`.
///
/// So the payload goes in one write, raced against the connection's close (a write
/// whose wait was dropped is left behind, with its buffer: rare, and bounded by the
/// number of outages). The code runs on the connection's event loop (`EventLoopExecutor`),
/// so the last check that the connection is open and the library's `CopyDone` happen in
/// one event-loop tick: no close can be processed in between. When the connection did
/// close, the error is thrown only after the channel's handlers are gone, which the
/// library then answers with an error instead of a trap.
enum PostgresCopy {
    static func copy(
        on conn: PostgresConnection, table: String, columns: [String], logger: Logger, _ payload: () throws -> ByteBuffer
    ) async throws {
        let executor = EventLoopExecutor(conn.eventLoop)
        try await withTaskExecutorPreference(executor) {
            try await conn.copyFrom(table: table, columns: columns, logger: logger) { writer in
                let bytes: ByteBuffer
                do {
                    bytes = try payload()
                } catch {
                    try await settleIfClosed(conn)
                    throw error
                }
                try await settleIfClosed(conn)
                do {
                    try await write(bytes, with: writer, on: conn, executor: executor)
                } catch {
                    try await settleIfClosed(conn)
                    throw error
                }
                // Returning leads straight to the library's CopyDone, in this same tick.
                try await settleIfClosed(conn)
            }
        }
    }

    /// The write, or the connection's close, whichever comes first.
    private static func write(
        _ bytes: ByteBuffer, with writer: PostgresCopyFromWriter, on conn: PostgresConnection, executor: EventLoopExecutor
    ) async throws {
        let done = NIOLockedValueBox(false)
        var watcher: Task<Void, Never>?
        defer { watcher?.cancel() }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            @Sendable func finish(_ r: Result<Void, any Error>) {
                if done.withLockedValue({ d in
                    defer { d = true }; return !d
                }) {
                    c.resume(with: r)
                }
            }
            Task(executorPreference: executor) {
                do {
                    try await writer.write(bytes)
                    finish(.success(()))
                } catch {
                    finish(.failure(error))
                }
            }
            watcher = Task {
                while !Task.isCancelled, !done.withLockedValue({ $0 }) {
                    if conn.isClosed {
                        finish(.failure(StoreError.unavailable("the connection closed during COPY")))
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
    }

    /// When the connection is already closed: waits until its pipeline is torn down, then
    /// throws, so that the library's CopyFail finds no handler and fails softly.
    private static func settleIfClosed(_ conn: PostgresConnection) async throws {
        guard conn.isClosed else { return }
        try? await conn.closeFuture.get()
        try? await Task.sleep(for: .milliseconds(20))
        throw StoreError.unavailable("the connection closed during COPY")
    }
}

/// Runs Swift jobs on a NIO event loop, so that async code can check a connection and
/// call into postgres-nio within one event-loop tick (see `PostgresCopy`).
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
