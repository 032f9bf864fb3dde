import Foundation
import MendCore
import NIOConcurrencyHelpers

extension PostgresSession {
    /// The rows whose overflow object holds `key`, by ctid (Promote.swift).
    func overflowPage(table: String, key: String, after cursor: RowAddress?, limit: Int) async throws -> [OverflowRow] {
        let overflow = Identifier.quote(Overflow.column)
        let rows = try await query(
            "SELECT CAST(ctid AS text), CAST(\(overflow) AS text) FROM \(Identifier.qualified(schema, table)) "
                + "WHERE jsonb_exists(\(overflow), ?) AND ctid > CAST(? AS tid) ORDER BY ctid LIMIT ?",
            [.text(key), cursor?.value ?? .text("(0,0)"), .int(Int64(limit))])
        return rows.map { OverflowRow(address: RowAddress(value: $0[0]), overflow: $0[1].string) }
    }

    /// With a repair role, a promotion's moves go to `mend_promote_field` (PostgresRoles): the
    /// loader has no UPDATE, and the repair role may move one overflow key into an empty cell of
    /// its column and nothing else. Like DDL, it runs on the repair connection, outside this
    /// transaction; a move already made is not made again (the key has left the row).
    func promote(_ moves: [PromoteMove], table: String, column: String, type: LogicalType, source: String) async throws {
        wrote.withLockedValue { $0 = true }
        guard let repair else {
            let overflow = Identifier.quote(Overflow.column)
            try await executeMany(
                "UPDATE \(Identifier.qualified(schema, table)) SET \(Identifier.quote(column)) = CAST(? AS \(type.postgresName)), "
                    + "\(overflow) = CAST(? AS jsonb) WHERE ctid = CAST(? AS tid)",
                moves.map(\.binds))
            return
        }
        // (value, row) → [{"row_id": "(0,1)", "value": "5"}]; the function casts.
        var items: [JSONValue] = []
        items.reserveCapacity(moves.count)
        for m in moves {
            let value: JSONValue
            switch m.value {
            case .null: value = .null
            case .bool(let b): value = .string(b ? "true" : "false")
            case .int(let n): value = .string(String(n))
            case .double(let d): value = .string(d.description)
            case .text(let s): value = .string(s)
            }
            items.append(.object([("row_id", .string(m.row.value.string ?? "")), ("value", value)]))
        }
        let fn = Identifier.qualified(stateSchema, "mend_promote_field")
        try await PostgresWarehouse.run(repair, "SET lock_timeout = 5000", [], deadline: deadline)
        try await PostgresWarehouse.run(
            repair, "SELECT \(fn)(?, ?, ?, ?, CAST(? AS jsonb))",
            [.text(schema), .text(table), .text(source), .text(column), .text(JSONValue.array(items).jsonText)], deadline: deadline)
    }
}
