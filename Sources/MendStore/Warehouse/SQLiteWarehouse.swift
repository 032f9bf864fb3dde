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
    public nonisolated let resilience: Resilience
    public nonisolated let health = DatabaseHealth()

    public init(path: String, resilience: Resilience = .default) throws {
        self.path = path
        self.resilience = resilience
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
        try await RetryLoop.run(resilience, health: health, database: "SQLite database \(path)") {
            await transactions.lock()
            defer { transactions.unlock() }
            // A failed COMMIT leaves the transaction open in SQLite (in process, its outcome
            // is known): it rolls back here like any other failure, and is retried whole.
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
    }

    /// The file is in this process: it answers whenever the process does.
    public func probe() async -> Bool { true }

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
            throw failure(msg, sql: sql)
        }
    }

    private var lastError: String { String(cString: sqlite3_errmsg(db)) }

    /// The last error as a store error: a lock held by another process past the busy
    /// timeout, or a full or failing disk, is transient (the transaction rolls back and is
    /// retried within `--retry-for`); anything else is the statement's.
    private func failure(_ message: String, sql: String) -> StoreError {
        switch sqlite3_extended_errcode(db) & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return .retryable("another process holds the write lock of \(path) (\(message))")
        case SQLITE_FULL:
            return .retryable("the disk holding \(path) is full (\(message)): free space; nothing of this batch was kept")
        case SQLITE_IOERR:
            return .retryable("cannot write \(path) (\(message)): check the disk")
        default:
            return .sql(message: message, sql: sql)
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw StoreError.sql(message: lastError, sql: sql)
        }
        statements[sql] = stmt
        return stmt
    }

    /// Binds `values` to `stmt`. Where `exactNumbers[i]` is set (a column whose affinity
    /// would round numeric text), a text value goes through `bindExactNumber` instead.
    private func bind(_ stmt: OpaquePointer, _ values: [SQLValue], exactNumbers: [Bool]? = nil) {
        for (i, v) in values.enumerated() {
            bind(stmt, Int32(i + 1), v, exact: exactNumbers.map { i < $0.count && $0[i] } ?? false)
        }
    }

    private func bind(_ stmt: OpaquePointer, _ idx: Int32, _ v: SQLValue, exact: Bool) {
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
                if exact {
                    Self.bindExactNumber(stmt, idx, buf)
                } else if let base = buf.baseAddress, buf.count > 0 {
                    base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                        _ = sqlite3_bind_text(stmt, idx, $0, Int32(buf.count), transient)
                    }
                } else {
                    sqlite3_bind_text(stmt, idx, "", 0, transient)
                }
            }
        }
    }

    /// A text value for a NUMERIC- or INTEGER-affinity column (D16): SQLite would turn
    /// numeric text into a REAL and keep 15 digits. An integer that fits goes as INTEGER;
    /// a number a double holds exactly (15 significant digits or fewer, in the normal
    /// range) goes as that double, correctly rounded here so that what is stored does not
    /// depend on SQLite's parser; any other number goes as a BLOB of its text, which no
    /// affinity touches and which CAST(... AS TEXT) reads back digit for digit. Text that
    /// is not a number binds as text, as before.
    private static func bindExactNumber(_ stmt: OpaquePointer, _ idx: Int32, _ buf: UnsafeBufferPointer<UInt8>) {
        guard let base = buf.baseAddress, buf.count > 0 else {
            sqlite3_bind_text(stmt, idx, "", 0, transient)
            return
        }
        switch NumberText.storage(buf) {
        case .integer(let n): sqlite3_bind_int64(stmt, idx, n)
        case .real(let fast):
            // Rarely nil (an exponent beyond ±22): then Swift's correctly rounded parse.
            if let d = fast ?? Double(String(decoding: buf, as: UTF8.self)), d.isFinite {
                sqlite3_bind_double(stmt, idx, d)
            } else {
                sqlite3_bind_blob(stmt, idx, base, Int32(buf.count), transient)
            }
        case .exactText: sqlite3_bind_blob(stmt, idx, base, Int32(buf.count), transient)
        case .notANumber:
            base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                _ = sqlite3_bind_text(stmt, idx, $0, Int32(buf.count), transient)
            }
        }
    }

    private func step(_ stmt: OpaquePointer, _ sql: String) throws {
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else {
            let error = failure(lastError, sql: sql)
            sqlite3_reset(stmt)
            throw error
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
            guard rc == SQLITE_ROW else { throw failure(lastError, sql: sql) }
            let n = sqlite3_column_count(stmt)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(n))
            for i in 0..<n {
                switch sqlite3_column_type(stmt, i) {
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(stmt, i)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(stmt, i)))
                case SQLITE_NULL: row.append(.null)
                default:
                    // TEXT, and BLOB: Mend's only BLOBs are exact decimals, read as their text.
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
        // Into a TEXT column, a REAL would become its 15-digit text and an exact-decimal
        // BLOB would stay a BLOB: write the double's shortest exact text and the BLOB's text.
        let selected =
            type == .text
            ? columns.map { r -> String in
                let name = Identifier.quote(r[0].string ?? "")
                return r[0].string == column ? NumberText.exactTextExpression(name) : name
            }.joined(separator: ", ") : names
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
        try exec("INSERT INTO \(Identifier.quote(replacement)) (\(names)) SELECT \(selected) FROM \(Identifier.quote(table))")
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

/// How SQLite would store numeric text, and how Mend stores it instead (D16).
enum NumberText {
    enum Storage: Equatable {
        /// A whole number that fits Int64: bound as INTEGER.
        case integer(Int64)
        /// At most 15 significant digits, in the normal double range: a double holds it
        /// and prints it back (15 digits round-trip through binary64). The double, or nil
        /// when the text must be parsed (an exponent beyond the fast path's).
        case real(Double?)
        /// A number a double would round (more digits, or beyond the double range): its text as a BLOB.
        case exactText
        /// Not a number by SQLite's reading: bound as text, which its affinity leaves alone.
        case notANumber
    }

    /// Whether a declared type gets INTEGER or NUMERIC affinity (SQLite's rules, in their
    /// order), the two that convert well-formed numeric text to a number.
    static func affinityRoundsText(_ declared: String) -> Bool {
        let t = declared.uppercased()
        if t.contains("INT") { return true }
        if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") { return false }
        if t.contains("BLOB") || t.isEmpty { return false }
        if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") { return false }
        return true
    }

    /// One pass over the bytes, no allocation. Accepts what SQLite's affinity accepts:
    /// surrounding spaces, a sign, digits with an optional point, an optional exponent.
    static func storage(_ b: UnsafeBufferPointer<UInt8>) -> Storage {
        func space(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }
        func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        var i = 0
        var end = b.count
        while i < end, space(b[i]) { i += 1 }
        while end > i, space(b[end - 1]) { end -= 1 }
        var negative = false
        if i < end, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        var digits = 0, intDigits = 0, significant = 0, pendingZeros = 0
        var firstSignificant = -1
        var sawPoint = false
        // The integer part, accumulated negatively so that Int64.min fits.
        var whole: Int64 = 0
        var wholeFits = true
        // The significant digits (first to last non-zero), while they fit.
        var mantissa: UInt64 = 0
        var mantissaFits = true
        while i < end {
            let c = b[i]
            if digit(c) {
                let d = c - 0x30
                if !sawPoint {
                    intDigits += 1
                    let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                    let (v, o2) = m.subtractingReportingOverflow(Int64(d))
                    whole = v
                    if o1 || o2 { wholeFits = false }
                }
                if d == 0 {
                    if firstSignificant >= 0 { pendingZeros += 1 }
                } else {
                    if firstSignificant < 0 { firstSignificant = digits }
                    significant += pendingZeros + 1
                    // Only a mantissa of 15 digits or fewer is used; beyond that, stop.
                    if significant <= 15 {
                        for _ in 0..<pendingZeros { mantissa *= 10 }
                        mantissa = mantissa * 10 + UInt64(d)
                    } else {
                        mantissaFits = false
                    }
                    pendingZeros = 0
                }
                digits += 1
            } else if c == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                break
            }
            i += 1
        }
        guard digits > 0 else { return .notANumber }
        var exponent = 0
        var sawExponent = false
        if i < end, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            sawExponent = true
            i += 1
            var expNegative = false
            if i < end, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
                expNegative = b[i] == UInt8(ascii: "-")
                i += 1
            }
            let start = i
            while i < end, digit(b[i]) {
                // Saturated: an exponent this large is outside the double range anyway.
                exponent = min(exponent * 10 + Int(b[i] - 0x30), 1_000_000)
                i += 1
            }
            if i == start { return .notANumber }
            if expNegative { exponent = -exponent }
        }
        guard i == end else { return .notANumber }
        if !sawPoint, !sawExponent, wholeFits {
            if negative { return .integer(whole) }
            return whole == .min ? .exactText : .integer(-whole)
        }
        if firstSignificant < 0 { return .real(negative ? -0.0 : 0) }  // zero, however spelled
        // Decimal exponent of the first significant digit (1.5e3 -> 3, 0.01 -> -2).
        let leading = intDigits - 1 - firstSignificant + exponent
        guard mantissaFits, significant <= 15, leading >= -307, leading <= 307 else { return .exactText }
        // value = mantissa × 10^scale. Both are exact doubles when |scale| <= 22, so one
        // IEEE multiply or divide is correctly rounded (Clinger's fast path).
        let scale = leading - (significant - 1)
        let m = Double(mantissa)
        guard scale.magnitude <= 22 else { return .real(nil) }
        let p = powersOfTen[Int(scale.magnitude)]
        let d = scale >= 0 ? m * p : m / p
        return .real(negative ? -d : d)
    }

    /// 10^0 ... 10^22, each exact in binary64.
    private static let powersOfTen: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { a, _ in a * 10 } }

    /// SQL giving a column's value as exact text: a REAL as the shortest of 15, 16 or 17
    /// significant digits that reads back as the same double, a BLOB as its bytes' text,
    /// anything else as it is (a TEXT column's affinity turns an INTEGER into its digits).
    static func exactTextExpression(_ c: String) -> String {
        func g(_ n: Int) -> String { "printf('%!.\(n)g', \(c))" }
        let real =
            "CASE WHEN CAST(\(g(15)) AS REAL) = \(c) THEN \(g(15)) WHEN CAST(\(g(16)) AS REAL) = \(c) THEN \(g(16)) ELSE \(g(17)) END"
        return "CASE typeof(\(c)) WHEN 'real' THEN \(real) WHEN 'blob' THEN CAST(\(c) AS TEXT) ELSE \(c) END"
    }
}
