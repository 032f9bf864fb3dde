import MendCore

extension SQLiteSession {
    /// The rows with an overflow object, by rowid (Promote.swift): SQLite reads every one,
    /// and the caller looks for the key.
    func overflowPage(table: String, key: String, after cursor: RowAddress?, limit: Int) async throws -> [OverflowRow] {
        let overflow = Identifier.quote(Overflow.column)
        let rows = try await query(
            "SELECT rowid, \(overflow) FROM \(Identifier.quote(table)) WHERE rowid > ? AND \(overflow) IS NOT NULL ORDER BY rowid LIMIT ?",
            [cursor?.value ?? .int(0), .int(Int64(limit))])
        return rows.map { OverflowRow(address: RowAddress(value: $0[0]), overflow: $0[1].string) }
    }

    func promote(_ moves: [PromoteMove], table: String, column: String, type: LogicalType, source: String) async throws {
        let overflow = Identifier.quote(Overflow.column)
        try await executeMany(
            "UPDATE \(Identifier.quote(table)) SET \(Identifier.quote(column)) = ?, \(overflow) = ? WHERE rowid = ?", moves.map(\.binds))
    }
}
