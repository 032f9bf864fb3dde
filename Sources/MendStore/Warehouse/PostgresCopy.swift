import Logging
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
/// So the payload goes in one write (the first write finds the channel writable, so it
/// never waits for relief), and everything from the check that the connection is open to
/// `CopyDone` runs on the connection's event loop in one go (`EventLoopExecutor`): no
/// close can be processed in between. When the connection did close first, the error is
/// thrown only after the channel's handlers are gone, which the library then answers with
/// an error instead of a trap.
enum PostgresCopy {
    static func copy(
        on conn: PostgresConnection, table: String, columns: [String], logger: Logger, _ payload: () throws -> ByteBuffer
    ) async throws {
        try await withTaskExecutorPreference(EventLoopExecutor(conn.eventLoop)) {
            try await conn.copyFrom(table: table, columns: columns, logger: logger) { writer in
                let bytes: ByteBuffer
                do {
                    bytes = try payload()
                } catch {
                    try await settleIfClosed(conn)
                    throw error
                }
                try await settleIfClosed(conn)
                // No suspension from here to the library's CopyDone: all of it in this tick.
                try await writer.write(bytes)
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
