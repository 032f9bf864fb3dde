import Foundation
import MendCore
import MendPipeline
import MendTestSupport
import Testing

/// A rename's evidence reaches the person who approves it: on the incident page, with the
/// diff the mapping would make.
@Suite struct RenamePageTests {
    @Test func theIncidentPageShowsTheRenameEvidence() async throws {
        let s = try await TestServer.start(policy: .default)
        defer { Task { await s.stop() } }
        let base = (1...100).map { #"{"id": \#($0), "customer": "c-\#($0 % 37)"}"# }.joined(separator: ",")
        _ = try await s.ingest("orders", "[\(base)]")
        let renamed = (101...120).map { #"{"id": \#($0), "client": "c-\#($0 % 37)"}"# }.joined(separator: ",")
        let r = try await s.ingest("orders", "[\(renamed)]")
        let incident = try #require(r.pendingIncidents.first, "\(r.body)")
        let (cookie, _) = try await s.login()
        let page = try await s.send("GET", "/incidents/\(incident)", headers: [cookie])
        #expect(page.status == 200)
        #expect(page.body.contains(#"class="card rename-evidence" data-old="customer" data-new="client""#))
        #expect(page.body.contains("<b>client</b> looks like <b>customer</b> renamed"))
        #expect(page.body.contains("customer had a value in 100 of the last 100 loaded rows"))
        #expect(page.body.contains(#"<tr class="mapped">"#), "the diff marks the old column as mapped")
    }
}
