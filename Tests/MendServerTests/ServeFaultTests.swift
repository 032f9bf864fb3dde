import AsyncHTTPClient
import Foundation
import MendTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// `mend serve` on PostgreSQL while the database stops and comes back (issue 27): every
/// POST gets 200 or 503 with Retry-After within a bounded time, /readyz goes 503 and back
/// to 200, the server reconnects by itself, and a client that retries its 503s with the
/// same Idempotency-Key ends with every record loaded exactly once.
@Suite(
    .enabled(if: FaultCluster.url != nil, "needs MEND_TEST_PG_FAULT (make test starts a PostgreSQL cluster for faults)"),
    .serialized)
struct ServeFaultTests {
    static let token = "fault-ingest-token-0123456789"
    static let agentToken = "fault-agent-token-0123456789"

    struct Timed: Sendable {
        var status: Int
        var seconds: Double
        var retryAfter: String?
    }

    static func post(_ client: HTTPClient, _ url: String, body: String, key: String) async -> Timed {
        let started = Date()
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Authorization", value: "Bearer \(token)")
        req.headers.add(name: "Content-Type", value: "application/x-ndjson")
        req.headers.add(name: "Idempotency-Key", value: key)
        req.body = .bytes(ByteBuffer(string: body))
        do {
            let res = try await client.execute(req, timeout: .seconds(30))
            _ = try await res.body.collect(upTo: 1 << 20)
            return Timed(
                status: Int(res.status.code), seconds: Date().timeIntervalSince(started), retryAfter: res.headers.first(name: "Retry-After")
            )
        } catch {
            return Timed(status: -1, seconds: Date().timeIntervalSince(started), retryAfter: nil)
        }
    }

    static func get(_ client: HTTPClient, _ url: String) async -> Int {
        guard let res = try? await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10)) else { return -1 }
        _ = try? await res.body.collect(upTo: 1 << 20)
        return Int(res.status.code)
    }

    @Test(.timeLimit(.minutes(4)), .enabled(if: FaultCluster.soak, "stalled once beside the whole suite: MEND_FAULT_SOAK=1"))
    func postsGet200Or503AcrossAnOutageAndNothingIsLostOrDoubled() async throws {
        try await FaultCluster.exclusively {
            let db = FaultCluster.freshURL()
            let serve = try ChildProcess.mend(
                ["serve", "--port", "0", "--db", db, "--retry-for", "3"],
                env: ["MEND_TOKEN": Self.token, "MEND_AGENT_TOKEN": Self.agentToken])
            defer { serve.signal(SIGKILL) }
            #expect(await serve.waitFor("/mcp", seconds: 60), "\(serve.text)")
            let r = try #require(serve.text.range(of: #"http://127\.0\.0\.1:[0-9]+/mcp"#, options: .regularExpression))
            let base = String(serve.text[r].dropLast("/mcp".count))
            let client = HTTPClient(eventLoopGroupProvider: .singleton)

            // /readyz, sampled beside the stream of POSTs.
            let ready = Task { () -> [Int] in
                var seen: [Int] = []
                while !Task.isCancelled {
                    seen.append(await Self.get(client, base + "/readyz"))
                    try? await Task.sleep(for: .milliseconds(200))
                }
                return seen
            }
            let batches = 40
            let perBatch = 50
            var answers: [(status: Int, at: Date)] = []
            var slowest = 0.0
            var outage: Task<Date, any Error>?
            for b in 0..<batches {
                if b == 8 {
                    outage = Task {
                        try await FaultCluster.control("stop")
                        try await Task.sleep(for: .seconds(4))
                        try await FaultCluster.control("start")
                        return Date()
                    }
                }
                let body = (0..<perBatch).map { #"{"id": \#(b * perBatch + $0), "kind": "click"}"# }.joined(separator: "\n") + "\n"
                // A client retries a 503 with the same key, as Retry-After says (bounded here).
                for _ in 0..<20 {
                    let t = await Self.post(client, base + "/v1/ingest/events", body: body, key: "batch-\(b)")
                    answers.append((t.status, Date()))
                    slowest = max(slowest, t.seconds)
                    if t.status == 503 { #expect(t.retryAfter != nil, "503 says when to retry") }
                    if t.status == 200 { break }
                    try await Task.sleep(for: .milliseconds(300))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let backAt = try #require(try await outage?.value)
            ready.cancel()
            let readiness = await ready.value
            let statuses = answers.map(\.status)
            #expect(Set(statuses).isSubset(of: [200, 503]), "only 200 and 503: \(statuses)")
            #expect(statuses.contains(503), "the outage was seen: \(statuses)")
            #expect(slowest < 15, "no request hung: the slowest took \(slowest) s")
            // A sample cut short by the end of sampling reads -1: the last real answer counts.
            let answered = readiness.filter { $0 > 0 }
            #expect(answered.contains(503) && answered.last == 200, "readyz went 503 and back: \(readiness)")
            let firstOK = try #require(answers.first { $0.status == 200 && $0.at > backAt })
            #expect(firstOK.at.timeIntervalSince(backAt) < 8, "200 again within a few seconds of the database's return")
            let c = try await FaultCluster.counts(db, table: "events")
            #expect(c.rows == batches * perBatch && c.distinct == batches * perBatch, "rows \(c.rows), distinct \(c.distinct)")

            var req = HTTPClientRequest(url: base + "/metrics")
            req.headers.add(name: "Authorization", value: "Bearer \(Self.agentToken)")
            let res = try await client.execute(req, timeout: .seconds(20))
            let metrics = String(buffer: try await res.body.collect(upTo: 4 << 20))
            #expect(metrics.contains("mend_database_up 1"), "\(metrics.prefix(3000))")
            #expect(Self.value(of: "mend_database_reconnects_total", in: metrics) >= 1)
            #expect(Self.value(of: "mend_retries_total", in: metrics) >= 1)
            try await client.shutdown()
            serve.signal(SIGTERM)
            #expect(await serve.wait(seconds: 30) != nil)
        }
    }

    static func value(of metric: String, in text: String) -> Double {
        text.split(separator: "\n").first { $0.hasPrefix(metric + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
    }
}
