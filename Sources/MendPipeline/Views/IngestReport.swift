/// What an ingest run left behind, after the repairs and replays it ran: the records of this
/// run that loaded (on arrival or after a repair), that are still parked, and that were
/// quarantined. The one view of an ingest: `mend ingest` prints it and `--json` is this
/// value, and `POST /v1/ingest` answers with it, so both report the same `loaded` for the
/// same input.
public struct IngestReport: Encodable, Sendable {
    public struct Arrival: Encodable, Sendable {
        public var loaded, parked, quarantined: Int64
    }
    public struct Waiting: Encodable, Sendable {
        public var incident: Int64
        public var waitsFor: String
    }
    public var table: String
    public var lines: Int64
    public var loaded: Int64
    public var loadedAfterRepair: Int64
    public var parked: Int64
    public var quarantined: Int64
    public var coerced: Int64
    public var skippedByResume: Int64
    public var incidentsOpened: Int64
    public var repairsApplied: Int64
    /// Records parked by earlier runs that this run's repairs replayed too.
    public var replayedFromEarlierRuns: Int64
    public var stillParkedInTable: Int64
    public var onArrival: Arrival
    public var pendingApproval: [Waiting]
    public var seconds: Double
    /// Set on HTTP only: true when the answer is the one stored for a repeated Idempotency-Key.
    public var replayed: Bool?
    /// Set by `mend ingest` only: transactions this process committed (the benchmarks' cost
    /// of a run on SQLite).
    public var transactions: Int?

    public init(_ s: IngestSummary, replayed: Bool? = nil, transactions: Int? = nil) {
        self.replayed = replayed
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
    public var text: [String] {
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
