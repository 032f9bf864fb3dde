import Foundation
public import MendCore

/// A managed table's row in Mend's state: counters, source keys, mappings, conversions
/// and schema versions.
extension StateTransaction {

    public func ensureTable(_ table: String) async throws {
        let rows = try await session.query("SELECT 1 FROM \(t("tables")) WHERE tbl = ?", [.text(table)])
        if rows.isEmpty {
            try await session.execute(
                "INSERT INTO \(t("tables")) (tbl, input, loaded, coerced, created_at) VALUES (?, 0, 0, 0, ?)",
                [.text(table), .double(Self.now())])
        }
    }

    /// Adds to a table's counters, creating its row if needed: one statement per batch
    /// on the hot path (SQLite and PostgreSQL both take this upsert).
    public func addCounters(_ table: String, input: Int, loaded: Int, coerced: Int) async throws {
        try await session.execute(
            "INSERT INTO \(t("tables")) AS cur (tbl, input, loaded, coerced, created_at) VALUES (?, ?, ?, ?, ?) "
                + "ON CONFLICT (tbl) DO UPDATE SET input = cur.input + excluded.input, loaded = cur.loaded + excluded.loaded, "
                + "coerced = cur.coerced + excluded.coerced",
            [.text(table), .int(Int64(input)), .int(Int64(loaded)), .int(Int64(coerced)), .double(Self.now())])
    }

    public func managedTables() async throws -> [String] {
        try await session.query("SELECT tbl FROM \(t("tables")) ORDER BY tbl", []).compactMap { $0[0].string }
    }

    /// The table's key map (KeyMap): which column each source key path lands in.
    public func keyMap(_ table: String) async throws -> KeyMap {
        var columns: [String: String] = [:]
        for r in try await session.query("SELECT key_path, col FROM \(t("keys")) WHERE tbl = ?", [.text(table)]) {
            if let key = r[0].string, let col = r[1].string { columns[key] = col }
        }
        return KeyMap(columns)
    }

    /// Stores key paths given a column, before (or in) the transaction of the batch, replay or
    /// new table that first saw them. Another worker may have stored the same key path, or
    /// given the same column to another one, since this one read the map: then no row
    /// flattened against the old map may commit, and the caller reads the map again.
    public func addKeys(_ table: String, _ added: [(key: String, column: String)]) async throws {
        guard !added.isEmpty else { return }
        try await session.insertMany(
            "INSERT \(pg ? "" : "OR IGNORE ")INTO \(t("keys")) (tbl, key_path, col) VALUES", tuple: "(?, ?, ?)",
            added.map { [.text(table), .text($0.key), .text($0.column)] }, suffix: pg ? " ON CONFLICT DO NOTHING" : "")
        let stored = try await keyMap(table)
        for (key, column) in added where stored[key] != column {
            throw StoreError.staleSchema(
                "another worker gave the key \(key) of table \(table) the column \(stored[key] ?? "(another key's)") first; the batch is flattened again"
            )
        }
    }

    /// The table as Mend sees it: catalog columns, stored mappings and conversions.
    public func schema(_ table: String) async throws -> TableSchema? {
        guard let cols = try await columns(table) else { return nil }
        var mappings: [String: String] = [:]
        for r in try await session.query("SELECT source, col FROM \(t("mappings")) WHERE tbl = ?", [.text(table)]) {
            mappings[r[0].string ?? ""] = r[1].string ?? ""
        }
        var conversions: [String: ValueConversion] = [:]
        for r in try await session.query("SELECT col, conversion FROM \(t("conversions")) WHERE tbl = ?", [.text(table)]) {
            if let data = r[1].string?.data(using: .utf8), let c = try? JSONDecoder().decode(ValueConversion.self, from: data) {
                conversions[r[0].string ?? ""] = c
            }
        }
        let version = try await session.scalarInt(
            "SELECT COALESCE(MAX(version), 1) FROM \(t("schema_versions")) WHERE tbl = ?", [.text(table)])
        return TableSchema(
            name: table, columns: cols, mappings: mappings, conversions: conversions, version: Int(version), keys: try await keyMap(table))
    }

    /// The table's columns as the catalog has them now; nil when there is no such table.
    public func columns(_ table: String) async throws -> [Column]? {
        try await warehouse.catalog(table: table, in: session)
    }

    public func addMapping(_ table: String, source: String, column: String) async throws {
        try await session.execute("DELETE FROM \(t("mappings")) WHERE tbl = ? AND source = ?", [.text(table), .text(source)])
        try await session.execute(
            "INSERT INTO \(t("mappings")) (tbl, source, col) VALUES (?, ?, ?)", [.text(table), .text(source), .text(column)])
    }

    public func addConversion(_ table: String, column: String, _ c: ValueConversion) async throws {
        let text = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        try await session.execute("DELETE FROM \(t("conversions")) WHERE tbl = ? AND col = ?", [.text(table), .text(column)])
        try await session.execute(
            "INSERT INTO \(t("conversions")) (tbl, col, conversion) VALUES (?, ?, ?)", [.text(table), .text(column), .text(text)])
    }

    public func recordSchemaVersion(_ table: String, planID: Int64?, ddl: String) async throws -> Int64 {
        let v =
            try await session.scalarInt("SELECT COALESCE(MAX(version), 0) FROM \(t("schema_versions")) WHERE tbl = ?", [.text(table)]) + 1
        try await session.execute(
            "INSERT INTO \(t("schema_versions")) (tbl, version, plan_id, ddl, applied_at) VALUES (?, ?, ?, ?, ?)",
            [.text(table), .int(v), planID.map(SQLValue.int) ?? .null, .text(ddl), .double(Self.now())])
        return v
    }

    public func schemaHistory(_ table: String) async throws -> [StateStore.SchemaVersion] {
        try await session.query(
            "SELECT version, plan_id, ddl, applied_at FROM \(t("schema_versions")) WHERE tbl = ? ORDER BY version", [.text(table)]
        ).map {
            StateStore.SchemaVersion(version: $0[0].int ?? 0, planID: $0[1].int, ddl: $0[2].string ?? "", appliedAt: $0[3].double ?? 0)
        }
    }
}

extension StateStore {
    public struct SchemaVersion: Sendable, Codable {
        public var version: Int64
        public var planID: Int64?
        public var ddl: String
        public var appliedAt: Double
    }
}
