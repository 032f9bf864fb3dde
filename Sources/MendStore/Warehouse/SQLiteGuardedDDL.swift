import CSQLite
import Foundation

/// Repair DDL under SQLite's authorizer: every repair but a widening (SQLiteRebuild.swift).
extension SQLiteWarehouse {
    /// Runs compiled DDL under SQLite's authorizer: only CREATE TABLE / ALTER TABLE on
    /// a non-internal table, plus the schema reads and writes SQLite does for them.
    /// Anything else (DROP, DELETE, PRAGMA, ATTACH, triggers, ...) is denied by SQLite
    /// itself, whatever the text says.
    func executeGuardedDDL(_ sql: String) throws {
        // Cached statements were prepared for the old schema; drop them so nothing
        // prepared outside the authorizer survives a schema change.
        finalizeStatements()
        sqlite3_set_authorizer(db, ddlAuthorizer, nil)
        defer { sqlite3_set_authorizer(db, nil, nil) }
        let (prepared, rest) = handle.prepareWithTail(sql)
        guard let stmt = prepared else {
            throw StoreError.guardRefused("SQLite refused to prepare '\(sql)': \(lastError)")
        }
        defer { sqlite3_finalize(stmt) }
        if !rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw StoreError.guardRefused("more than one statement in '\(sql)'")
        }
        guard sqlite3_step(stmt) == SQLITE_DONE else { throw StoreError.sql(message: lastError, sql: sql) }
    }
}

/// The authorizer used while repair DDL runs. A C callback cannot capture, so the rules
/// are static: allowed action codes, and never a table named sqlite_* or _mend_*.
private let ddlAuthorizer:
    @convention(c) (
        UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
        UnsafePointer<CChar>?
    ) -> Int32 = { _, action, a1, a2, _, _ in
        func name(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        func userTable(_ t: String) -> Bool {
            let l = t.lowercased()
            return !l.hasPrefix("sqlite_") && !l.hasPrefix("_mend")
        }
        switch action {
        case SQLITE_CREATE_TABLE: return userTable(name(a1)) ? SQLITE_OK : SQLITE_DENY
        case SQLITE_ALTER_TABLE: return name(a1) == "main" && userTable(name(a2)) ? SQLITE_OK : SQLITE_DENY
        case SQLITE_READ, SQLITE_FUNCTION: return SQLITE_OK
        case SQLITE_INSERT, SQLITE_UPDATE:
            let t = name(a1).lowercased()
            return t == "sqlite_master" || t == "sqlite_schema" || t == "sqlite_sequence" ? SQLITE_OK : SQLITE_DENY
        default: return SQLITE_DENY
        }
    }
