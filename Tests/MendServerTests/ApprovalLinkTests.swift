import Foundation
import MendCore
import MendPipeline
import MendServer
import MendStore
import MendTestSupport
import Testing

/// Signed links from notifications to the incident page (issue 16, part 2), through the
/// real server: login keeps the link, a valid link leaves one click to approve, an expired
/// link or one for a plan that has changed says so and approves nothing.
@Suite("Signed approval links", .serialized)
struct ApprovalLinkTests {
    static let key = "link-key-0123456789abcdef"

    /// A server whose engine signs and checks links, with one incident waiting for approval.
    func pendingIncident() async throws -> (TestServer, Int64, StoredPlan, ApprovalLinks) {
        let s = try await TestServer.start()
        let links = ApprovalLinks(publicURL: s.base, key: Self.key)
        await s.engine.setLinks(links)
        let summary = try await ingestWithDrift(s.engine)
        let id = try #require(summary.pendingApproval.first)
        let plan = try #require(try await s.engine.currentPlan(incidentID: id))
        #expect(plan.plan.status == .pendingApproval)
        return (s, id, plan, links)
    }

    func path(_ url: String, base: String) -> String { String(url.dropFirst(base.count)) }

    func form(_ fields: [String: String]) -> String {
        fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
    }

    @Test func aLinkSurvivesLoginAndLeavesOneClickToApprove() async throws {
        let (s, id, plan, links) = try await pendingIncident()
        defer { Task { await s.stop() } }
        let link = path(links.signed(incident: id, plan: plan.plan.id).0, base: s.base)
        // Not logged in: to the login page, which remembers the link.
        let first = try await s.send("GET", link)
        #expect(first.status == 303)
        let location = try #require(first.header("Location"))
        #expect(location.hasPrefix("/login?next="))
        let next = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "next" }?.value)
        #expect(next == link)
        let loginPage = try await s.send("GET", location)
        #expect(loginPage.body.contains(#"name="next""#))
        // Logging in goes back to the link.
        let login = try await s.send(
            "POST", "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: form(["token": TestServer.people["alice"] ?? "", "next": next]))
        #expect(login.status == 303)
        #expect(login.header("Location") == link)
        let cookie = ("Cookie", String(try #require(login.header("Set-Cookie")?.split(separator: ";").first)))
        let page = try await s.send("GET", link, headers: [cookie])
        #expect(page.status == 200)
        #expect(page.body.contains(#"id="link-notice""#) && page.body.contains("still waits for approval"))
        #expect(page.body.contains(#"id="approve""#))
        #expect(page.body.contains(#"name="plan" value="\#(plan.plan.id)""#))
        // One click: the approve form as the page has it.
        let csrf = try #require(TestServer.csrf(in: page.body))
        let approve = try await s.send(
            "POST", "/incidents/\(id)/approve", headers: [cookie, ("Content-Type", "application/x-www-form-urlencoded")],
            body: form(["csrf": csrf, "plan": String(plan.plan.id), "reason": ""]))
        #expect(approve.status == 303)
        #expect(try await s.engine.currentPlan(incidentID: id)?.plan.status == .applied)
    }

    @Test func anExpiredLinkSaysSoAndApprovesNothing() async throws {
        let (s, id, plan, _) = try await pendingIncident()
        defer { Task { await s.stop() } }
        // Signed with the server's key, a week ago.
        let old = ApprovalLinks(publicURL: s.base, key: Self.key, lifetime: 60)
        let link = path(old.signed(incident: id, plan: plan.plan.id, now: Date().addingTimeInterval(-7 * 24 * 3600)).0, base: s.base)
        let (cookie, _) = try await s.login()
        let page = try await s.send("GET", link, headers: [cookie])
        #expect(page.status == 200)
        #expect(page.body.contains(#"id="link-notice""#) && page.body.contains("expired"))
        #expect(!page.body.contains(#"id="approve""#))
        #expect(try await s.engine.currentPlan(incidentID: id)?.plan.status == .pendingApproval)
    }

    @Test func aLinkForAPlanThatChangedSaysSoAndApprovesNothing() async throws {
        let (s, id, plan, links) = try await pendingIncident()
        defer { Task { await s.stop() } }
        let link = path(links.signed(incident: id, plan: plan.plan.id).0, base: s.base)
        // An agent replaces the plan after the notification went out.
        _ = try await s.engine.advance(incidentID: id, .plan(plan.plan), by: "agent")
        let replaced = try #require(try await s.engine.currentPlan(incidentID: id))
        #expect(replaced.plan.id != plan.plan.id && replaced.plan.status == .pendingApproval)
        let (cookie, _) = try await s.login()
        let page = try await s.send("GET", link, headers: [cookie])
        #expect(page.body.contains("the plan has changed since"))
        #expect(!page.body.contains(#"id="approve""#))
        // A form still naming the old plan (a page left open) approves nothing either.
        let csrf = try #require(TestServer.csrf(in: page.body))
        let stale = try await s.send(
            "POST", "/incidents/\(id)/approve", headers: [cookie, ("Content-Type", "application/x-www-form-urlencoded")],
            body: form(["csrf": csrf, "plan": String(plan.plan.id)]))
        #expect(stale.status == 409)
        #expect(stale.body.contains("nothing was approved"))
        #expect(try await s.engine.currentPlan(incidentID: id)?.plan.status == .pendingApproval)
        // An edited link is no link at all.
        let forged = try await s.send(
            "GET", link.replacingOccurrences(of: "plan=\(plan.plan.id)", with: "plan=\(replaced.plan.id)"), headers: [cookie])
        #expect(forged.body.contains("not genuine") && !forged.body.contains(#"id="approve""#))
    }

    @Test func loginNeverRedirectsOffSite() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        for next in ["//evil.example/x", "https://evil.example", "/\\evil.example", "/incidents/3?plan=1"] {
            let login = try await s.send(
                "POST", "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: form(["token": TestServer.people["alice"] ?? "", "next": next]))
            #expect(login.status == 303)
            #expect(login.header("Location") == (next.hasPrefix("/i") ? next : "/"), "next \(next)")
        }
    }
}
