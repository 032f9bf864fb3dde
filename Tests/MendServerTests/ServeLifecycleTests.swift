import Foundation
import MendTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `mend serve` as a process: SIGTERM stops taking connections, answers the request in
/// flight, and exits 0; a second signal exits at once.
@Suite(
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: Paths.repo.appendingPathComponent(".build/debug/mend").path),
        "needs .build/debug/mend: run `swift build` first"),
    .serialized)
struct ServeLifecycleTests {
    static let token = "lifecycle-ingest-token-0123456789"

    struct Serving {
        let process: Process
        let port: Int
        let db: String
        let log: URL
        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    }

    static func start(shutdownTimeout: Double = 20) async throws -> Serving {
        let dir = Paths.tempDir()
        let log = dir.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = Paths.repo.appendingPathComponent(".build/debug/mend")
        let db = "sqlite:" + dir.appendingPathComponent("t.db").path
        p.arguments = ["serve", "--port", "0", "--db", db, "--shutdown-timeout", String(shutdownTimeout)]
        var env = ProcessInfo.processInfo.environment
        env["MEND_TOKEN"] = token
        p.environment = env
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        for _ in 0..<300 {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"http://127\.0\.0\.1:[0-9]+/mcp"#, options: .regularExpression) {
                let port = Int(text[r].dropFirst("http://127.0.0.1:".count).dropLast("/mcp".count)) ?? 0
                return Serving(process: p, port: port, db: db, log: log)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        p.terminate()
        throw POSIXError(.ETIMEDOUT)
    }

    static func waitForExit(_ p: Process, within seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return p.isRunning ? nil : p.terminationStatus
    }

    static func line(_ i: Int) -> String { #"{"id": \#(i), "kind": "click"}"# + "\n" }

    /// The request in flight when SIGTERM arrives is answered and committed in full.
    @Test func sigtermAnswersTheRequestInFlightThenExitsZero() async throws {
        let s = try await Self.start()
        let c = try RawConnection(port: s.port, receiveTimeout: 20)
        c.send(
            "POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
                + "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
        func chunk(_ lines: Range<Int>) -> String {
            let body = lines.map(Self.line).joined()
            return String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n"
        }
        c.send(chunk(0..<500))
        try await Task.sleep(for: .milliseconds(300))
        kill(s.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(500))
        // New connections are refused once shutdown has begun…
        #expect((try? RawConnection(port: s.port, receiveTimeout: 1)) == nil, "the listener closed")
        // …while the request in flight goes on to its end.
        c.send(chunk(500..<1000))
        c.send("0\r\n\r\n")
        let (text, _) = await c.readAll()
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(300))\n\(s.output)")
        #expect(text.contains(#""loaded":1000"#), "\(text.suffix(300))")
        let status = try await Self.waitForExit(s.process, within: 15)
        #expect(status == 0, "exit status \(String(describing: status)); log:\n\(s.output)")
    }

    /// A second signal does not wait for the request in flight.
    @Test func aSecondSignalExitsAtOnce() async throws {
        let s = try await Self.start(shutdownTimeout: 60)
        let c = try RawConnection(port: s.port, receiveTimeout: 5)
        c.send(
            "POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
                + "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
        try await Task.sleep(for: .milliseconds(200))
        kill(s.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(500))
        #expect(s.process.isRunning, "the first signal waits for the request in flight")
        kill(s.process.processIdentifier, SIGINT)
        let status = try await Self.waitForExit(s.process, within: 5)
        #expect(status != nil && status != 0, "exited at once, not cleanly: \(String(describing: status))\n\(s.output)")
    }
}
