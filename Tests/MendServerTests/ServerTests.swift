import Foundation
import MendCore
import MendPipeline
import MendServer
import MendStore
import MendTestSupport
import Testing

@Suite("mend serve over HTTP")
struct ServerTests {
    @Test func healthzNeedsNoToken() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let r = try await s.send("GET", "/healthz")
        #expect(r.status == 200)
        #expect(r.json["status"] as? String == "ok")
    }

    @Test func everythingElseNeedsTheToken() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        #expect(try await s.send("GET", "/metrics").status == 401)
        #expect(try await s.send("GET", "/metrics", headers: [("Authorization", "Bearer wrong-token-wrong-token")]).status == 401)
        let ingest = try await s.send("POST", "/v1/ingest/events", headers: [("Content-Type", "application/json")], body: "{}")
        #expect(ingest.status == 401)
        #expect(ingest.header("WWW-Authenticate")?.contains("Bearer") == true)
        #expect(try await s.send("POST", "/mcp", body: "{}").status == 401)
        // Pages send people to the login form; POSTs without a session are refused outright.
        let page = try await s.send("GET", "/")
        #expect(page.status == 303 && page.header("Location") == "/login")
        #expect(try await s.send("GET", "/audit").status == 303)
        #expect(try await s.send("POST", "/incidents/1/approve", body: "").status == 401)
        let login = try await s.send("GET", "/login")
        #expect(login.status == 200 && login.body.contains(#"name="token""#))
        #expect(login.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
    }

    @Test func ingestsObjectArrayAndNDJSON() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let one = try await s.ingest("events", "{\n  \"id\": 1,\n  \"kind\": \"click\"\n}\n")
        #expect(one.status == 200)
        #expect(one.json["loaded"] as? Int == 1)
        let array = try await s.ingest("events", #"[{"id": 2, "kind": "a"}, {"id": 3, "kind": "b, [c]"}]"#)
        #expect(array.status == 200)
        #expect(array.json["loaded"] as? Int == 2 && array.json["lines"] as? Int == 2)
        let nd = try await s.ingest(
            "events", "{\"id\": 4, \"kind\": \"x\"}\n{\"id\": 5, \"kind\": \"y\"}\nnot json\n", contentType: "application/x-ndjson")
        #expect(nd.status == 200)
        #expect(nd.json["loaded"] as? Int == 2)
        #expect(nd.json["quarantined"] as? Int == 1)  // bad data in a line is quarantined, not a 4xx or 500
        #expect(try await s.count("events") == 5)
        let empty = try await s.ingest("events", "[]")
        #expect(empty.status == 200 && empty.json["lines"] as? Int == 0)
        // What HTTP sent is audited as HTTP's, not as the CLI's user.
        let actors = Set(
            try await s.engine.auditEntries().filter { $0.kind == "table.created" || $0.kind == "record.quarantined" }.map(\.actor))
        #expect(actors == ["http:ingest"])
    }

    /// One view of an ingest: HTTP answers with the same counts as `mend ingest` for the
    /// same input, after the repairs it ran (a new column is applied and its record loads).
    @Test func httpAndTheCLIReportTheSameLoaded() async throws {
        let base = #"{"id": 1, "kind": "click"}"# + "\n" + #"{"id": 2, "kind": "click"}"#
        let drift = #"{"id": 3, "kind": "buy", "coupon": "SPRING"}"# + "\n" + #"{"id": 4, "kind": "buy", "coupon": "FALL"}"#
        let s = try await TestServer.start(policy: .default)
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", base, contentType: "application/x-ndjson")
        let http = try await s.ingest("events", drift, contentType: "application/x-ndjson")
        let engine = try await Backend.sqlite.engine()
        let dir = Paths.tempDir()
        _ = try await engine.ingest(path: writeLines(base.components(separatedBy: "\n"), in: dir, name: "b.jsonl"), table: "events")
        let cli = IngestReport(
            try await engine.ingest(path: writeLines(drift.components(separatedBy: "\n"), in: dir, name: "d.jsonl"), table: "events"))
        #expect(cli.loaded == 2 && cli.loadedAfterRepair == 2, "the CLI's view: \(cli)")
        for (key, value) in [("loaded", cli.loaded), ("parked", cli.parked), ("quarantined", cli.quarantined), ("lines", cli.lines)] {
            #expect(http.json[key] as? Int == Int(value), "\(key): HTTP \(http.body) vs CLI \(cli)")
        }
        #expect((http.json["on_arrival"] as? [String: Any])?["parked"] as? Int == 2, "\(http.body)")
    }

    @Test func ingestTakesTheBearerTokenOnlyNotASessionCookie() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let (cookie, _) = try await s.login()
        let r = try await s.send(
            "POST", "/v1/ingest/events", headers: [cookie, ("Content-Type", "text/plain"), ("Origin", "https://evil.example")],
            body: #"{"id": 1}"#)
        #expect(r.status == 403)
        #expect(r.body.contains("ingest token"))
        // Neither an agent's nor an approver's own token sends records.
        for other in [TestServer.agentToken, TestServer.people["alice"] ?? ""] {
            let t = try await s.send(
                "POST", "/v1/ingest/events", headers: [("Authorization", "Bearer \(other)"), ("Content-Type", "application/json")],
                body: #"{"id": 1}"#)
            #expect(t.status == 403)
        }
        #expect(try await s.count("events") == 0)
    }

    @Test func mendsOwnStateTablesAreNotShown() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"{"id": 1}"#)
        #expect(try await s.engine.schema(table: "events") != nil)
        #expect(try await s.engine.schema(table: "_mend_audit") == nil)
        #expect(try await s.engine.schema(table: "_mend_tables") == nil)
    }

    @Test func badInputGetsClear4xx() async throws {
        let s = try await TestServer.start(maxBodyBytes: 4096)
        defer { Task { await s.stop() } }
        let cases: [(String, String, String, Int, String)] = [
            ("events", "", "application/json", 400, "empty"),
            ("events", "   \n", "application/json", 400, "empty"),
            ("events", "hello", "application/json", 400, "not JSON"),
            ("events", #"[{"id": 1}"#, "application/json", 400, "not closed"),
            ("events", #"[{"id": 1}] trailing"#, "application/json", 400, "more after"),
            ("events", #"[{"id": 1},,{"id": 2}]"#, "application/json", 400, "empty element"),
            ("Bad-Name", "{}", "application/json", 400, "invalid table name"),
            ("events", "{}", "multipart/form-data", 415, "Content-Type"),
        ]
        for (table, body, type, status, message) in cases {
            let r = try await s.ingest(table, body, contentType: type)
            #expect(r.status == status, "\(body) → \(r.status) \(r.body)")
            #expect((r.json["error"] as? String)?.contains(message) == true, "\(r.body)")
        }
        let big = "[" + Array(repeating: #"{"id": 1, "kind": "padding padding"}"#, count: 200).joined(separator: ",") + "]"
        let tooBig = try await s.ingest("events", big)
        #expect(tooBig.status == 413)
        #expect((tooBig.json["error"] as? String)?.contains("4096") == true)
        #expect(try await s.send("GET", "/v1/ingest/events", headers: TestServer.bearer).status == 405)
        let badKey = try await s.ingest("events", "{}", key: String(repeating: "k", count: 300))
        #expect(badKey.status == 400)
        #expect(try await s.send("GET", "/nope", headers: TestServer.bearer(of: "alice")).status == 404)
        // Nothing was loaded by any of it.
        #expect(try await s.count("events") == 0)
    }

    @Test func idempotencyKeyLoadsNothingTwice() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let body = #"[{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}]"#
        let first = try await s.ingest("events", body, key: "batch-0001")
        #expect(first.status == 200 && first.json["replayed"] as? Bool == false)
        let retry = try await s.ingest("events", body, key: "batch-0001")
        #expect(retry.status == 200)
        #expect(retry.json["replayed"] as? Bool == true)
        #expect(retry.json["loaded"] as? Int == 2)  // the original answer
        #expect(retry.header("Idempotent-Replayed") == "true")
        #expect(try await s.count("events") == 2)
        let reused = try await s.ingest("events", #"{"id": 3, "kind": "c"}"#, key: "batch-0001")
        #expect(reused.status == 422)
        // The same key for another table is another request.
        let other = try await s.ingest("clicks", body, key: "batch-0001")
        #expect(other.status == 200 && other.json["replayed"] as? Bool == false)
        // Concurrent retries: exactly one load, the others replay or are told to retry.
        let b2 = #"[{"id": 10, "kind": "x"}]"#
        let statuses = try await withThrowingTaskGroup(of: Int.self) { g in
            for _ in 0..<4 { g.addTask { try await s.ingest("events", b2, key: "batch-0002").status } }
            return try await g.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 })
        #expect(try await s.count("events") == 3)
    }

    @Test func metricsArePrometheusText() async throws {
        let s = try await TestServer.start(policy: .default)
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"[{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}]"#)
        _ = try await s.ingest("events", #"{"id": 3, "kind": "c", "extra": "new"}"#)  // auto-repaired: add_column
        // Ingest tokens only send records: the counters are for agents (Prometheus) and people.
        #expect(try await s.send("GET", "/metrics", headers: TestServer.bearer).status == 403)
        let agent = [("Authorization", "Bearer \(TestServer.agentToken)")]
        let r = try await s.send("GET", "/metrics", headers: agent)
        #expect(r.status == 200)
        #expect(r.header("Content-Type")?.hasPrefix("text/plain") == true)
        for line in [
            "mend_records_loaded_total 3", "mend_records_quarantined_total 0", "mend_incidents_opened_total 1",
            "mend_incidents_resolved_total 1",
            #"mend_repairs_applied_total{risk="low"} 1"#, "mend_time_to_repair_seconds_count 1", "mend_planner_latency_seconds_count 1",
            "mend_records_parked 0",
        ] {
            #expect(r.body.contains(line), "missing \(line) in\n\(r.body)")
        }
        #expect(r.body.contains("# TYPE mend_time_to_repair_seconds histogram"))
        // Counters do not count the same work twice on the next scrape.
        let again = try await s.send("GET", "/metrics", headers: agent)
        #expect(again.body.contains("mend_records_loaded_total 3"))
    }

    @Test func loginSetsASessionAndRejectsWrongTokens() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        let wrong = try await s.send("POST", "/login", headers: form, body: "token=nope")
        #expect(wrong.status == 401 && wrong.header("Set-Cookie") == nil)
        // The ingest token and the agent token are not a person's: they do not log in.
        for other in [TestServer.token, TestServer.agentToken] {
            let r = try await s.send("POST", "/login", headers: form, body: "token=\(other)")
            #expect(r.status == 401 && r.header("Set-Cookie") == nil)
        }
        let forged = try await s.send("GET", "/", headers: [("Cookie", "mend_session=0123")])
        #expect(forged.status == 303)
        let (cookie, csrf) = try await s.login()
        let overview = try await s.send("GET", "/", headers: [cookie])
        #expect(overview.body.contains("Pipeline overview") && overview.body.contains("alice"))
        // Logout needs the CSRF token too, then the cookie is worthless.
        #expect(try await s.send("POST", "/logout", headers: [cookie], body: "csrf=bad").status == 403)
        let out = try await s.send(
            "POST", "/logout", headers: [cookie, ("Content-Type", "application/x-www-form-urlencoded")], body: "csrf=\(csrf)")
        #expect(out.status == 303)
        #expect(try await s.send("GET", "/", headers: [cookie]).status == 303)
    }

    @Test func dashboardApprovesWithCSRFAndAudits() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"[{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}]"#)
        let drift = try await s.ingest("events", #"{"id": 3, "kind": "<script>alert(1)</script>", "channel": "web"}"#)
        let pending = try #require(drift.pendingIncidents.first)
        let (cookie, csrf) = try await s.login(as: "alice")

        let overview = try await s.send("GET", "/", headers: [cookie])
        #expect(overview.body.contains("/incidents/\(pending)"))
        let page = try await s.send("GET", "/incidents/\(pending)", headers: [cookie])
        #expect(page.status == 200)
        #expect(page.body.contains("ADD COLUMN") && page.body.contains("pending_approval"))
        #expect(page.body.contains(#"id="approve""#))
        // Data from outside is escaped, never markup.
        #expect(!page.body.contains("<script>alert(1)</script>"))
        #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))

        let form = ("Content-Type", "application/x-www-form-urlencoded")
        let noToken = try await s.send("POST", "/incidents/\(pending)/approve", headers: [cookie, form], body: "reason=ok")
        #expect(noToken.status == 403)
        let badToken = try await s.send(
            "POST", "/incidents/\(pending)/approve", headers: [cookie, form], body: "csrf=\(String(repeating: "0", count: 64))")
        #expect(badToken.status == 403)
        #expect(try await s.engine.schema(table: "events")?.0.columns.contains { $0.name == "channel" } == false)

        let ok = try await s.send("POST", "/incidents/\(pending)/approve", headers: [cookie, form], body: "csrf=\(csrf)&reason=looks+fine")
        #expect(ok.status == 303 && ok.header("Location") == "/incidents/\(pending)")
        #expect(try await s.engine.schema(table: "events")?.0.columns.contains { $0.name == "channel" } == true)
        #expect(try await s.count("events") == 3)
        let audit = try await s.engine.auditEntries()
        #expect(audit.contains { $0.kind == "plan.approved" && $0.actor == "alice (dashboard)" && $0.detail.contains("looks fine") })

        let auditPage = try await s.send("GET", "/audit", headers: [cookie])
        #expect(auditPage.body.contains("Chain verified") && auditPage.body.contains("alice (dashboard)"))
        let schema = try await s.send("GET", "/tables/events", headers: [cookie])
        #expect(schema.status == 200 && schema.body.contains("channel") && schema.body.contains("Schema history"))
        // Approving again is a conflict, not a crash.
        let twice = try await s.send("POST", "/incidents/\(pending)/approve", headers: [cookie, form], body: "csrf=\(csrf)")
        #expect(twice.status == 409)
        #expect(try await s.send("GET", "/incidents/9999", headers: [cookie]).status == 404)
        #expect(try await s.send("GET", "/incidents/abc", headers: [cookie]).status == 404)
        #expect(try await s.send("GET", "/tables/nope", headers: [cookie]).status == 404)
    }

    /// A webhook's lists as child tables (nested_lists: tables): the table's page links its children.
    @Test func webhookIntoChildTablesAndTheirTree() async throws {
        let s = try await TestServer.start(policy: try PolicyLoader.parse("nested_lists: tables\n"))
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"[{"id": 1, "payload": {"commits": [{"sha": "a", "files": ["x", "y"]}, {"sha": "b"}]}}]"#)
        #expect(try await s.count("events") == 1)
        #expect(try await s.count("events__payload__commits") == 2, "a child table counts its rows")
        #expect(try await s.count("events__payload__commits__files") == 2)
        let (cookie, _) = try await s.login(as: "alice")
        let page = try await s.send("GET", "/tables/events", headers: [cookie])
        #expect(page.status == 200 && page.body.contains("Child tables"))
        #expect(page.body.contains(#"href="/tables/events__payload__commits""#))
        #expect(page.body.contains(#"href="/tables/events__payload__commits__files""#))
    }

    @Test func rejectNeedsAReasonAndOnlyAnApproverDecides() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"[{"id": 1, "kind": "a"}]"#)
        let a = try #require(try await s.ingest("events", #"{"id": 2, "kind": "b", "x1": 1}"#).pendingIncidents.first)
        let (cookie, csrf) = try await s.login(as: "bob")
        let form = ("Content-Type", "application/x-www-form-urlencoded")
        let noReason = try await s.send("POST", "/incidents/\(a)/reject", headers: [cookie, form], body: "csrf=\(csrf)&reason=")
        #expect(noReason.status == 400)
        let rejected = try await s.send("POST", "/incidents/\(a)/reject", headers: [cookie, form], body: "csrf=\(csrf)&reason=not+ours")
        #expect(rejected.status == 303)
        #expect(try await s.engine.incidents().first { $0.id == Int64(a) }?.status == .rejected)
        #expect(try await s.engine.auditEntries().contains { $0.kind == "plan.rejected" && $0.actor == "bob (dashboard)" })

        let b = try #require(try await s.ingest("events", #"{"id": 3, "kind": "c", "x2": 1}"#).pendingIncidents.first)
        // The webhook token cannot approve, whatever name it claims; nor can an agent's.
        let ingestToken = try await s.send(
            "POST", "/incidents/\(b)/approve", headers: TestServer.bearer + [form, ("X-Mend-User", "anyone")], body: "")
        #expect(ingestToken.status == 403)
        let agent = try await s.send(
            "POST", "/incidents/\(b)/approve", headers: [("Authorization", "Bearer \(TestServer.agentToken)"), form], body: "")
        #expect(agent.status == 403)
        #expect(try await s.engine.incidents().first { $0.id == Int64(b) }?.status == .pendingApproval)
        // An approver's own token, as a bearer client: the audit names that person.
        let named = try await s.send("POST", "/incidents/\(b)/approve", headers: TestServer.bearer(of: "bob") + [form], body: "")
        #expect(named.status == 200 && named.json["by"] as? String == "bob (api)")
        #expect(try await s.engine.auditEntries().contains { $0.kind == "plan.approved" && $0.actor == "bob (api)" })
    }

    @Test func mcpIsServedOnTheSamePort() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
        let json = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        // MCP takes an agent token: not the ingest token, not a person's.
        #expect(try await s.send("POST", "/mcp", headers: TestServer.bearer + json, body: initialize).status == 401)
        #expect(try await s.send("POST", "/mcp", headers: TestServer.bearer(of: "alice") + json, body: initialize).status == 401)
        let r = try await s.send(
            "POST", "/mcp", headers: [("Authorization", "Bearer \(TestServer.agentToken)")] + json, body: initialize)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.header("MCP-Session-Id") != nil)
        #expect(r.body.contains("serverInfo"))
    }
}
