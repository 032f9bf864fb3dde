import AsyncHTTPClient
import Foundation
import MendCore
import MendPipeline
import MendServer
import MendStore
import MendTestSupport
import NIOCore
import NIOHTTP1
import Testing

struct Reply: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: String
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
    /// The incident ids an ingest answer says wait for a person (`IngestReport.pendingApproval`).
    var pendingIncidents: [Int] {
        (json["pending_approval"] as? [[String: Any]])?.compactMap { $0["incident"] as? Int } ?? []
    }
}

/// A real `MendServer` on 127.0.0.1 with an ephemeral port, over a real SQLite file,
/// and an HTTP client that does not follow redirects (the tests look at them).
struct TestServer {
    /// Ingest only.
    static let token = "test-token-0123456789abcdef"
    static let agentToken = "agent-token-0123456789abcdef"
    /// The approvers, each with a token of their own.
    static let people = ["alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"]
    static var credentials: Credentials {
        get throws {
            try Credentials(
                ingest: [token], agents: [agentToken: "agent"], approvers: Dictionary(uniqueKeysWithValues: people.map { ($1, $0) }))
        }
    }
    let server: MendServer
    let engine: Engine
    let base: String
    let client: HTTPClient
    let dir: URL

    /// `add_column` needs approval, so new fields leave a plan pending for the dashboard.
    static func start(
        maxBodyBytes: Int = 1 << 20, policy: Policy = Policy(autonomy: ["add_column": .approve]), credentials: Credentials? = nil,
        idleTimeout: Double = 60, headerTimeout: Double = 10, maxConnections: Int = 512
    ) async throws -> TestServer {
        let dir = Paths.tempDir()
        let w = try await WarehouseFactory.open(url: "sqlite:" + dir.appendingPathComponent("t.db").path)
        await KeepAlive.shared.add(w)
        let engine = Engine(warehouse: w, policy: policy, judge: ParserJudge())
        try await engine.bootstrap()
        let config = MendServer.Configuration(
            host: "127.0.0.1", port: 0, credentials: try credentials ?? Self.credentials, maxBodyBytes: maxBodyBytes,
            idleTimeout: idleTimeout, headerTimeout: headerTimeout, maxConnections: maxConnections)
        let server = await MendServer(configuration: config, engine: engine)
        let address = try await server.bind()
        let port = try #require(address.port)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        return TestServer(server: server, engine: engine, base: "http://127.0.0.1:\(port)", client: client, dir: dir)
    }

    func stop() async {
        try? await client.shutdown()
        await server.stop()
    }

    static var bearer: [(String, String)] { [("Authorization", "Bearer \(token)")] }
    static func bearer(of person: String) -> [(String, String)] { [("Authorization", "Bearer \(people[person] ?? "")")] }

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Reply {
        var req = HTTPClientRequest(url: base + path)
        req.method = .init(rawValue: method)
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let res = try await client.execute(req, timeout: .seconds(60))
        let bytes = try await res.body.collect(upTo: 64 << 20)
        return Reply(status: Int(res.status.code), headers: res.headers.map { ($0.name, $0.value) }, body: String(buffer: bytes))
    }

    func ingest(_ table: String, _ body: String, key: String? = nil, contentType: String = "application/json") async throws -> Reply {
        var h = Self.bearer + [("Content-Type", contentType)]
        if let key { h.append(("Idempotency-Key", key)) }
        return try await send("POST", "/v1/ingest/\(table)", headers: h, body: body)
    }

    /// Logs in through the form; returns the session cookie header and the CSRF token of the overview page.
    func login(as user: String = "alice") async throws -> (cookie: (String, String), csrf: String) {
        let form = "token=\(Self.people[user] ?? "")"
        let r = try await send("POST", "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
        #expect(r.status == 303)
        let setCookie = try #require(r.header("Set-Cookie"))
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
        let pair = try #require(setCookie.split(separator: ";").first)
        let cookie = ("Cookie", String(pair))
        let page = try await send("GET", "/", headers: [cookie])
        #expect(page.status == 200)
        return (cookie, try #require(Self.csrf(in: page.body)))
    }

    static func csrf(in html: String) -> String? {
        guard let r = html.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression) else { return nil }
        return String(html[r].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    func count(_ table: String) async throws -> Int64 {
        try await engine.stats().first { $0.table == table }?.loaded ?? 0
    }
}
