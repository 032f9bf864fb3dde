import CSQLite
import Foundation
public import MendCore

/// The embedded adapter: one SQLite file holds the target tables and Mend's state
/// (tables prefixed `_mend_`), so a copy of the file is a whole copy of the pipeline.
///
/// An actor owns the connection; a small async lock keeps transactions from
/// interleaving while a transaction body awaits.
public actor SQLiteWarehouse: Warehouse {
    public nonisolated let dialect = SQLDialect.sqlite
    public nonisolated let targetSchema: String? = nil
    public nonisolated let path: String
    let handle: SQLiteHandle
    var db: OpaquePointer { handle.db }
    /// Prepared statements by their text (SQLiteStatements.swift).
    var statements: [String: OpaquePointer] {
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
    public nonisolated func tupleWriter(columns: [Column]) -> CopyTuples? { nil }

    public func close() async {
        finalizeStatements()
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
