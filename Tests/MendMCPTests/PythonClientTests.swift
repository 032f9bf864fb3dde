import Foundation
import MendTestSupport
import Testing

/// End-to-end with the official Python MCP SDK as a real third-party client (installed
/// by `make test` into .venv), against the built `.build/debug/mend` on a temp SQLite
/// database. The scenario is in Tests/e2e/mcp_e2e_common.py.
@Suite(
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: PythonClient.python.path),
        "needs .venv/bin/python with the `mcp` package: run `make venv` (make test does)"),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: PythonClient.mend.path),
        "needs .build/debug/mend: run `swift build` first"),
    .serialized)
struct PythonClientTests {
    @Test func stdioTransport() async throws {
        try await PythonClient.run("mcp_stdio_e2e.py")
    }

    @Test func streamableHTTPTransport() async throws {
        try await PythonClient.run("mcp_http_e2e.py")
    }

    /// Each MCP revision at initialize, and the SDK's default mode (discover, then the handshake).
    @Test func protocolRevisions() async throws {
        try await PythonClient.run("mcp_revisions_e2e.py")
    }

    /// `mend mcp --planner sampling`: the client's model plans; without sampling, rules do.
    @Test func samplingPlanner() async throws {
        try await PythonClient.run("mcp_sampling_e2e.py")
    }
}

enum PythonClient {
    static var python: URL { Paths.repo.appendingPathComponent(".venv/bin/python") }
    static var mend: URL { Paths.repo.appendingPathComponent(".build/debug/mend") }

    static func run(_ script: String) async throws {
        let (status, output) = try await offPool { try runBlocking(script) }
        #expect(status == 0, "\(script) exited \(status):\n\(output)")
    }

    static func runBlocking(_ script: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = python
        p.currentDirectoryURL = Paths.repo
        p.arguments = [
            Paths.repo.appendingPathComponent("Tests/e2e/\(script)").path, "--mend", mend.path,
            "--workdir", Paths.tempDir().path,
        ]
        let log = Paths.tempDir().appendingPathComponent("\(script).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (p.terminationStatus, output)
    }
}

/// Runs a blocking call on a Dispatch thread: waiting for a child process on Swift's
/// cooperative pool (2 threads here) would starve every other test of threads.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
