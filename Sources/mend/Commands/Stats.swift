import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per table: input, loaded, parked, quarantined, coerced; exits 1 when input ≠ loaded + parked + quarantined.",
        discussion: """
            `input` is counted: the records read from the table's sources, committed with each batch. \
            `accounted` is loaded + parked + quarantined. Replays, quarantine and discard contracts move records \
            between those places and never change the sum, so the two are equal unless something outside Mend \
            removed records; then the command names the table and exits 1 (`--json`: `conserved: false`).
            """)
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Row: Encodable {
        var input, accounted, loaded, parked, quarantined, coerced, open_incidents, schema_version: Int64
        var conserved: Bool
    }
    struct Out: Encodable {
        var tables: [String: Row]
        var repair_seconds: [String: Double]
        var repair_seconds_median: Double?
        var llm: StateStore.UsageTotals
        /// False when some table's input differs from its accounted records.
        var conserved: Bool
    }

    func run() async throws {
        let engine = try await options.engine()
        let stats = try await engine.stats()
        let times = try await engine.repairTimes()
        let usage = try await engine.usage()
        let sorted = times.map(\.2).sorted()
        let median = sorted.isEmpty ? nil : sorted[sorted.count / 2]
        if output.json {
            var tables: [String: Row] = [:]
            for t in stats {
                tables[t.table] = Row(
                    input: t.input, accounted: t.accounted, loaded: t.loaded, parked: t.parked, quarantined: t.quarantined,
                    coerced: t.coerced, open_incidents: t.openIncidents, schema_version: t.schemaVersion, conserved: t.conserved)
            }
            try printJSON(
                Out(
                    tables: tables, repair_seconds: Dictionary(times.map { ("\($0.0)", $0.2) }, uniquingKeysWith: { a, _ in a }),
                    repair_seconds_median: median, llm: usage, conserved: stats.allSatisfy(\.conserved)))
            try Self.failOnGap(stats)
            return
        }
        if stats.isEmpty {
            print("no tables yet: run `mend ingest FILE --table NAME`")
            return
        }
        print(pad(["table", "input", "accounted", "loaded", "parked", "quarantined", "coerced", "open incidents"]))
        for t in stats {
            print(
                pad([
                    t.table, "\(t.input)", "\(t.accounted)\(t.conserved ? "" : " ≠")", "\(t.loaded)", "\(t.parked)", "\(t.quarantined)",
                    "\(t.coerced)", "\(t.openIncidents)",
                ]))
        }
        if let median { print(String(format: "time to repair (median over %d incidents): %.3fs", times.count, median)) }
        if usage.tokensIn + usage.tokensOut > 0 {
            print(String(format: "LLM: %d tokens in, %d out, est. $%.4f", usage.tokensIn, usage.tokensOut, usage.cost))
        }
        try Self.failOnGap(stats)
    }

    /// Exit 1, naming each table whose input and accounted records differ (DESIGN invariant 1).
    static func failOnGap(_ stats: [TableStats]) throws {
        let gaps = stats.compactMap(\.gap)
        guard !gaps.isEmpty else { return }
        for g in gaps { FileHandle.standardError.write(Data(("mend stats: " + g + "\n").utf8)) }
        throw ExitCode(1)
    }
}
