import Foundation
import MendTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Every writing command creates what it needs (issue 28, item 6): on a database that
/// already holds Mend's state from an earlier `mend ingest`, each of ingest, consume, serve
/// and mcp is pointed at a target schema that does not exist yet, and loads into it (mcp,
/// which loads nothing itself, sets it up). The schema is checked with psql, not with Mend.
@Suite(
    .enabled(if: Backend.postgresURL != nil && NATS.url != nil, "needs MEND_TEST_PG and MEND_TEST_NATS (make test starts both)"),
    .serialized)
struct FreshSchemaTests {
    /// A state schema shared by every command of one test, and a URL for a fresh target.
    struct Database {
        let state = "st_" + UUID().uuidString.prefix(8).lowercased()
        func url(schema: String) -> String { (Backend.postgresURL ?? "") + "?schema=\(schema)&state_schema=\(state)" }
    }

    static func fresh(_ prefix: String) -> String { prefix + "_" + UUID().uuidString.prefix(8).lowercased() }

    /// Rows of `schema.events` read with psql; nil when the schema or table is missing.
    static func rows(_ schema: String) async throws -> Int? {
        let base = String((Backend.postgresURL ?? "").prefix { $0 != "?" })
        let (code, out) = try await NATS.run("/usr/bin/psql", [base, "-Atc", "SELECT count(*) FROM \"\(schema)\".events"])
        return code == 0 ? Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    static func schemaExists(_ schema: String) async throws -> Bool {
        let base = String((Backend.postgresURL ?? "").prefix { $0 != "?" })
        let (_, out) = try await NATS.run("/usr/bin/psql", [base, "-Atc", "SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)'"])
        return out.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    static func file(_ lines: Int) throws -> String {
        let url = Paths.tempDir().appendingPathComponent("e.ndjson")
        try (1...lines).map { #"{"id": \#($0), "kind": "click"}"# }.joined(separator: "\n").write(
            to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The state exists (an earlier ingest into another schema), then each command meets a
    /// target schema that does not.
    @Test(.timeLimit(.minutes(4)))
    func everyWritingCommandCreatesItsTargetSchema() async throws {
        let db = Database()
        let first = try ChildProcess.mend([
            "ingest", try Self.file(5), "--table", "events", "--db", db.url(schema: Self.fresh("first")), "--quiet",
        ])
        #expect(await first.wait(seconds: 60) == 0, "\(first.text)")

        // ingest
        let ingestSchema = Self.fresh("fresh_i")
        let ingest = try ChildProcess.mend([
            "ingest", try Self.file(7), "--table", "events", "--db", db.url(schema: ingestSchema), "--quiet",
        ])
        #expect(await ingest.wait(seconds: 60) == 0, "\(ingest.text)")
        #expect(try await Self.rows(ingestSchema) == 7)

        // consume
        let consumeSchema = Self.fresh("fresh_c")
        let stream = try await NATS.newStream("fresh")
        try await NATS.publish(["events", "--stream", stream, "--subject", stream.lowercased() + ".events", "--count", "11"])
        let consume = try ChildProcess.mend([
            "consume", NATS.url ?? "", "--stream", stream, "--consumer", "c", "--table", "events", "--db", db.url(schema: consumeSchema),
            "--stop-when-idle", "2",
        ])
        #expect(await consume.wait(seconds: 90) == 0, "\(consume.text)")
        #expect(try await Self.rows(consumeSchema) == 11, "\(consume.text)")

        // serve: set up at start, and a POST loads into the new schema
        let serveSchema = Self.fresh("fresh_s")
        let token = "fresh-schema-token-0123456789abcdef"
        let serve = try ChildProcess.mend(["serve", "--port", "0", "--db", db.url(schema: serveSchema)], env: ["MEND_TOKEN": token])
        defer { serve.signal(SIGKILL) }
        #expect(await serve.waitFor("/mcp", seconds: 60), "serve started: \(serve.text)")
        let port = try #require(
            serve.text.firstMatch(of: /http:\/\/127\.0\.0\.1:([0-9]+)/).flatMap { Int($0.1) }, "a port in: \(serve.text)")
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)/v1/ingest/events")))
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/x-ndjson", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data((1...3).map { #"{"id": \#($0), "kind": "view"}"# }.joined(separator: "\n").utf8)
        let (body, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: body, as: UTF8.self)) \(serve.text)")
        #expect(try await Self.rows(serveSchema) == 3)
        serve.signal(SIGTERM)
        #expect(await serve.wait(seconds: 30) == 0, "\(serve.text)")

        // mcp: sets the schema up before it speaks the protocol; stdin at its end stops it
        let mcpSchema = Self.fresh("fresh_m")
        let mcp = try ChildProcess.mend(["mcp", "--db", db.url(schema: mcpSchema)])
        #expect(await mcp.waitFor("serving", seconds: 60), "\(mcp.text)")
        #expect(try await Self.schemaExists(mcpSchema), "mcp created \(mcpSchema): \(mcp.text)")
        mcp.signal(SIGTERM)
        _ = await mcp.wait(seconds: 20)
    }
}
