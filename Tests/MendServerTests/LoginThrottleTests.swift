import Foundation
import MendCore
import MendPipeline
import MendStore
import Testing

@testable import MendServer

/// Wrong tokens on the login form are limited: the token cannot be guessed at network speed.
@Suite struct LoginThrottleTests {
    @Test func fiveFailuresInAMinuteLockLoginsUntilTheOldestExpires() {
        var t = LoginThrottle()
        let start = Date(timeIntervalSince1970: 1_000_000)
        for i in 0..<5 {
            #expect(t.retryAfter(now: start.addingTimeInterval(Double(i))) == nil)
            t.failed(now: start.addingTimeInterval(Double(i)))
        }
        let wait = t.retryAfter(now: start.addingTimeInterval(5))
        #expect(wait == 55)
        #expect(t.retryAfter(now: start.addingTimeInterval(60)) == nil, "the oldest failure left the window")
        #expect(t.failures.count == 4)
    }

    @Test func theServerAnswers429WithRetryAfter() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        for _ in 0..<5 {
            let r = try await s.send("POST", "/login", headers: form, body: "user=mallory&token=guess")
            #expect(r.status == 401)
        }
        let locked = try await s.send("POST", "/login", headers: form, body: "token=\(TestServer.people["alice"] ?? "")")
        #expect(locked.status == 429)
        #expect(Int(locked.header("Retry-After") ?? "") ?? 0 > 0)
    }

    @Test func theSessionCookieIsSecureBehindHTTPS() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        let plain = try await s.send("POST", "/login", headers: form, body: "token=\(TestServer.people["alice"] ?? "")")
        #expect(plain.header("Set-Cookie")?.contains("Secure") == false)
        let proxied = try await s.send(
            "POST", "/login", headers: form + [("X-Forwarded-Proto", "https")], body: "token=\(TestServer.people["alice"] ?? "")")
        #expect(proxied.header("Set-Cookie")?.contains("; Secure") == true)
    }
}

/// A huge parked record does not make a huge incident page; the whole record is one link away.
@Suite struct RecordViewPageTests {
    @Test func theIncidentPageCutsAndLinksTheWholeRecord() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"{"id": 1}"#)
        let big = String(repeating: "x", count: 200_000)
        _ = try await s.ingest("events", "{\"id\": 2, \"note\": \"\(big)\"}")
        let incident = try #require(try await s.engine.incidents().first)
        let (cookie, _) = try await s.login()
        let page = try await s.send("GET", "/incidents/\(incident.id)", headers: [cookie])
        #expect(page.status == 200)
        #expect(page.body.utf8.count < 100_000, "\(page.body.utf8.count) bytes")
        let parkedID = try #require(try await s.engine.incidentDetail(incident.id).1.first?.id)
        #expect(page.body.contains("/parked/\(parkedID)"))
        let whole = try await s.send("GET", "/parked/\(parkedID)", headers: [cookie])
        #expect(whole.status == 200 && whole.body.contains(big))
        #expect(whole.header("Content-Type")?.hasPrefix("text/plain") == true)
    }
}
