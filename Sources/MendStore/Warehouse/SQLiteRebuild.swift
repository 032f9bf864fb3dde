import CSQLite
import MendCore

/// The table rebuild: how a `widen_column` repair runs on SQLite, which has no ALTER COLUMN TYPE.
extension SQLiteWarehouse {
    /// Changes a column's declared type the way SQLite allows: a new table with the new
    /// type, the rows copied, the old table dropped and the new one renamed into place, in
    /// the caller's transaction and under `rebuildAuthorizer`. Values are copied as
    /// stored, so a widening (bigint → numeric, anything → text) loses nothing.
    func rebuild(table: String, column: String, to type: LogicalType) throws {
        let columns = try query("SELECT name, type FROM pragma_table_info(?)", [.text(table)])
        guard columns.contains(where: { $0[0].string == column }) else {
            throw StoreError.notFound("table \(table) has no column \(column)")
        }
        let replacement = Identifier.shorten(table + "__mend_rebuild")
        let defs = columns.map { r -> String in
            let name = r[0].string ?? ""
            let declared = name == column ? type.sqliteName : (r[1].string ?? "")
            return "\(Identifier.quote(name)) \(declared)"
        }.joined(separator: ", ")
        let names = columns.map { Identifier.quote($0[0].string ?? "") }.joined(separator: ", ")
        // Into a TEXT column, a REAL would become its 15-digit text and an exact-decimal
        // BLOB would stay a BLOB: write the double's shortest exact text and the BLOB's text.
        let selected =
            type == .text
            ? columns.map { r -> String in
                let name = Identifier.quote(r[0].string ?? "")
                return r[0].string == column ? NumberText.exactTextExpression(name) : name
            }.joined(separator: ", ") : names
        finalizeStatements()
        let scope = RebuildScope(table: table, replacement: replacement)
        let unmanaged = Unmanaged.passRetained(scope)
        sqlite3_set_authorizer(db, rebuildAuthorizer, unmanaged.toOpaque())
        defer {
            sqlite3_set_authorizer(db, nil, nil)
            unmanaged.release()
        }
        try exec("CREATE TABLE \(Identifier.quote(replacement)) (\(defs))")
        try exec("INSERT INTO \(Identifier.quote(replacement)) (\(names)) SELECT \(selected) FROM \(Identifier.quote(table))")
        try exec("DROP TABLE \(Identifier.quote(table))")
        try exec("ALTER TABLE \(Identifier.quote(replacement)) RENAME TO \(Identifier.quote(table))")
    }
}

/// SQLite's own schema tables, which its DDL rewrites (RENAME also touches the temp schema).
private let schemaTables: Set<String> = ["sqlite_master", "sqlite_schema", "sqlite_sequence", "sqlite_temp_master", "sqlite_temp_schema"]

/// What the rebuild authorizer allows: dropping exactly the table being rebuilt, and
/// writing exactly its replacement.
final class RebuildScope: @unchecked Sendable {
    let table: String
    let replacement: String
    init(table: String, replacement: String) {
        self.table = table
        self.replacement = replacement
    }
}

/// The authorizer for a table rebuild (SQLite has no ALTER COLUMN TYPE): besides the
/// schema reads and writes, it allows creating and filling the replacement, dropping the
/// one table being rebuilt, and renaming the replacement in its place. Nothing else.
private let rebuildAuthorizer:
    @convention(c) (
        UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
        UnsafePointer<CChar>?
    ) -> Int32 = { user, action, a1, a2, _, _ in
        guard let user else { return SQLITE_DENY }
        let scope = Unmanaged<RebuildScope>.fromOpaque(user).takeUnretainedValue()
        func name(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        switch action {
        case SQLITE_CREATE_TABLE: return name(a1) == scope.replacement ? SQLITE_OK : SQLITE_DENY
        case SQLITE_INSERT:
            let t = name(a1).lowercased()
            return name(a1) == scope.replacement || t == "sqlite_master" || t == "sqlite_schema" ? SQLITE_OK : SQLITE_DENY
        case SQLITE_DROP_TABLE: return name(a1) == scope.table ? SQLITE_OK : SQLITE_DENY
        case SQLITE_ALTER_TABLE: return name(a2) == scope.replacement ? SQLITE_OK : SQLITE_DENY
        case SQLITE_DELETE, SQLITE_UPDATE:
            // DROP TABLE empties the table it drops first: that one table only.
            if action == SQLITE_DELETE, name(a1) == scope.table { return SQLITE_OK }
            return schemaTables.contains(name(a1).lowercased()) ? SQLITE_OK : SQLITE_DENY
        case SQLITE_READ, SQLITE_SELECT, SQLITE_FUNCTION: return SQLITE_OK
        default: return SQLITE_DENY
        }
    }
