import Foundation
import MendCore
import MendGuard
import MendPipeline
import MendStore

// Printing shared by the commands: JSON, aligned tables, plans, logs.

/// Every `--json` output: snake_case keys (one vocabulary with the HTTP answers and MCP),
/// sorted, ISO 8601 dates. Shapes: docs/json.md.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

func pad(_ cols: [String]) -> String {
    cols.enumerated().map { i, c in
        i == 0
            ? c.padding(toLength: max(16, c.count), withPad: " ", startingAt: 0) : String(repeating: " ", count: max(0, 12 - c.count)) + c
    }
    .joined(separator: " ")
}

func printPlan(_ plan: Plan, verdicts: [GuardVerdict], decision: PolicyDecision?) {
    print("plan \(plan.id > 0 ? "#\(plan.id) " : "")by \(plan.plannedBy) (\(plan.status.rawValue), confidence \(plan.confidence)):")
    for op in plan.operations { print("  • \(op.summary)") }
    print("  why: \(plan.rationale)")
    for e in plan.evidence ?? [] {
        print("  rename evidence (score \(e.score), similarity \(e.similarity)): \(e.newKey) → \(e.oldColumn)")
        print(
            "    \(e.oldColumn) had a value in \(e.recentWithOld) of the last \(e.recentRows) loaded rows (the newest \(e.trailingWithOld) in a row)"
        )
        print("    \(e.newKey) began at \(e.firstNewAt); \(e.newRecordsWithOld) of its \(e.newRecords) records also carry \(e.oldColumn)")
        print("    samples (old ↔ new): \(e.samples.map { "\($0.old) ↔ \($0.new)" }.joined(separator: ", "))")
    }
    for v in verdicts {
        print("  SQL: \(v.sql)")
        print("    guard: \(v.allowed ? "allowed" : "REFUSED"), risk \(v.risk.rawValue) [\(v.rule)] \(v.reasons.joined(separator: "; "))")
        if let alt = v.saferAlternative { print("    safer: \(alt)") }
    }
    if let decision { print("  policy: \(decision.autonomy.rawValue) — \(decision.reasons.joined(separator: "; "))") }
}

/// Logs go to standard error: on stdio, standard output is the protocol.
func logStderr(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// What an ingest run left behind, after the repairs and replays it ran: the records of this
/// run that loaded (on arrival or after a repair), that are still parked, and that were
/// quarantined. `mend ingest` prints it, and `--json` is this value.
struct IngestReport: Encodable {
    struct Arrival: Encodable {
        var loaded, parked, quarantined: Int64
    }
    struct Waiting: Encodable {
        var incident: Int64
        var waitsFor: String
    }
    var table: String
    var lines: Int64
    var loaded: Int64
    var loadedAfterRepair: Int64
    var parked: Int64
    var quarantined: Int64
    var coerced: Int64
    var skippedByResume: Int64
    var incidentsOpened: Int64
    var repairsApplied: Int64
    /// Records parked by earlier runs that this run's repairs replayed too.
    var replayedFromEarlierRuns: Int64
    var stillParkedInTable: Int64
    var onArrival: Arrival
    var pendingApproval: [Waiting]
    var seconds: Double
    /// Transactions this process committed (the benchmarks' cost of a run on SQLite).
    var transactions: Int?

    init(_ s: IngestSummary, transactions: Int? = nil) {
        self.transactions = transactions
        // Replays load the incidents' records, which can include records parked by earlier
        // runs: this run's share is at most what it parked.
        let afterLoaded = min(s.replayedLoaded, s.parked)
        let afterQuarantined = min(s.replayedQuarantined, s.parked - afterLoaded)
        table = s.table
        lines = s.lines
        loaded = s.loaded + afterLoaded
        loadedAfterRepair = afterLoaded
        parked = s.parked - afterLoaded - afterQuarantined
        quarantined = s.quarantined + afterQuarantined
        coerced = s.coerced
        skippedByResume = s.skippedByResume
        incidentsOpened = s.incidentsOpened
        repairsApplied = s.repaired
        replayedFromEarlierRuns = s.replayedLoaded + s.replayedQuarantined - afterLoaded - afterQuarantined
        stillParkedInTable = s.stillParked
        onArrival = Arrival(loaded: s.loaded, parked: s.parked, quarantined: s.quarantined)
        pendingApproval = s.pendingApproval.map {
            Waiting(incident: $0, waitsFor: "a person: `mend approve \($0)` or the dashboard (`mend reject \($0) --reason ...` to refuse)")
        }
        seconds = s.seconds
    }

    /// "7 lines → 6 loaded (2 after repair), 0 parked, 1 quarantined", then what waits, for whom.
    var text: [String] {
        var out = [
            "\(table): \(lines) lines → \(loaded) loaded\(loadedAfterRepair > 0 ? " (\(loadedAfterRepair) after repair)" : ""), "
                + "\(parked) parked, \(quarantined) quarantined, \(coerced) values coerced"
        ]
        if skippedByResume > 0 { out.append("resumed after line \(skippedByResume) (use --from-start to reload)") }
        if incidentsOpened > 0 || repairsApplied > 0 {
            var line = "incidents opened: \(incidentsOpened), repairs applied: \(repairsApplied)"
            if replayedFromEarlierRuns > 0 { line += "; \(replayedFromEarlierRuns) records parked by earlier runs were replayed too" }
            out.append(line)
        }
        if stillParkedInTable > parked { out.append("\(stillParkedInTable) records of \(table) are parked in all (`mend incidents`)") }
        // One incident gets its own line; more get one line that lists them, so the summary
        // stays short however many wait (issue 29).
        if pendingApproval.count == 1, let w = pendingApproval.first {
            out.append(
                "incident \(w.incident) waits for a person's approval: `mend show \(w.incident)`, then `mend approve \(w.incident)` or `mend reject \(w.incident) --reason ...`"
            )
        } else if pendingApproval.count > 1 {
            out.append("\(pendingApproval.count) incidents wait for approval: `mend incidents --status pending_approval`")
        }
        return out
    }
}
