import Foundation
import MendCore
import NIOConcurrencyHelpers

extension PostgresSession {
    /// With a repair role, a promotion's moves go to `mend_promote_field` (PostgresRoles): the
    /// loader has no UPDATE, and the repair role may move one overflow key into an empty cell of
    /// its column and nothing else. Like DDL, it runs on the repair connection, outside this
    /// transaction; a move already made is not made again (the key has left the row).
    func promote(_ update: String, _ moves: [[SQLValue]], table: String, column: String, source: String) async throws {
        wrote.withLockedValue { $0 = true }
        guard let repair else {
            try await executeMany(update, moves)
            return
        }
        // (value, rest, row id) → [{"row_id": "(0,1)", "value": "5"}]; the function casts.
        var items: [JSONValue] = []
        items.reserveCapacity(moves.count)
        for m in moves where m.count == 3 {
            let value: JSONValue
            switch m[0] {
            case .null: value = .null
            case .bool(let b): value = .string(b ? "true" : "false")
            case .int(let n): value = .string(String(n))
            case .double(let d): value = .string(d.description)
            case .text(let s): value = .string(s)
            }
            items.append(.object([("row_id", .string(m[2].string ?? "")), ("value", value)]))
        }
        let fn = Identifier.qualified(stateSchema, "mend_promote_field")
        try await PostgresWarehouse.run(repair, "SET lock_timeout = 5000", [], deadline: deadline)
        try await PostgresWarehouse.run(
            repair, "SELECT \(fn)(?, ?, ?, ?, CAST(? AS jsonb))",
            [.text(schema), .text(table), .text(source), .text(column), .text(JSONValue.array(items).jsonText)], deadline: deadline)
    }
}
