import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The dashboard's time series: written in the commit that did the work, summing to what
/// `mend stats` says, and bounded by its retention window.
@Suite struct SeriesTests {
    @Test(arguments: Backend.available) func minutesSumToTheStats(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines((1...300).map { #"{"id": \#($0), "kind": "click"}"# }), table: "events")
        // A second load brings a new field: it parks, the rules plan it, the policy applies it, replay loads it.
        var lines = (301...340).map { #"{"id": \#($0), "kind": "view", "channel": "web"}"# }
        lines.append("{not json")
        _ = try await engine.ingest(path: writeLines(lines), table: "events")
        let stats = try #require(try await engine.stats().first)
        let data = try await engine.dashboard()
        let minutes = data.minutes.filter { $0.table == "events" }
        #expect(!minutes.isEmpty)
        // The drift was repaired by the default policy and replayed: replayed rows count as loaded.
        #expect(minutes.reduce(0) { $0 + $1.counts.loaded } == stats.loaded)
        #expect(stats.loaded == 340)
        #expect(minutes.reduce(0) { $0 + $1.counts.quarantined } == stats.quarantined)
        #expect(minutes.reduce(0) { $0 + $1.counts.parked } == 40, "parked counts arrivals, not what is still parked")
        #expect(minutes.reduce(0) { $0 + $1.counts.repairs } == 1)
        // One row per table and minute, however many batches went into it.
        #expect(Set(minutes.map(\.minute)).count == minutes.count)
        let times = try #require(data.timelines.first)
        #expect(times.applied != nil && times.replayed != nil && times.approved != nil)
        #expect(times.approvedBy == "policy (auto)")
        #expect(data.repairs.count == 1 && data.repairs.first?.planner == "rules")
    }

    @Test(arguments: Backend.available) func aRolledBackBatchCountsNothing(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        try await engine.bootstrap()
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await engine.state.transaction { tx in
                try await tx.recordMinute(table: "events", .init(loaded: 5))
                throw Boom()
            }
        }
        #expect(try await engine.state.transaction { tx in try await tx.minutes(since: 0) }.isEmpty)
    }

    @Test(arguments: Backend.available) func oldMinutesArePrunedByTheFirstWriteOfAMinute(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        try await engine.bootstrap()
        await engine.state.series.setRetention(minutes: 60)
        let now = Date().timeIntervalSince1970
        try await engine.state.transaction { tx in
            try await tx.recordMinute(table: "events", .init(loaded: 1), at: now - 3 * 3600)
            try await tx.recordMinute(table: "other", .init(loaded: 1), at: now - 3 * 3600)
            try await tx.recordMinute(table: "events", .init(loaded: 1), at: now - 30 * 60)
        }
        try await engine.state.transaction { tx in try await tx.recordMinute(table: "events", .init(parked: 2), at: now) }
        let rows = try await engine.state.transaction { tx in try await tx.minutes(since: 0) }
        // Pruned per table: "other" keeps its old row until it is written again.
        #expect(rows.filter { $0.table == "events" }.map(\.counts) == [.init(loaded: 1), .init(parked: 2)])
        #expect(rows.filter { $0.table == "other" }.count == 1)
        // Two writes in one minute add up in one row.
        try await engine.state.transaction { tx in try await tx.recordMinute(table: "events", .init(parked: 3), at: now) }
        let last = try await engine.state.transaction { tx in try await tx.minutes(since: now - 1) }
        #expect(last.map(\.counts) == [.init(parked: 5)])
    }
}
