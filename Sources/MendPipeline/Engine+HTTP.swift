import Crypto
import Foundation
import MendCore
import MendStore

/// What `ingest(body:...)` reports: the summary, and whether it was answered from an
/// earlier request with the same idempotency key (nothing was loaded this time).
public struct HTTPIngestResult: Sendable, Codable, Equatable {
    public var summary: IngestSummary
    public var replayed: Bool
}

/// A body that is not a JSON object, a JSON array or NDJSON. The server answers 4xx.
public enum IngestBodyError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case notJSON(String)
    case keyReused(String)

    public var description: String {
        switch self {
        case .empty: "the request body is empty: send a JSON object, a JSON array of objects, or NDJSON (one object per line)"
        case .notJSON(let why): "the request body is not JSON: \(why); send a JSON object, a JSON array of objects, or NDJSON"
        case .keyReused(let key):
            "Idempotency-Key \"\(key)\" was already used with a different body or table; use a new key for new data"
        }
    }
}

/// Totals for `/metrics`, read from Mend's state so that work done by other processes
/// on the same database (`mend ingest`, `mend approve`) is counted too.
public struct MetricsSnapshot: Sendable {
    public var loaded: Int64 = 0
    public var parked: Int64 = 0
    public var quarantined: Int64 = 0
    public var incidentsOpened: Int64 = 0
    public var incidentsResolved: Int64 = 0
    public var openIncidents: Int64 = 0
    /// Applied plans by their highest statement risk.
    public var repairsByRisk: [String: Int64] = [:]
    /// (incident id, seconds from first parked record to resolving replay).
    public var repairTimes: [(Int64, Double)] = []
    /// Planner token use and estimated cost, per model.
    public var usage: [(model: String, tokensIn: Int64, tokensOut: Int64, cost: Double)] = []
}

extension Engine {
    /// The state table that remembers idempotency keys. Created beside Mend's other
    /// state tables, with the request's body hash and the answer given.
    nonisolated var idempotencyTable: String { warehouse.stateTable("idempotency") }

    /// The idempotency table is part of Mend's state (StateStore.bootstrap), so a
    /// least-privilege role finds it created by `mend setup-roles`.
    func bootstrapHTTP() async throws {
        try await bootstrap()
    }

    /// Ingests an HTTP body (a JSON object, a JSON array of objects, or NDJSON) and
    /// returns after every record is committed, parked or quarantined.
    ///
    /// The body goes through the same file path as `mend ingest` — durable, batched,
    /// resumable — via a spool file. With an idempotency key the spool file's name is
    /// derived from (key, table), so the source offset that `ingest` commits in the same
    /// transaction as the rows makes a retry after a crash skip what was already loaded,
    /// and a retry after success is answered from the stored response. Callers serialize
    /// requests with the same key (MendServer does, per process).
    public func ingest(body: Data, table: String, idempotencyKey: String?, spoolDirectory: URL) async throws
        -> HTTPIngestResult
    {
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        let ndjson = try NDJSONBody.normalize(body)
        try await bootstrap()
        try FileManager.default.createDirectory(at: spoolDirectory, withIntermediateDirectories: true)
        guard let key = idempotencyKey else {
            let file = spoolDirectory.appendingPathComponent("req-\(UUID().uuidString).ndjson")
            try ndjson.write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let summary = try await ingest(
                path: file.path, table: table, resume: false, sourceName: "http:" + file.deletingPathExtension().lastPathComponent)
            return HTTPIngestResult(summary: summary, replayed: false)
        }
        try await bootstrapHTTP()
        let digest = SHA256.hash(data: ndjson).map { String(format: "%02x", $0) }.joined()
        let t = idempotencyTable
        let existing = try await warehouse.transaction { s in
            try await s.query("SELECT body_sha256, status, response FROM \(t) WHERE key = ? AND tbl = ?", [.text(key), .text(table)])
        }
        if let row = existing.first {
            guard row[0].string == digest else { throw IngestBodyError.keyReused(key) }
            if row[1].string == "done", let text = row[2].string,
                let summary = try? JSONDecoder().decode(IngestSummary.self, from: Data(text.utf8))
            {
                return HTTPIngestResult(summary: summary, replayed: true)
            }
            // "started": an earlier attempt died mid-way; resume from its committed offset.
        } else {
            try await warehouse.transaction { s in
                try await s.execute(
                    "INSERT INTO \(t) (key, tbl, body_sha256, status, created_at) VALUES (?, ?, ?, 'started', ?)",
                    [.text(key), .text(table), .text(digest), .double(Date().timeIntervalSince1970)])
            }
        }
        let name = SHA256.hash(data: Data("\(table)\u{0}\(key)".utf8)).map { String(format: "%02x", $0) }.joined()
        let file = spoolDirectory.appendingPathComponent("key-\(name).ndjson")
        try ndjson.write(to: file)  // same bytes as any earlier attempt: the digest matched
        let summary = try await ingest(
            path: file.path, table: table, resume: true, sourceName: "http:" + file.deletingPathExtension().lastPathComponent)
        let response = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        try await warehouse.transaction { s in
            try await s.execute(
                "UPDATE \(t) SET status = 'done', response = ? WHERE key = ? AND tbl = ?", [.text(response), .text(key), .text(table)])
        }
        try? FileManager.default.removeItem(at: file)
        return HTTPIngestResult(summary: summary, replayed: false)
    }

