import Foundation
public import MendCore

/// Per table and minute: what the batches did (loaded, parked, quarantined, coerced) and how
/// many repairs were applied. Written by `recordMinute` in the transaction of the batch (or
/// the apply, or the replay) that did the work, so a rolled-back batch counts nothing; read
/// by the dashboard's plots. Bounded: rows older than the retention window are deleted by
/// the first write of each minute for its table, through the primary key (docs/decisions.md D19).
extension StateTransaction {
    static let seriesDDL =
        "(tbl TEXT NOT NULL, minute BIGINT NOT NULL, loaded BIGINT NOT NULL DEFAULT 0, parked BIGINT NOT NULL DEFAULT 0, "
        + "quarantined BIGINT NOT NULL DEFAULT 0, coerced BIGINT NOT NULL DEFAULT 0, repairs BIGINT NOT NULL DEFAULT 0, "
        + "PRIMARY KEY (tbl, minute))"

    var seriesTableDDL: String { "CREATE TABLE IF NOT EXISTS \(t("minutes")) \(Self.seriesDDL)" }

    /// Creates the minutes table on a database bootstrapped before it existed. It looks
    /// first: a least-privilege role may not CREATE, and needs not once it exists.
    func ensureSeriesTable() async throws {
        if try await !stateTableExists("minutes") { try await session.execute(seriesTableDDL) }
    }

    /// Adds one batch's counts to its table's current minute: one upsert. Once a minute per
    /// table it also deletes the rows that left the retention window (a range of the key).
    public func recordMinute(table: String, _ counts: StateStore.MinuteCounts, at time: Double? = nil) async throws {
        if counts.isEmpty { return }
        let minute = StateStore.minute(of: time ?? Self.now())
        try await session.execute(
            "INSERT INTO \(t("minutes")) AS cur (tbl, minute, loaded, parked, quarantined, coerced, repairs) VALUES (?, ?, ?, ?, ?, ?, ?) "
                + "ON CONFLICT (tbl, minute) DO UPDATE SET loaded = cur.loaded + excluded.loaded, parked = cur.parked + excluded.parked, "
                + "quarantined = cur.quarantined + excluded.quarantined, coerced = cur.coerced + excluded.coerced, "
                + "repairs = cur.repairs + excluded.repairs",
            [
                .text(table), .int(minute), .int(counts.loaded), .int(counts.parked), .int(counts.quarantined), .int(counts.coerced),
                .int(counts.repairs),
            ])
        if let cutoff = await store.series.pruneBelow(table: table, minute: minute) {
            try await session.execute("DELETE FROM \(t("minutes")) WHERE tbl = ? AND minute < ?", [.text(table), .int(cutoff)])
        }
    }

    /// The minutes of every table from `since` (epoch seconds) on, oldest first.
    public func minutes(since: Double) async throws -> [StateStore.Minute] {
        try await session.query(
            "SELECT tbl, minute, loaded, parked, quarantined, coerced, repairs FROM \(t("minutes")) WHERE minute >= ? ORDER BY minute, tbl",
            [.int(StateStore.minute(of: since))]
        ).map { r in
            StateStore.Minute(
                table: r[0].string ?? "", minute: r[1].int ?? 0,
                counts: .init(
                    loaded: r[2].int ?? 0, parked: r[3].int ?? 0, quarantined: r[4].int ?? 0, coerced: r[5].int ?? 0,
                    repairs: r[6].int ?? 0))
        }
    }

    /// The lifecycle entries the incident timeline shows (opened, approved, applied,
    /// replayed), from the newest `window` entries of the log: a bounded read of its key.
    public func lifecycleEntries(window: Int64 = 50_000) async throws -> [AuditEntry] {
        let head = try await session.query("SELECT COALESCE(MAX(seq), 0) FROM \(t("audit"))", []).first?[0].int ?? 0
        return try await session.query(
            "SELECT \(Self.auditColumns) FROM \(t("audit")) WHERE seq > ? "
                + "AND kind IN ('plan.approved', 'plan.applied', 'incident.replayed', 'incident.resolved') ORDER BY seq",
            [.int(head - window)]
        ).map { r in
            AuditEntry(
                seq: r[0].int ?? 0, at: r[1].string ?? "", kind: r[2].string ?? "", subject: r[3].string ?? "", actor: r[4].string ?? "",
                detail: r[5].string ?? "", prevHash: r[6].string ?? "", hash: r[7].string ?? "")
        }
    }
}

extension StateTransaction {
    /// Every plan's incident, planner and status (no plan bodies): the timeline's and the
    /// time-to-repair plot's join, in one read.
    public func planSummaries() async throws -> [StateStore.PlanSummary] {
        try await session.query("SELECT id, incident_id, COALESCE(planned_by, ''), status, decided_by FROM \(t("plans")) ORDER BY id", [])
            .map { r in
                StateStore.PlanSummary(
                    id: r[0].int ?? 0, incidentID: r[1].int ?? 0, plannedBy: r[2].string ?? "",
                    status: PlanStatus(rawValue: r[3].string ?? "") ?? .proposed, decidedBy: r[4].string)
            }
    }
}

extension StateStore {
    public struct PlanSummary: Sendable, Equatable {
        public var id: Int64
        public var incidentID: Int64
        public var plannedBy: String
        public var status: PlanStatus
        public var decidedBy: String?
    }

    /// Minutes since the epoch.
    public static func minute(of time: Double) -> Int64 { Int64((time / 60).rounded(.down)) }

    /// What one minute of one table counts.
    public struct MinuteCounts: Sendable, Equatable, Codable {
        public var loaded: Int64
        public var parked: Int64
        public var quarantined: Int64
        public var coerced: Int64
        public var repairs: Int64
        public init(loaded: Int64 = 0, parked: Int64 = 0, quarantined: Int64 = 0, coerced: Int64 = 0, repairs: Int64 = 0) {
            self.loaded = loaded
            self.parked = parked
            self.quarantined = quarantined
            self.coerced = coerced
            self.repairs = repairs
        }
        public var isEmpty: Bool { loaded == 0 && parked == 0 && quarantined == 0 && coerced == 0 && repairs == 0 }
    }

    public struct Minute: Sendable, Equatable, Codable {
        public var table: String
        /// Minutes since the epoch.
        public var minute: Int64
        public var counts: MinuteCounts
        public init(table: String, minute: Int64, counts: MinuteCounts) {
            self.table = table
            self.minute = minute
            self.counts = counts
        }
    }

    /// The retention window and, per table, the last minute written by this process: the
    /// first write of a new minute prunes. Shared by every copy of the store.
    public actor SeriesRetention {
        /// Seven days by default: the dashboard plots the last day; the rest is for a look back.
        public static let defaultMinutes: Int64 = 7 * 24 * 60
        public private(set) var retentionMinutes: Int64
        private var last: [String: Int64] = [:]

        public init(minutes: Int64 = SeriesRetention.defaultMinutes) { retentionMinutes = max(60, minutes) }

        /// Keeps at least an hour, so the overview's hour plot is never cut short.
        public func setRetention(minutes: Int64) { retentionMinutes = max(60, minutes) }

        /// The cutoff to prune below when this is the table's first write in `minute`, else nil.
        func pruneBelow(table: String, minute: Int64) -> Int64? {
            if let seen = last[table], seen >= minute { return nil }
            last[table] = minute
            return minute - retentionMinutes
        }
    }
}
