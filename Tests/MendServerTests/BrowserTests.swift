import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
/// `make test`) logs in, checks the plots against `mend stats`, approves a pending plan
/// through the page, watches the live count, and the test checks the table and the audit
/// log in the database. Screenshots go to a temp folder, or to
/// MEND_SCREENSHOTS (e.g. `MEND_SCREENSHOTS=docs/img`) to refresh the README's.
@Suite("dashboard in headless Chromium")
struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Several thousand records over two tables in batches, with drift a real feed has:
    /// new optional fields and a nested object (the default policy adds them on its own),
    /// a number turning into a decimal and an id turning into text (both wait for a
    /// person). Deterministic, so the screenshots show the same picture each run.
    static func feed(_ s: TestServer) async throws -> (pending: Int, table: String) {
        func batch(_ table: String, _ rows: [String]) async throws -> Reply {
            let r = try await s.ingest(table, "[" + rows.joined(separator: ",") + "]")
            #expect(r.status == 200 || r.status == 202, "\(table): \(r.status) \(r.body)")
            return r
        }
        // For the README's screenshots the batches come 20 s apart, so the plots show a feed over
        // minutes, not one bar; the test itself does not wait.
        let pace: Duration = ProcessInfo.processInfo.environment["MEND_SCREENSHOTS"] == nil ? .zero : .seconds(20)
        var pending: Int?
        var id = 0
        for round in 0..<5 {
            let rows = (0..<600).map { i -> String in
                id += 1
                let amount = round == 2 && i % 20 == 0 ? "\(id % 500).5" : "\(id % 500)"
                var extra = ""
                if round >= 1 && i % 10 == 0 { extra += #", "coupon": "SPRING\#(id % 7)""# }
                if round >= 3 && i % 4 == 0 { extra += #", "shipping": {"carrier": "dhl", "days": \#(id % 5)}"# }
                return
                    #"{"id": \#(id), "customer": "c-\#(id % 97)", "amount": \#(amount), "status": "\#(i % 9 == 0 ? "refunded" : "paid")"\#(extra)}"#
            }
            let r = try await batch("orders", rows)
            try await Task.sleep(for: pace)
            if round == 2 { pending = r.pendingIncidents.first }
        }
        for round in 0..<4 {
            let rows = (0..<500).map { i -> String in
                id += 1
                let user = round == 2 && i % 50 == 0 ? #""u-\#(id % 300)""# : "\(id % 300)"
                let extra = round == 3 && i % 3 == 0 ? #", "referrer": "https://example.com/\#(id % 11)""# : ""
                return #"{"id": \#(id), "kind": "\#(["view", "click", "buy"][i % 3])", "user_id": \#(user)\#(extra)}"#
            }
            _ = try await batch("events", rows)
            try await Task.sleep(for: pace)
        }
        return (try #require(pending, "the decimal amounts left a plan waiting"), "orders")
    }

    /// Runs Tests/e2e/dashboard_chromium.py against the server; its output is the failure message.
    static func browse(_ s: TestServer, _ args: [String]) async throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Paths.repo.appendingPathComponent("Tests/e2e/dashboard_chromium.py").path] + args
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
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// The whole dashboard at a realistic scale: the overview's plots against `mend stats`,
    /// a pending plan's diff, approval through the page, the live count when a new incident
    /// opens, the audit log and the schema history.
    @Test(.enabled(if: chromium != nil, "needs Debian's chromium package: run `make deps` (make test does)"))
    func theDashboardAtARealisticScale() async throws {
        let s = try await TestServer.start(policy: .default)
        defer { Task { await s.stop() } }
        let (incident, table) = try await Self.feed(s)
        let before = try await s.count(table)

        let shots =
            ProcessInfo.processInfo.environment["MEND_SCREENSHOTS"].map { URL(fileURLWithPath: $0, relativeTo: Paths.repo) }
            ?? s.dir.appendingPathComponent("screenshots")
        // The drift the live view must notice: text in events.id opens a new incident.
        let live = #"[{"id": "evt-9001", "kind": "view", "user_id": 7}]"#
        let (status, output) = try await Self.browse(
            s,
            [
                s.base, TestServer.people["alice"] ?? "", String(incident), "alice", shots.path,
                "--mend", Paths.repo.appendingPathComponent(".build/debug/mend").path,
                "--db", "sqlite:" + s.dir.appendingPathComponent("t.db").path, "--ingest-token", TestServer.token,
                "--live-table", "events", "--live-body", live,
            ])
        #expect(status == 0, "\(output)")

        // The approval through the page changed the table and is audited under the person's name.
        #expect(try await s.count(table) > before, "the approved plan replayed the parked records")
        #expect(try await s.engine.currentPlan(incidentID: Int64(incident))?.plan.status == .applied)
        let approved = try await s.engine.auditEntries().filter { $0.kind == "plan.approved" }
        #expect(approved.contains { $0.actor == "alice (dashboard)" && $0.detail.contains("checked in the browser test") })
        #expect(AuditVerifier.verify(try await s.engine.auditEntries()).ok)
        for name in [
            "dashboard-login", "dashboard-overview", "dashboard-incident-pending", "dashboard-incident-applied", "dashboard-live",
            "dashboard-audit", "dashboard-schema",
        ] {
            #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent(name + ".png").path), "no \(name).png")
        }
    }
}
