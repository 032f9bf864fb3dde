import Foundation
import MendCore
import MendStore

/// The promote step of a `promote_field` plan: once its column exists, the field's values
/// move out of the overflow column, page by page, in the plan's transaction. A value moves
/// only when Mend's own coercion takes it into the column's type without loss; the others
/// stay in `_mend_overflow`, so nothing is lost or changed in meaning.
enum PromoteField {
    struct Moved: Sendable, Equatable {
        var moved = 0
        var kept = 0
    }

    static let page = 1_000

    static func move(_ op: PlanOperation, table: String, compiler: PlanCompiler, in tx: StateTransaction) async throws -> Moved {
        let session = tx.session
        guard let column = op.column, let source = op.source, let type = op.type else { return Moved() }
        let ref = compiler.tableRef(table)
        let target = Identifier.quote(column)
        let overflow = Identifier.quote(Overflow.column)
        let postgres = compiler.dialect == .postgres
        // Rows are addressed by rowid (SQLite) or ctid (PostgreSQL): the table has no key of its own.
        let select =
            postgres
            ? "SELECT CAST(ctid AS text), CAST(\(overflow) AS text) FROM \(ref) WHERE jsonb_exists(\(overflow), ?) AND ctid > CAST(? AS tid) ORDER BY ctid LIMIT \(page)"
            : "SELECT rowid, \(overflow) FROM \(ref) WHERE rowid > ? AND \(overflow) IS NOT NULL ORDER BY rowid LIMIT \(page)"
        let update =
            postgres
            ? "UPDATE \(ref) SET \(target) = CAST(? AS \(type.postgresName)), \(overflow) = CAST(? AS jsonb) WHERE ctid = CAST(? AS tid)"
            : "UPDATE \(ref) SET \(target) = ?, \(overflow) = ? WHERE rowid = ?"
        var result = Moved()
        var cursor: SQLValue = postgres ? .text("(0,0)") : .int(0)
        while true {
            // The page is read without keeping its lock on the table: with a repair role the
            // update and any later DDL of the unit run on the role's own connection, which
            // would wait on it (D27).
            let from = cursor
            let rows = try await tx.readReleasingLocks { try await session.query(select, postgres ? [.text(source), from] : [from]) }
            guard let last = rows.last else { break }
            cursor = last[0]
            var updates: [[SQLValue]] = []
            for row in rows {
                guard let text = row[1].string, case .object(var members)? = try? JSONParser.parse(text),
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
                let rest: SQLValue = members.isEmpty ? .null : .text(JSONValue.object(members).jsonText)
                updates.append([value, rest, row[0]])
            }
            if !updates.isEmpty { try await session.promote(update, updates, table: table, column: column, source: source) }
            result.moved += updates.count
            if rows.count < page { break }
        }
        return result
    }
}
