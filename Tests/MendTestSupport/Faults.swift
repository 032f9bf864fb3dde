public import Foundation
import MendPipeline

/// The PostgreSQL cluster that fault tests may stop, restart and crash: started by
/// scripts/with-postgres.sh with PostgreSQL's default settings (fsync on), apart from the
/// cluster every other test uses.
public enum FaultCluster {
    /// Superuser URL of the fault cluster; nil outside `make test`.
    public static var url: String? { ProcessInfo.processInfo.environment["MEND_TEST_PG_FAULT"] }
    static var ctl: String? { ProcessInfo.processInfo.environment["MEND_TEST_PG_FAULT_CTL"] }

    /// Runs `body` alone among the tests that use the fault cluster: suites run in
    /// parallel, and one that stops the server would fail another's run. A file lock, so
    /// that it holds across test targets (each may link its own copy of this module).
    public static func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mend-fault-cluster.lock").path
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw FaultError(message: "cannot open \(path)") }
        defer { close(fd) }
        _ = await offThePool { flock(fd, LOCK_EX) }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }

    /// A fresh schema on the fault cluster.
    public static func freshURL() -> String {
        let schema = "f_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        return (url ?? "") + "?schema=\(schema)&state_schema=\(schema)_mend"
    }

    /// `count(*)` and `count(DISTINCT id)` of a table of the schema `url` names, read with
    /// psql (an independent client), not with Mend.
    public static func counts(_ url: String, table: String) async throws -> (rows: Int, distinct: Int) {
        let base = String(url.prefix { $0 != "?" })
        let schema = url.components(separatedBy: "schema=").dropFirst().first?.prefix { $0 != "&" } ?? "public"
        let (code, out) = try await offThePool {
            try runProcessBlocking(
                URL(fileURLWithPath: "/usr/bin/psql"), [base, "-Atc", "SELECT count(*), count(DISTINCT id) FROM \"\(schema)\".\(table)"])
        }
        let parts = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
        guard code == 0, parts.count == 2 else { throw FaultError(message: "psql: \(out)") }
        return (parts[0], parts[1])
    }

    /// `restart-fast`, `restart-immediate` (a crash), `stop` or `start`; waits until done.
    public static func control(_ action: String) async throws {
        guard let ctl else { throw POSIXError(.ENOENT) }
        let (code, out) = try await offThePool { try runProcessBlocking(URL(fileURLWithPath: ctl), [action]) }
        guard code == 0 else { throw FaultError(message: "fault-ctl \(action) failed: \(out)") }
    }
}

public struct FaultError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A child process running in the background, its standard output and error gathered
/// as they come; waits are bounded, and a child still running at the bound is killed.
public final class ChildProcess: @unchecked Sendable {
    // Unchecked: `output` is behind `lock`; `process` is used through its thread-safe calls.
    public let process = Process()
    private let lock = NSLock()
    private var output = Data()

    /// Standard input, when the child was started with `stdin: true`: the test feeds it.
    public let input: FileHandle?
    /// Writes to `input` in order, one after the other.
    private let feeding = DispatchQueue(label: "mend.test.stdin")

    public init(_ executable: URL, _ args: [String], env: [String: String] = [:], stdin: Bool = false) throws {
        if stdin {
            let p = Pipe()
            process.standardInput = p
            input = p.fileHandleForWriting
        } else {
            input = nil
        }
        process.executableURL = executable
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock()
            self.output.append(d)
            self.lock.unlock()
        }
        try process.run()
    }

    /// `mend` as `make test` built it.
    public static func mend(_ args: [String], env: [String: String] = [:], stdin: Bool = false) throws -> ChildProcess {
        try ChildProcess(Paths.repo.appendingPathComponent(".build/debug/mend"), args, env: env, stdin: stdin)
    }

    /// Writes `data` to standard input without waiting for it: on a Dispatch thread, since a
    /// full pipe blocks the writer until the child reads, and a child that stops reading (it
    /// backs off) must not hold the test or a thread of Swift's pool. A write to a child that
    /// has gone fails and is dropped.
    public func feed(_ data: Data) {
        guard let input else { return }
        feeding.async { try? input.write(contentsOf: data) }
    }

    /// Closes standard input after what was fed: the child reads to its end.
    public func endInput() {
        guard let input else { return }
        feeding.async { try? input.close() }
    }

    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: output, as: UTF8.self)
    }

    public var isRunning: Bool { process.isRunning }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// SIGKILL after `seconds`, timed on a thread of its own: in the whole suite the cooperative
    /// pool (and Dispatch's) can be so busy that a wake-up comes after the child has finished,
    /// and nothing is killed. True when the child still ran and was killed.
    public func sigkill(after seconds: Double) async -> Bool {
        await withCheckedContinuation { done in
            Thread {
                usleep(UInt32(seconds * 1_000_000))
                guard self.process.isRunning else { return done.resume(returning: false) }
                Foundation.kill(self.process.processIdentifier, SIGKILL)
                done.resume(returning: true)
            }.start()
        }
    }

    /// The exit status, or nil when the child was still running after `seconds` (it is
    /// then killed, so that a hang fails the test instead of hanging the suite).
    public func wait(seconds: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return nil
        }
        return process.terminationStatus
    }

    /// Waits until the output holds `text`; false after `seconds` or when the child ended first.
    public func waitFor(_ needle: String, seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            if !process.isRunning { return text.contains(needle) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
