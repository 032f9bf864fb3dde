import AsyncHTTPClient
import Foundation
import MendCore
import MendPipeline
import MendServer
import MendStore
import MendTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// A real HTTP/1.1 receiver on 127.0.0.1: answers each POST with the next scripted
/// status (200 when the script is spent), or never answers (`hang`), and keeps what came.
final class Receiver: Sendable {
    struct Got: Sendable {
        var headers: [(String, String)]
        var body: Data
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    actor Log {
        var statuses: [Int]
        var got: [Got] = []
        init(_ s: [Int]) { statuses = s }
        func next(_ g: Got) -> Int {
            got.append(g)
            return statuses.isEmpty ? 200 : statuses.removeFirst()
        }
    }

    let log: Log
    let port: Int
    let channel: any Channel
    var url: String { "http://127.0.0.1:\(port)/hooks/secret-path-token" }

    static func start(statuses: [Int] = [], hang: Bool = false) async throws -> Receiver {
        let log = Log(statuses)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let channel = server.channel
        Task {
            try? await server.executeThenClose { connections in
                for try await connection in connections {
                    Task { try? await Receiver.serve(connection, log: log, hang: hang) }
                }
            }
        }
        return Receiver(log: log, port: channel.localAddress?.port ?? 0, channel: channel)
    }

    private init(log: Log, port: Int, channel: any Channel) {
        self.log = log
        self.port = port
        self.channel = channel
    }

    func stop() async { try? await channel.close() }

    var got: [Got] { get async { await log.got } }

    /// Waits until `n` requests arrived (or `seconds` passed).
    func wait(for n: Int, seconds: Double = 20) async -> [Got] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let g = await log.got
            if g.count >= n { return g }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await log.got
    }

    static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, log: Log, hang: Bool) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var b):
                    body.writeBuffer(&b)
                case .end:
                    let status = await log.next(
                        Got(headers: head?.headers.map { ($0.name, $0.value) } ?? [], body: Data(body.readableBytesView)))
                    if hang {
                        try await Task.sleep(for: .seconds(120))
                        return
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "content-length", value: "2")
                    try await outbound.write(
                        .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "ok"))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

/// A fresh SQLite engine where new columns wait for approval, and a file whose second
/// half carries a new field: one incident, one plan waiting.
func notifyEngine(_ endpoints: [NotifyEndpoint], links: ApprovalLinks? = nil, retry: Notifier.Retry = .init(baseDelay: .milliseconds(50)))
    async throws -> (Engine, Notifier)
{
    let engine = try await Backend.sqlite.engine(policy: Policy(autonomy: ["add_column": .approve]))
    try await engine.bootstrap()
    let notifier = Notifier(endpoints: endpoints, store: engine.state, links: links, retry: retry)
    await engine.setNotifier(notifier)
    await engine.setLinks(links)
    return (engine, notifier)
}

