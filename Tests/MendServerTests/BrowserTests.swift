import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
/// `make test`) logs in, approves a pending plan through the page, and the test checks
/// the table and the audit log in the database. Screenshots go to a temp folder, or to
/// MEND_SCREENSHOTS (e.g. `MEND_SCREENSHOTS=docs/img`) to refresh the README's.
@Suite("dashboard in headless Chromium")
struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: chromium != nil, "needs Debian's chromium package: run `make deps` (make test does)"))
    func approvesAPendingPlanThroughThePage() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.ingest("events", #"[{"id": 1, "kind": "click", "amount": 3}, {"id": 2, "kind": "view", "amount": 5}]"#)
        let drift = try await s.ingest(
            "events",
            #"[{"id": 3, "kind": "click", "amount": 7, "channel": "web"}, {"id": 4, "kind": "view", "amount": 1, "channel": "app"}]"#)
        let incident = try #require((drift.json["pending_approval"] as? [Int])?.first)
        #expect(try await s.count("events") == 2)

        let shots =
            ProcessInfo.processInfo.environment["MEND_SCREENSHOTS"].map { URL(fileURLWithPath: $0, relativeTo: Paths.repo) }
            ?? s.dir.appendingPathComponent("screenshots")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", Paths.repo.appendingPathComponent("Tests/e2e/dashboard_chromium.py").path, s.base, TestServer.people["alice"] ?? "",
            String(incident), "alice", shots.path,
        ]
        // Output goes to files and the wait happens on a Dispatch thread: no pipe can fill
        // up, and no thread of Swift's cooperative pool is blocked by the child process.
        let log = s.dir.appendingPathComponent("chromium-test.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                p.waitUntilExit()
                c.resume()
            }
        }
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 0, "\(output)")

        // The approval through the page changed the table and is audited under the person's name.
        #expect(try await s.engine.schema(table: "events")?.0.columns.contains { $0.name == "channel" } == true)
        #expect(try await s.count("events") == 4)
        let approved = try await s.engine.auditEntries().filter { $0.kind == "plan.approved" }
        #expect(approved.contains { $0.actor == "alice (dashboard)" && $0.detail.contains("checked in the browser test") })
        #expect(AuditVerifier.verify(try await s.engine.auditEntries()).ok)
        for name in [
            "dashboard-login", "dashboard-overview", "dashboard-incident-pending", "dashboard-incident-applied", "dashboard-audit",
            "dashboard-schema",
        ] {
            #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent(name + ".png").path), "no \(name).png")
        }
    }
}
