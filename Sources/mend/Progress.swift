import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-line progress bar on standard error for `mend ingest`: records so far, records/s,
/// and a bar when the input is a regular file (its line count estimated from the first
/// 64 KiB). Only on a terminal: piped or redirected output stays clean.
final class ProgressBar: @unchecked Sendable {  // mutable state is guarded by `lock`
    private let lock = NSLock()
    private let started = Date()
    private var lastDraw = Date.distantPast
    private let estimatedLines: Double?
    private var drawn = false

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    init(path: String) {
        estimatedLines = Self.estimateLines(path)
    }

    static func estimateLines(_ path: String) -> Double? {
        guard path != "-", let attrs = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attrs[.size] as? NSNumber)?.doubleValue, size > 0, let h = FileHandle(forReadingAtPath: path)
        else { return nil }
        defer { try? h.close() }
        let sample = h.readData(ofLength: 64 << 10)
        let newlines = sample.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        guard newlines > 0 else { return nil }
        return size / (Double(sample.count) / Double(newlines))
    }

    /// Called after each committed batch; redraws at most ten times a second.
    func update(_ lines: Int64) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        draw(lines, now: now)
    }

    private func draw(_ lines: Int64, now: Date) {
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(lines) / elapsed
        var line = ""
        if let total = estimatedLines {
            let fraction = min(Double(lines) / total, 0.99)  // an estimate: never claim done early
            let width = 30
            let filled = Int(fraction * Double(width))
            line = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            line += String(format: "%3.0f%% ", fraction * 100)
        }
        line += "\(lines) records, \(Int(rate)) records/s"
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        drawn = true
    }

    /// Clears the line so the summary prints cleanly.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