/// Loads a table, then records with a new field (the first load fixes the schema): one
/// incident whose plan waits for approval.
@discardableResult
func ingestWithDrift(_ engine: Engine, table: String = "users", n: Int = 20) async throws -> IngestSummary {
    _ = try await engine.ingest(path: writeLines((0..<n).map { #"{"id": \#($0), "name": "n\#($0)"}"# }), table: table)
    let drift = (0..<n).map { #"{"id": \#(n + $0), "name": "m\#($0)", "coupon": "<!channel> ```x``` SAVE\#($0)"}"# }
    return try await engine.ingest(path: writeLines(drift), table: table)
}

func audits(_ engine: Engine, kind: String) async throws -> [AuditEntry] {
    try await engine.auditPage(before: nil, limit: 1000).filter { $0.kind == kind }
}

@Suite("Notifications", .serialized)
struct NotifyTests {
    static let secret = "whsec-0123456789abcdef"
    static let linkKey = "link-key-0123456789abcdef"

    @Test func theMessageArrivesWithTheFactsAndItsSignatureVerifies() async throws {
        let r = try await Receiver.start()
        defer { Task { await r.stop() } }
        let links = ApprovalLinks(publicURL: "https://mend.example.com/", key: Self.linkKey)
        let (engine, notifier) = try await notifyEngine(
            [try NotifyEndpoint(url: r.url, format: .json, secret: Self.secret)], links: links)
        let s = try await ingestWithDrift(engine)
        #expect(s.pendingApproval.count == 1)
        #expect(await notifier.flush(timeout: .seconds(20)))
        let got = await r.wait(for: 2)
        try #require(got.count == 2)
        let types = got.map { $0.json["type"] as? String ?? "" }
        #expect(types == ["dev.mend.incident.opened", "dev.mend.plan.awaiting_approval"])
        // The signature verifies over the exact body, and not over a changed one.
        for g in got {
            let header = try #require(g.header("Mend-Signature"))
            #expect(WebhookSignature.verify(header: header, body: g.body, secret: Self.secret))
            #expect(!WebhookSignature.verify(header: header, body: g.body + Data(" ".utf8), secret: Self.secret))
            #expect(!WebhookSignature.verify(header: header, body: g.body, secret: "another-secret-0123456789"))
            #expect(g.header("content-type") == "application/cloudevents+json")
        }
        let event = got[1].json
        #expect(event["specversion"] as? String == "1.0")
        let data = try #require(event["data"] as? [String: Any])
        #expect(data["version"] as? Int == 2)
        let incident = try #require(data["incident"] as? [String: Any])
        #expect(incident["table"] as? String == "users")
        #expect((incident["kinds"] as? [String]) == ["unknown_field"])
        let drift = try #require(data["drift"] as? [[String: Any]])
        #expect(drift.first?["column"] as? String == "coupon")
        let plan = try #require(data["plan"] as? [String: Any])
        let ops = try #require(plan["operations"] as? [[String: Any]])
        #expect(ops.first?["kind"] as? String == "add_column" && ops.first?["column"] as? String == "coupon")
        // The incident and the plan are the views the CLI and MCP show: the same objects.
        let (stored, _, plans) = try await engine.incidentDetail(Int64(incident["id"] as? Int ?? 0), samples: 0)
        func object<T: Encodable>(_ view: T) throws -> NSDictionary {
            let e = JSONEncoder()
            e.keyEncodingStrategy = .convertToSnakeCase
            return try #require(try JSONSerialization.jsonObject(with: e.encode(view)) as? NSDictionary)
        }
        #expect(NSDictionary(dictionary: incident) == (try object(IncidentView(stored))))
        #expect(NSDictionary(dictionary: plan) == (try object(PlanView(try #require(plans.last)).plan)))
        #expect(incident["opened_at"] is String && plan["planned_by"] is String && ops.first?["summary"] is String)
        let sql = try #require(data["sql"] as? [String])
        #expect(sql.first?.contains("ALTER TABLE") == true && sql.first?.contains("coupon") == true)
        let guardFacts = try #require(data["guard"] as? [String: Any])
        #expect(guardFacts["risk"] as? String == "low")
        #expect((guardFacts["rule"] as? String)?.isEmpty == false)
        let decision = try #require(data["decision"] as? [String: Any])
        #expect(decision["autonomy"] as? String == "approve")
        let samples = try #require(data["samples"] as? [[String: Any]])
        #expect(samples.count == 3)
        // Fenced: the record's markup is escaped inside the JSON string.
        let raw = String(decoding: got[1].body, as: UTF8.self)
        #expect(!raw.contains("<!channel>") && raw.contains("\\u003c!channel\\u003e"))
        #expect((samples[0]["record"] as? String)?.contains("<!channel>") == true)  // and decodes unchanged
        let link = try #require(data["link"] as? String)
        #expect(link.hasPrefix("https://mend.example.com/incidents/\(incident["id"] as? Int ?? 0)?plan=\(plan["id"] as? Int ?? 0)&exp="))
        // Each delivery is audited, without the URL's path (a Slack webhook's secret).
        let delivered = try await audits(engine, kind: "notification.delivered")
        #expect(delivered.count == 2)
        #expect(delivered.allSatisfy { !$0.detail.contains("secret-path-token") && $0.detail.contains("127.0.0.1") })
        #expect(delivered.allSatisfy { !$0.detail.contains(Self.secret) })
    }

    @Test func aSlackEndpointGetsBlocksWithTheSameFacts() async throws {
        let r = try await Receiver.start()
        defer { Task { await r.stop() } }
        let (engine, notifier) = try await notifyEngine(
            [try NotifyEndpoint(url: r.url, format: .slack, events: [.awaitingApproval])],
            links: ApprovalLinks(publicURL: "https://mend.example.com", key: Self.linkKey))
        try await ingestWithDrift(engine)
        #expect(await notifier.flush(timeout: .seconds(20)))
        let got = await r.wait(for: 1)
        try #require(got.count == 1)  // the filter kept only awaiting_approval
        let body = got[0].json
        let blocks = try #require(body["blocks"] as? [[String: Any]])
        #expect(blocks.first?["type"] as? String == "header")
        let text = String(decoding: got[0].body, as: UTF8.self)
        #expect(text.contains("waits for approval") && text.contains("coupon") && text.contains("ALTER TABLE"))
        #expect(text.contains("Review and approve") && text.contains("https://mend.example.com/incidents/"))
        // Data from records cannot ping a channel or leave its code fence.
        #expect(!text.contains("<!channel>") && text.contains("&lt;!channel&gt;"))
        #expect(!text.contains("```x```"))
    }

    @Test func aFiveHundredIsRetriedAndTheOutcomeAudited() async throws {
        let r = try await Receiver.start(statuses: [500, 503])
        defer { Task { await r.stop() } }
        let (engine, notifier) = try await notifyEngine([try NotifyEndpoint(url: r.url, events: [.opened])])
        try await ingestWithDrift(engine)
        #expect(await notifier.flush(timeout: .seconds(20)))
        let got = await r.wait(for: 3)
        #expect(got.count == 3)
        // The same event each time: one id, so a receiver can drop a duplicate.
        #expect(Set(got.map { $0.header("ce-id") ?? "" }).count == 1)
        let delivered = try await audits(engine, kind: "notification.delivered")
        try #require(delivered.count == 1)
        #expect(delivered[0].detail.contains(#""attempts":"3""#))
        #expect(delivered[0].detail.contains(#""status":"200""#))
    }

    @Test func aRefusingEndpointFailsAfterItsRetriesAndIsAudited() async throws {
        let r = try await Receiver.start(statuses: Array(repeating: 500, count: 10))
        defer { Task { await r.stop() } }
        let (engine, notifier) = try await notifyEngine(
            [try NotifyEndpoint(url: r.url, events: [.opened])], retry: .init(attempts: 3, baseDelay: .milliseconds(20)))
        try await ingestWithDrift(engine)
        #expect(await notifier.flush(timeout: .seconds(20)))
        #expect(await r.got.count == 3)
        let failed = try await audits(engine, kind: "notification.failed")
        try #require(failed.count == 1)
        #expect(failed[0].detail.contains(#""attempts":"3""#) && failed[0].detail.contains("HTTP 500"))
    }

    @Test func aDeadEndpointDoesNotSlowIngest() async throws {
        // One endpoint accepts and never answers; another refuses connections.
        let hung = try await Receiver.start(hang: true)
        defer { Task { await hung.stop() } }
        let closed = try await Receiver.start()
        let closedURL = closed.url
        await closed.stop()
        let (engine, notifier) = try await notifyEngine(
            [try NotifyEndpoint(url: hung.url), try NotifyEndpoint(url: closedURL)],
            retry: .init(attempts: 2, baseDelay: .milliseconds(100), timeout: .seconds(30)))
        // Many drifts: every batch opens incidents, each one queued for both endpoints.
        _ = try await engine.ingest(path: writeLines((0..<200).map { #"{"id": \#($0), "name": "n"}"# }), table: "t")
        let lines = (0..<2000).map { #"{"id": \#($0), "f\#($0 % 40)": \#($0)}"# }
        let started = ContinuousClock.now
        let s = try await engine.ingest(path: writeLines(lines), table: "t")
        let took = ContinuousClock.now - started
        #expect(s.lines == 2000 && s.incidentsOpened == 40)
        // A single attempt against the hung endpoint takes 30 s; ingest did not wait for it.
        #expect(took < .seconds(15), "ingest took \(took)")
        #expect(notifier.backlog > 0)
        _ = await hung.wait(for: 1)
        #expect(await hung.got.count >= 1)  // it was tried, and is still hanging
        await notifier.stop()
    }
}

@Suite("Notification bodies and signatures (no I/O)")
struct NotificationUnitTests {
    @Test func aSignatureFromAnotherTimeIsRefused() {
        let body = Data(#"{"a":1}"#.utf8)
        let now = Date()
        let header = WebhookSignature.sign(body: body, secret: "s-0123456789abcdef", timestamp: Int64(now.timeIntervalSince1970))
        #expect(WebhookSignature.verify(header: header, body: body, secret: "s-0123456789abcdef", now: now))
        #expect(!WebhookSignature.verify(header: header, body: body, secret: "s-0123456789abcdef", now: now.addingTimeInterval(600)))
        #expect(!WebhookSignature.verify(header: "t=1,v1=00", body: body, secret: "s-0123456789abcdef", now: now))
    }

    @Test func signedLinksExpireAndAreBoundToIncidentAndPlan() {
        let links = ApprovalLinks(publicURL: "https://m.example", key: "k-0123456789abcdef", lifetime: 3600)
        let now = Date()
        let (url, expires) = links.signed(incident: 7, plan: 3, now: now)
        let query = Dictionary(
            uniqueKeysWithValues: (URLComponents(string: url)?.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(links.check(incident: 7, query: query, now: now) == .valid(plan: 3, expires: expires))
        #expect(links.check(incident: 7, query: query, now: now.addingTimeInterval(3601)) == .expired(plan: 3, at: expires))
        #expect(links.check(incident: 8, query: query, now: now) == .forged)
        var other = query
        other["plan"] = "4"
        #expect(links.check(incident: 7, query: other, now: now) == .forged)
        other = query
        other["exp"] = String(Int64(now.timeIntervalSince1970) + 999_999)
        #expect(links.check(incident: 7, query: other, now: now) == .forged)
        let otherKey = ApprovalLinks(publicURL: "https://m.example", key: "another-key-0123456789")
        #expect(otherKey.check(incident: 7, query: query, now: now) == .forged)
        #expect(links.check(incident: 7, query: [:], now: now) == .none)
    }

    @Test func thePolicyFileNamesEndpoints() throws {
        let yaml = """
            autonomy: {add_column: approve}
            notify:
              - url: https://hooks.slack.com/services/T0/B0/XYZ
                format: slack
                events: [awaiting_approval, failed]
              - url: https://example.com/mend
                secret_env: HOOK_SECRET
            """
        let e = try NotifyEndpoint.parse(policyYAML: yaml, environment: ["HOOK_SECRET": "0123456789abcdef0123"])
        #expect(e.count == 2)
        #expect(e[0].format == .slack && e[0].events == [.awaitingApproval, .failed] && e[0].wants(.failed) && !e[0].wants(.opened))
        #expect(e[1].format == .json && e[1].secret == "0123456789abcdef0123" && e[1].wants(.opened))
        #expect(!e[0].shown.contains("XYZ") && e[0].shown.hasPrefix("https://hooks.slack.com/"))
        #expect(throws: NotifyConfigError.self) { try NotifyEndpoint.parse(policyYAML: "notify:\n  - url: ftp://x\n") }
        #expect(throws: NotifyConfigError.self) {
            try NotifyEndpoint.parse(policyYAML: "notify:\n  - url: https://x\n    events: [nope]\n")
        }
        #expect(try NotifyEndpoint.parse(option: "https://hooks.slack.com/services/A/B/C", secret: nil).format == .slack)
        #expect(try NotifyEndpoint.parse(option: "slack:https://chat.example/hook", secret: nil).format == .slack)
        #expect(try NotifyEndpoint.parse(option: "https://example.com/x", secret: nil).format == .json)
        // The policy itself still loads from the same file.
        #expect(try PolicyLoader.parse(yaml).autonomy["add_column"] == .approve)
    }
}
