import CSQLite
import Foundation
public import MendCore

// SQLITE_TRANSIENT tells SQLite to copy bound text before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The embedded adapter: one SQLite file holds the target tables and Mend's state
/// (tables prefixed `_mend_`), so a copy of the file is a whole copy of the pipeline.
///
/// An actor owns the connection; a small async lock keeps transactions from
/// interleaving while a transaction body awaits.
public actor SQLiteWarehouse: Warehouse {
    public nonisolated let dialect = SQLDialect.sqlite
    public nonisolated let targetSchema: String? = nil
    public nonisolated let path: String
    private let handle: SQLiteHandle
    private var db: OpaquePointer { handle.db }
    private var statements: [String: OpaquePointer] {
        get { handle.statements }
        set { handle.statements = newValue }
    }
    private let transactions = TransactionLock()

    public init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close(handle) }
            throw StoreError.open("SQLite database '\(path)'", "\(msg); check that the folder exists and is writable")
        }
        sqlite3_busy_timeout(handle, 10_000)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA temp_store=MEMORY"] {
            sqlite3_exec(handle, pragma, nil, nil, nil)
        }
        self.handle = SQLiteHandle(db: handle)
    }

    public nonisolated func stateTable(_ name: String) -> String { Identifier.quote("_mend_" + name) }
    public nonisolated var schemasToCreate: [String] { [] }
    public nonisolated func prepareLoad(columns: [Column], rows: [[SQLValue]]) -> PreparedLoad? { nil }

    public func close() async {
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
    }

    public func transaction<T: Sendable>(lockKey: String?, _ body: @Sendable (any SQLSession) async throws -> T)
        async throws -> T
    {
        await transactions.lock()
        defer { transactions.unlock() }
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try await body(SQLiteSession(warehouse: self))
            try exec("COMMIT")
            return result
        } catch {
            _ = try? exec("ROLLBACK")
            throw error
        }
    }

    public func catalog(table: String, in session: any SQLSession) async throws -> [Column]? {
        let rows = try query("SELECT name, type, \"notnull\" FROM pragma_table_info(?)", [.text(table)])
        if rows.isEmpty { return nil }
        return rows.map { r in
            let type = r[1].string ?? ""
            return Column(name: r[0].string ?? "", type: LogicalType(sqlTypeName: type), declaredType: type, nullable: r[2].int == 0)
        }
    }

    // MARK: statements

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? lastError
            sqlite3_free(err)
            throw StoreError.sql(message: msg, sql: sql)
        }
    }

    private var lastError: String { String(cString: sqlite3_errmsg(db)) }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw StoreError.sql(message: lastError, sql: sql)
        }
        statements[sql] = stmt
        return stmt
    }

    private func bind(_ stmt: OpaquePointer, _ values: [SQLValue]) {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            switch v {
            case .null: sqlite3_bind_null(stmt, idx)
            case .bool(let b): sqlite3_bind_int64(stmt, idx, b ? 1 : 0)
            case .int(let n): sqlite3_bind_int64(stmt, idx, n)
            case .double(let d): sqlite3_bind_double(stmt, idx, d)
            case .text(let s):
                // Bind from the string's own UTF-8 with an explicit length: no
                // NUL-terminated temporary copy per value on the hot path.
                var s = s
                s.withUTF8 { buf in
                    if let base = buf.baseAddress, buf.count > 0 {
                        base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                            _ = sqlite3_bind_text(stmt, idx, $0, Int32(buf.count), transient)
                        }
                    } else {
                        sqlite3_bind_text(stmt, idx, "", 0, transient)
                    }
                }
            }
        }
    }

    private func step(_ stmt: OpaquePointer, _ sql: String) throws {
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else {
            let msg = lastError
            sqlite3_reset(stmt)
            throw StoreError.sql(message: msg, sql: sql)
        }
        sqlite3_reset(stmt)
    }

    func execute(_ sql: String, _ binds: [SQLValue]) throws {
        let stmt = try prepared(sql)
        bind(stmt, binds)
        try step(stmt, sql)
        sqlite3_clear_bindings(stmt)
    }

    func executeMany(_ sql: String, _ bindSets: [[SQLValue]]) throws {
        let stmt = try prepared(sql)
        for binds in bindSets {
            bind(stmt, binds)
            try step(stmt, sql)
        }
        sqlite3_clear_bindings(stmt)
    }

    func query(_ sql: String, _ binds: [SQLValue]) throws -> [[SQLValue]] {
        let stmt = try prepared(sql)
        bind(stmt, binds)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw StoreError.sql(message: lastError, sql: sql) }
            let n = sqlite3_column_count(stmt)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(n))
            for i in 0..<n {
                switch sqlite3_column_type(stmt, i) {
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(stmt, i)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(stmt, i)))
                case SQLITE_NULL: row.append(.null)
                default:
                    if let p = sqlite3_column_text(stmt, i) {
                        row.append(.text(String(cString: p)))
                    } else {
                        row.append(.null)
                    }
                }
            }
            rows.append(row)
        }
        return rows
    }

    func load(table: String, columns: [Column], rows: [[SQLValue]]) throws {
        let names = columns.map { Identifier.quote($0.name) }.joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        try executeMany("INSERT INTO \(Identifier.quote(table)) (\(names)) VALUES (\(marks))", rows)
    }

    /// Runs compiled DDL under SQLite's authorizer: only CREATE TABLE / ALTER TABLE on
    /// a non-internal table, plus the schema reads and writes SQLite does for them.
    /// Anything else (DROP, DELETE, PRAGMA, ATTACH, triggers, ...) is denied by SQLite
    /// itself, whatever the text says.
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
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
        let scope = RebuildScope(table: table, replacement: replacement)
        let unmanaged = Unmanaged.passRetained(scope)
        sqlite3_set_authorizer(db, rebuildAuthorizer, unmanaged.toOpaque())
        defer {
            sqlite3_set_authorizer(db, nil, nil)
            unmanaged.release()
        }
        try exec("CREATE TABLE \(Identifier.quote(replacement)) (\(defs))")
        try exec("INSERT INTO \(Identifier.quote(replacement)) (\(names)) SELECT \(names) FROM \(Identifier.quote(table))")
        try exec("DROP TABLE \(Identifier.quote(table))")
        try exec("ALTER TABLE \(Identifier.quote(replacement)) RENAME TO \(Identifier.quote(table))")
    }

    func executeGuardedDDL(_ sql: String) throws {
        // Cached statements were prepared for the old schema; drop them so nothing
        // prepared outside the authorizer survives a schema change.
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
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

/// A session is a handle back to the warehouse actor; the actor serializes the calls.
struct SQLiteSession: SQLSession {
    let warehouse: SQLiteWarehouse
    var dialect: SQLDialect { .sqlite }
    func execute(_ sql: String, _ binds: [SQLValue]) async throws { try await warehouse.execute(sql, binds) }
    func executeMany(_ sql: String, _ bindSets: [[SQLValue]]) async throws {
        try await warehouse.executeMany(sql, bindSets)
    }
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        try await warehouse.query(sql, binds)
    }
    func loadFast(table: String, columns: [Column], rows: [[SQLValue]]) async throws {
        try await warehouse.load(table: table, columns: columns, rows: rows)
    }
    func load(table: String, columns: [Column], rows: [[SQLValue]], prepared: PreparedLoad?) async throws {
        try await warehouse.load(table: table, columns: columns, rows: rows)
    }
    func executeRepair(_ sql: String, operation: PlanOperation, table: String) async throws {
        if operation.kind == .widenColumn, let column = operation.column, let type = operation.type {
            try await warehouse.rebuild(table: table, column: column, to: type)
        } else {
            try await warehouse.executeGuardedDDL(sql)
        }
    }
}

/// Owns the raw connection so it is closed exactly once, when the actor goes away.
/// Only the owning actor touches it, which is what makes the unchecked Sendable sound.
final class SQLiteHandle: @unchecked Sendable {
    let db: OpaquePointer
    var statements: [String: OpaquePointer] = [:]
    init(db: OpaquePointer) { self.db = db }

    /// Prepares the first statement of `sql` and returns the text left after it.
    func prepareWithTail(_ sql: String) -> (OpaquePointer?, String) {
        let bytes = Array(sql.utf8CString)
        return bytes.withUnsafeBufferPointer { buf -> (OpaquePointer?, String) in
            guard let base = buf.baseAddress else { return (nil, "") }
            var stmt: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            guard sqlite3_prepare_v2(db, base, -1, &stmt, &tail) == SQLITE_OK else { return (nil, "") }
            return (stmt, tail.map { String(cString: $0) } ?? "")
        }
    }

    deinit {
        for (_, s) in statements { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }
}