    /// Totals for `/metrics`.
    public func metricsSnapshot() async throws -> MetricsSnapshot {
        let stats = try await stats()
        let incidents = try await incidents()
        let times = try await repairTimes()
        let plans = warehouse.stateTable("plans")
        let usageTable = warehouse.stateTable("usage")
        let (planRows, usageRows) = try await warehouse.transaction { s in
            (
                try await s.query("SELECT verdicts FROM \(plans) WHERE status = 'applied'", []),
                try await s.query(
                    "SELECT COALESCE(model, ''), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), COALESCE(SUM(cost), 0) FROM \(usageTable) GROUP BY model",
                    [])
            )
        }
        var m = MetricsSnapshot()
        for t in stats {
            m.loaded += t.loaded
            m.parked += t.parked
            m.quarantined += t.quarantined
        }
        m.incidentsOpened = Int64(incidents.count)
        m.incidentsResolved = Int64(incidents.filter { $0.status == .resolved }.count)
        m.openIncidents = Int64(incidents.filter { $0.status == .open || $0.status == .pendingApproval }.count)
        for row in planRows {
            let verdicts = row[0].string.flatMap { try? JSONDecoder().decode([StatementVerdict].self, from: Data($0.utf8)) } ?? []
            let risk = verdicts.map(\.risk).max() ?? .low
            m.repairsByRisk[risk.rawValue, default: 0] += 1
        }
        m.repairTimes = times.map { ($0.0, $0.2) }
        m.usage = usageRows.map { r in
            (r[0].string ?? "", r[1].int ?? 0, r[2].int ?? 0, r[3].double ?? 0)
        }
        return m
    }
}

/// Turns an ingest body into NDJSON without re-encoding any record: numbers, key order
/// and escapes reach the pipeline exactly as sent.
public enum NDJSONBody {
    public static func normalize(_ body: Data) throws -> Data {
        let bytes = [UInt8](body)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { throw IngestBodyError.empty }
        switch bytes[first] {
        case UInt8(ascii: "["):
            return try splitArray(bytes, from: first)
        case UInt8(ascii: "{"):
            // One object (perhaps pretty-printed over many lines) or NDJSON.
            let end = try valueEnd(bytes, from: first)
            if bytes[end...].allSatisfy(isSpace) { return Data(oneLine(bytes[first..<end]) + [0x0A]) }
            return body  // NDJSON: a line that is not JSON is quarantined by the pipeline, not rejected
        default:
            throw IngestBodyError.notJSON("it starts with \(describe(bytes[first])), not '{' or '['")
        }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func describe(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "byte 0x%02x", b)
    }

    /// Index just past the JSON value (object or array) that starts at `start`.
    static func valueEnd(_ bytes: [UInt8], from start: Int) throws -> Int {
        var scan = Scanner()
        for i in start..<bytes.count where scan.step(bytes[i]) {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["): scan.depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                scan.depth -= 1
                if scan.depth == 0 { return i + 1 }
            default: break
            }
        }
        throw IngestBodyError.notJSON(
            "the \(bytes[start] == UInt8(ascii: "[") ? "array" : "object") that starts at byte \(start) is not closed")
    }

    /// Top-level elements of an array, one per line. Elements that are not objects are
    /// passed on and quarantined by the pipeline like any record that is not an object.
    static func splitArray(_ bytes: [UInt8], from start: Int) throws -> Data {
        let end = try valueEnd(bytes, from: start)
        guard bytes[end...].allSatisfy(isSpace) else {
            throw IngestBodyError.notJSON("there is more after the closing ']' at byte \(end - 1)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = start + 1
        while i < end - 1 {
            while i < end - 1, isSpace(bytes[i]) { i += 1 }
            if i >= end - 1 { break }
            // An element runs to the next top-level comma.
            var j = i
            var scan = Scanner()
            while j < end - 1 {
                let b = bytes[j]
                if scan.step(b) {
                    if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                        scan.depth += 1
                    } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                        scan.depth -= 1
                    } else if b == UInt8(ascii: ","), scan.depth == 0 {
                        break
                    }
                }
                j += 1
            }
            var element = bytes[i..<j]
            while let last = element.last, isSpace(last) { element = element.dropLast() }
            if element.isEmpty { throw IngestBodyError.notJSON("the array has an empty element before byte \(j)") }
            out += oneLine(element)
            out.append(0x0A)
            i = j + 1
        }
        return Data(out)
    }

    /// A value on one line: newlines outside strings are whitespace and become spaces.
    /// (Inside strings JSON forbids raw newlines, so those are left for the parser to reject.)
    static func oneLine(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var scan = Scanner()
        for b in bytes { out.append(scan.step(b) && (b == 0x0A || b == 0x0D) ? 0x20 : b) }
        return out
    }

    /// Tracks whether a byte of JSON text is inside a string, the one piece of JSON
    /// grammar the three scans above need (the full parse happens later, per record).
    struct Scanner {
        var depth = 0
        private var inString = false
        private var escaped = false

        /// Consumes one byte; true when it is structural (outside any string, quotes excluded).
        mutating func step(_ b: UInt8) -> Bool {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                return false
            }
            if b == UInt8(ascii: "\"") {
                inString = true
                return false
            }
            return true
        }
    }
}
