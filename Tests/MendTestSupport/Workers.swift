public import Foundation

/// A test's failure with a message that says what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A `mend consume` process, for the tests that signal or kill workers (NATS and Kafka).
public final class Worker: @unchecked Sendable {
    // Unchecked: `process` is started in init and only read after.
    public let process = Process()
    public let log: URL

    public init(_ args: [String], log: URL) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = Paths.repo.appendingPathComponent(".build/debug/mend")
        process.arguments = ["consume"] + args
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits for the exit; nil when it did not exit within `timeout` seconds.
    public func wait(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }
}
