import Foundation
import MendCore
import MendStore

/// The promote step of a `promote_field` plan: once its column exists, the field's values
/// move out of the overflow column, page by page, in the plan's transaction. A value moves
/// only when Mend's own coercion takes it into the column's type without loss; the others
/// stay in `_mend_overflow`, so nothing is lost or changed in meaning. The SQL (the pages by
/// rowid or ctid, the one-row UPDATE, the repair role's function) is MendStore's: Promote.swift.
enum PromoteField {
    struct Moved: Sendable, Equatable {
        var moved = 0
        var kept = 0
    }

    static let page = 1_000

    static func move(_ op: PlanOperation, table: String, in tx: StateTransaction) async throws -> Moved {
        let session = tx.session
        guard let column = op.column, let source = op.source, let type = op.type else { return Moved() }
        var result = Moved()
        var cursor: RowAddress?
        while true {
            // The page is read without keeping its lock on the table: with a repair role the
            // update and any later DDL of the unit run on the role's own connection, which
            // would wait on it (D27).
            let from = cursor
            let rows = try await tx.readReleasingLocks {
                try await session.overflowPage(table: table, key: source, after: from, limit: page)
            }
            guard let last = rows.last else { break }
            cursor = last.address
            var moves: [PromoteMove] = []
            for row in rows {
                guard let text = row.overflow, case .object(var members)? = try? JSONParser.parse(text),
                    let i = members.firstIndex(where: { $0.key == source })
                else { continue }
                let value: SQLValue
                switch Coercer.coerce(members[i].value, to: type) {
                case .exact(let v), .coerced(let v): value = v
                case .mismatch:
                    result.kept += 1
                    continue
                }
                members.remove(at: i)
                let rest = members.isEmpty ? nil : JSONValue.object(members).jsonText
                moves.append(PromoteMove(value: value, rest: rest, row: row.address))
            }
            if !moves.isEmpty { try await session.promote(moves, table: table, column: column, type: type, source: source) }
            result.moved += moves.count
            if rows.count < page { break }
        }
        return result
    }
}
