import MendCore

/// Rows of a target table read back as text: the newest ones, for rename evidence
/// (RenameDetector), and a sample, for MCP's sample_records.
extension StateTransaction {
    /// The newest rows' values of `columns`, newest first, as text. SQLite reads by rowid;
    /// PostgreSQL reads the table's last pages by ctid (a TID range scan, not a sort of the
    /// whole table): rows loaded by COPY and INSERT sit in the order they came. Read through
    /// `readReleasingLocks`: a repair unit reads this before its DDL, which a repair role runs
    /// on another connection that would wait on this read's lock on the table.
    public func recentValues(table: String, columns: [String], limit: Int) async throws -> [[String?]] {
        try await readReleasingLocks { try await newestRows(table: table, columns: columns, limit: limit) }
    }

    private func newestRows(table: String, columns: [String], limit: Int) async throws -> [[String?]] {
        let qualified = Identifier.qualified(warehouse.targetSchema, table)
        let list = textList(columns)
        let rows: [[SQLValue]]
        if !pg {
            rows = try await session.query("SELECT \(list) FROM \(qualified) ORDER BY rowid DESC LIMIT ?", [.int(Int64(limit))])
        } else {
            // The first page is read apart and bound: inside the query, pg_relation_size() is
            // volatile, so the bound was evaluated per row in a sequential scan of the whole
            // table (2.3 s at 1,000,000 rows) instead of a TID range scan (19 ms).
            let first = try await session.scalarInt(
                "SELECT GREATEST(pg_relation_size(CAST(? AS regclass)) / current_setting('block_size')::bigint - 64, 0)",
                [.text(qualified)])
            rows = try await session.query(
                "SELECT \(list) FROM \(qualified) WHERE ctid >= CAST(? AS tid) ORDER BY ctid DESC LIMIT ?",
                [.text("(\(first),0)"), .int(Int64(limit))])
        }
        return rows.map { $0.map(\.textForm) }
    }

    /// Up to `limit` rows of a target table, `columns` in their order, every value as text (or
    /// nil), in no particular order.
    public func sampleValues(table: String, columns: [String], limit: Int) async throws -> [[String?]] {
        let rows = try await session.query(
            "SELECT \(textList(columns)) FROM \(Identifier.qualified(warehouse.targetSchema, table)) LIMIT ?", [.int(Int64(limit))])
        return rows.map { $0.map(\.textForm) }
    }

    /// The select list that reads `columns` as text. On SQLite CAST prints a REAL with 15
    /// digits: the adapter reads the double itself (shortest exact text) and every other value
    /// as CAST would, exact decimals included.
    private func textList(_ columns: [String]) -> String {
        columns.map { pg ? "CAST(\(Identifier.quote($0)) AS TEXT)" : Identifier.quote($0) }.joined(separator: ", ")
    }
}
