import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Keyed HTTP bodies leave bounded state: the offset goes once the answer is stored, and
/// keys expire after their lifetime.
@Suite struct IdempotencyTests {
    @Test(arguments: Backend.available) func offsetsArePrunedAndKeysExpire(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        let body = Data(#"[{"id": 1}, {"id": 2}]"#.utf8)
        let first = try await engine.ingest(body: body, table: "events", idempotencyKey: "k1")
        #expect(first.replayed == false && first.summary.loaded == 2)
        let offsets = try await engine.rows("SELECT COUNT(*) FROM \(engine.warehouse.stateTable("offsets"))")
        #expect(offsets.first?.first?.int == 0, "the committed offset of an answered body is dropped")
        #expect(try await engine.ingest(body: body, table: "events", idempotencyKey: "k1").replayed == true)
        // With a lifetime of zero the key is forgotten: the same key is new data again.
        let again = try await engine.ingest(body: body, table: "events", idempotencyKey: "k1", keyLifetime: 0)
        #expect(again.replayed == false)
        #expect(try await engine.stats().first?.loaded == 4)
    }
}
