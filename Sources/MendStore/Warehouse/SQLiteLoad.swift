import CSQLite
import MendCore

/// The bulk load (`SQLiteSession.load` and `loadFast`): prepared INSERTs, one per null pattern.
extension SQLiteWarehouse {
    /// Every row of a target table goes through here (batches, replay, isolation), so this
    /// is where a column's affinity decides how its numbers are bound.
    func load(table: String, columns: [Column], rows: [[SQLValue]]) throws {
        let exact = columns.map { NumberText.affinityRoundsText($0.type?.sqliteName ?? $0.declaredType) }
        // Each row goes through an INSERT that names only its non-null columns: the columns a
        // drifting source's rare fields added are null in nearly every row, and binding and
        // copying those nulls made a 30-column table load a third slower than a 10-column one.
        // One statement per null pattern, a few per batch; past 64 columns or 32 patterns, the
        // full statement.
        var byPattern: [UInt64: (stmt: OpaquePointer, sql: String, positions: [Int])] = [:]
        let full = Array(columns.indices)
        for row in rows {
            var pattern: UInt64 = 0
            if columns.count <= 64 {
                for (i, v) in row.enumerated() {
                    if case .null = v { continue }
                    pattern |= 1 << UInt64(i)
                }
            } else {
                pattern = .max
            }
            let entry: (stmt: OpaquePointer, sql: String, positions: [Int])
            if let hit = byPattern[pattern] {
                entry = hit
            } else {
                let positions =
                    pattern == .max || byPattern.count >= 32 ? full : columns.indices.filter { pattern & (1 << UInt64($0)) != 0 }
                let sql = Self.insert(table: table, columns: positions.map { columns[$0].name })
                entry = (try prepared(sql), sql, positions)
                if byPattern.count < 32 { byPattern[pattern] = entry }
            }
            for (j, i) in entry.positions.enumerated() { bind(entry.stmt, Int32(j + 1), row[i], exact: exact[i]) }
            try step(entry.stmt, entry.sql)
        }
        for entry in byPattern.values { sqlite3_clear_bindings(entry.stmt) }
    }

    private static func insert(table: String, columns: [String]) -> String {
        guard !columns.isEmpty else { return "INSERT INTO \(Identifier.quote(table)) DEFAULT VALUES" }
        let names = columns.map(Identifier.quote).joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return "INSERT INTO \(Identifier.quote(table)) (\(names)) VALUES (\(marks))"
    }
}
