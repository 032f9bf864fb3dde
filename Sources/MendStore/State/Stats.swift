import Foundation
import MendCore

/// Counts for `mend stats`, `/metrics` and planner spending.
extension StateTransaction {
    public func stats() async throws -> [TableStats] {
        let parked = Dictionary(
            try await session.query("SELECT tbl, COUNT(*) FROM \(t("parked")) GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            },
            uniquingKeysWith: +)
        let quarantined = Dictionary(
            try await session.query("SELECT tbl, COUNT(*) FROM \(t("quarantine")) GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            },
            uniquingKeysWith: +)
        let open = Dictionary(
            try await session.query("SELECT tbl, COUNT(*) FROM \(t("incidents")) WHERE status <> 'resolved' GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            }, uniquingKeysWith: +)
        let versions = Dictionary(
            try await session.query("SELECT tbl, MAX(version) FROM \(t("schema_versions")) GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            }, uniquingKeysWith: max)
        // `input` is the counter each batch adds to, never a sum of the others: a record that
        // leaves Mend's state without Mend shows as a gap.
        return try await session.query("SELECT tbl, input, loaded, coerced FROM \(t("tables")) ORDER BY tbl", []).map { r in
            let name = r[0].string ?? ""
            let loaded = r[2].int ?? 0
            let p = parked[name] ?? 0
            let q = quarantined[name] ?? 0
            return TableStats(
                table: name, input: r[1].int ?? 0, loaded: loaded, parked: p, quarantined: q, coerced: r[3].int ?? 0,
                openIncidents: open[name] ?? 0, schemaVersion: versions[name] ?? 0)
        }
    }

    public func recordUsage(planID: Int64?, model: String, tokensIn: Int, tokensOut: Int, cost: Double) async throws {
        try await session.execute(
            "INSERT INTO \(t("usage")) (plan_id, model, tokens_in, tokens_out, cost, at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                planID.map(SQLValue.int) ?? .null, .text(model), .int(Int64(tokensIn)), .int(Int64(tokensOut)), .double(cost),
                .double(Self.now()),
            ])
    }

    /// One table's loaded, parked and quarantined counts, now.
    public func counts(table: String) async throws -> (loaded: Int64, parked: Int64, quarantined: Int64) {
        let loaded = try await session.query("SELECT loaded FROM \(t("tables")) WHERE tbl = ?", [.text(table)]).first?[0].int ?? 0
        let parked = try await session.query("SELECT COUNT(*) FROM \(t("parked")) WHERE tbl = ?", [.text(table)]).first?[0].int ?? 0
        let quarantined =
            try await session.query("SELECT COUNT(*) FROM \(t("quarantine")) WHERE tbl = ?", [.text(table)]).first?[0].int ?? 0
        return (loaded, parked, quarantined)
    }

    public func usage() async throws -> StateStore.UsageTotals {
        let r = try await session.query(
            "SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), COALESCE(SUM(cost), 0) FROM \(t("usage"))", [])
        return StateStore.UsageTotals(tokensIn: r.first?[0].int ?? 0, tokensOut: r.first?[1].int ?? 0, cost: r.first?[2].double ?? 0)
    }

    /// Planner spending per model, for `/metrics`.
    public func usageByModel() async throws -> [(model: String, tokensIn: Int64, tokensOut: Int64, cost: Double)] {
        try await session.query(
            "SELECT COALESCE(model, ''), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), COALESCE(SUM(cost), 0) FROM \(t("usage")) GROUP BY model",
            []
        ).map { ($0[0].string ?? "", $0[1].int ?? 0, $0[2].int ?? 0, $0[3].double ?? 0) }
    }
}

extension StateStore {
    public struct UsageTotals: Sendable, Codable { public var tokensIn: Int64; public var tokensOut: Int64; public var cost: Double }
}
