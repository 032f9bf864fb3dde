import CSQLite
import MendCore

// SQLITE_TRANSIENT tells SQLite to copy bound text before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Statements on the connection: preparing (cached by their text), binding, stepping, and
/// the errors SQLite gives back as store errors.
extension SQLiteWarehouse {
    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? lastError
            sqlite3_free(err)
            throw failure(msg, sql: sql)
        }
    }

    var lastError: String { String(cString: sqlite3_errmsg(db)) }

    /// The last error as a store error: a lock held by another process past the busy
    /// timeout, or a full or failing disk, is transient (the transaction rolls back and is
    /// retried within `--retry-for`); anything else is the statement's.
    func failure(_ message: String, sql: String) -> StoreError {
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

    func prepared(_ sql: String) throws -> OpaquePointer {
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

    func bind(_ stmt: OpaquePointer, _ idx: Int32, _ v: SQLValue, exact: Bool) {
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

    func step(_ stmt: OpaquePointer, _ sql: String) throws {
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

    /// Finalizes every cached statement: they were prepared for the old schema (a repair, a
    /// rebuild) or the connection closes.
    func finalizeStatements() {
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
    }
}
