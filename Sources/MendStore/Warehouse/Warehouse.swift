public import MendCore
import NIOCore

/// Errors from the storage layer, each saying what to do about it.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case badURL(String, String)
    case open(String, String)
    case sql(message: String, sql: String)
    case notFound(String)
    case conflict(String)
    case guardRefused(String)
    /// The table changed behind Mend's back (a column or table is gone): reload the schema.
    case staleSchema(String)
    /// The database could not be reached, or the connection broke before COMMIT: nothing
    /// of the transaction stayed, and it is retried on a new connection.
    case unavailable(String)
    /// A transient refusal on a working connection (a lock held elsewhere, a deadlock, a
    /// full disk): nothing stayed, and the transaction is retried.
    case retryable(String)
    /// The connection broke while COMMIT was on its way: the transaction may or may not
    /// have committed. The caller reads what was committed before it tries again.
    case commitUnknown(String)
    /// Retries ran out (`--retry-for`).
    case gaveUp(database: String, seconds: Int, tries: Int, last: String)
    /// A shutdown signal arrived while waiting to try again.
    case interrupted

    public var description: String {
        switch self {
        case .badURL(let url, let why):
            "cannot use database URL '\(PostgresURL.redacted(url))': \(why). Use sqlite:PATH (for example sqlite:mend.db) or postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME"
        case .open(let what, let why): "cannot open \(what): \(why)"
        case .sql(let message, let sql): "database error: \(message) (in: \(sql.prefix(200)))"
        case .notFound(let what): what
        case .conflict(let what): what
        case .guardRefused(let why): "the guard refused the statement: \(why)"
        case .staleSchema(let why): "the table changed outside Mend (\(why)); the schema cache was stale"
        case .unavailable(let why): "the database is unavailable: \(why)"
        case .interrupted:
            "stopped by a signal while waiting for the database to come back; nothing uncommitted was kept, and the next run resumes after the last committed batch"
        case .retryable(let why): "the database refused for now: \(why)"
        case .commitUnknown(let why):
            "the connection broke during COMMIT (\(why)); whether the transaction committed is unknown"
        case .gaveUp(let database, let seconds, let tries, let last):
            "\(database) did not answer after \(tries) tries in \(seconds) s (last: \(last)). Nothing uncommitted was kept and "
                + "nothing committed is lost: check that the database runs and accepts connections (and has disk space), then run "
                + "the command again, which resumes after the last committed batch; --retry-for SECONDS waits longer"
        }
    }

    /// A failure that leaves nothing behind and may pass: retried within the budget.
    public var isTransient: Bool {
        switch self {
        case .unavailable, .retryable: true
        default: false
        }
    }

    /// The database is away or refusing for now (retried or not): a service answers 503
    /// with Retry-After rather than an error of its own.
    public var isOutage: Bool {
        switch self {
        case .unavailable, .retryable, .gaveUp, .commitUnknown, .interrupted: true
        default: false
        }
    }

    /// The failure in a few words, without the statement.
    public var reason: String {
        switch self {
        case .unavailable(let why), .retryable(let why), .commitUnknown(let why): why
        default: withoutStatement
        }
    }

    /// The description without the statement text, for replies to callers outside Mend.
    public var withoutStatement: String {
        if case .sql(let message, _) = self { return "database error: \(message)" }
        return description
    }
}

/// A unit of work inside one database transaction.
public protocol SQLSession: Sendable {
    var dialect: SQLDialect { get }
    /// Runs one statement with bound values. SQL uses `?` placeholders on every dialect.
    func execute(_ sql: String, _ binds: [SQLValue]) async throws
    /// Runs one statement once per bind set (a prepared statement on SQLite).
    func executeMany(_ sql: String, _ bindSets: [[SQLValue]]) async throws
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]]
    /// Bulk-loads rows into a target table (prepared INSERT on SQLite, COPY on PostgreSQL).
    /// `prepared`, when given, is the same rows already encoded by `Warehouse.prepareLoad`.
    func load(table: String, columns: [Column], rows: [[SQLValue]], prepared: PreparedLoad?) async throws
    /// Loads rows in the adapter's fastest form (PostgreSQL: binary COPY, encoded as it
    /// streams). It may throw where `load` would not (a value with no binary form): the
    /// caller then loads the same rows with `load`.
    func loadFast(table: String, columns: [Column], rows: [[SQLValue]]) async throws
    /// Runs a repair that the guard has already judged: `sql` is Mend's compiled
    /// statement for `operation`. Adapters add their own last check: SQLite's authorizer,
    /// or on PostgreSQL with a repair role, a SECURITY DEFINER function that performs
    /// only that typed change (the role itself cannot DROP or TRUNCATE).
    func executeRepair(_ sql: String, operation: PlanOperation, table: String) async throws
    /// Up to `limit` rows of a target table after `cursor` (nil: from the first row), in the
    /// order of their addresses, with their overflow objects (Promote.swift): on SQLite every
    /// row whose overflow column is not null, on PostgreSQL only those whose object holds `key`.
    func overflowPage(table: String, key: String, after cursor: RowAddress?, limit: Int) async throws -> [OverflowRow]
    /// Moves one overflow key's values into the column a `promote_field` plan added, `type`:
    /// each move sets the column and the overflow object without the key, one row at a time.
    /// On PostgreSQL with a repair role the rows go to a SECURITY DEFINER function that can do
    /// this move and nothing else (the loader has no UPDATE).
    func promote(_ moves: [PromoteMove], table: String, column: String, type: LogicalType, source: String) async throws
    /// Appends rows to one of Mend's state tables, `name` as `Warehouse.stateTable` takes it;
    /// `tuple` is one row's VALUES tuple, casts included. SQLite inserts them with one prepared
    /// statement; PostgreSQL sends them in one COPY (a drifting batch's 200 parked records were
    /// a statement of 1,800 parameters to parse and bind: 4 ms a batch against 1 by COPY).
    func appendState(_ name: String, columns: [String], tuple: String, rows: [[SQLValue]]) async throws
}

/// The port every database adapter implements: a transaction and a catalog.
public protocol Warehouse: Sendable {
    var dialect: SQLDialect { get }
    /// Schema holding target tables on PostgreSQL; nil on SQLite.
    var targetSchema: String? { get }
    /// Where Mend's own state lives: table-name prefix `_mend_` (SQLite) or schema `_mend` (PostgreSQL).
    func stateTable(_ name: String) -> String
    /// Schemas to create before anything else (PostgreSQL: target and state schemas).
    var schemasToCreate: [String] { get }
    /// Runs `body` in one transaction: all of it commits, or none of it.
    /// `lockKey` asks for a table-level repair lock held until commit (advisory lock on
    /// PostgreSQL; SQLite's write lock already serializes writers).
    func transaction<T: Sendable>(lockKey: String?, _ body: @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Encodes rows for `load` ahead of time, off the database's task (COPY text on
    /// PostgreSQL); nil when the adapter has nothing to gain (SQLite binds directly).
    func prepareLoad(columns: [Column], rows: [[SQLValue]]) -> PreparedLoad?
    /// A writer of `columns`' rows in the bulk load's own encoding, row by row, for a reader
    /// that keeps no values once a row is encoded; nil when the adapter has none (SQLite).
    func tupleWriter(columns: [Column]) -> CopyTuples?
    /// Reads a target table's columns from the catalog; nil when it does not exist.
    func catalog(table: String, in session: any SQLSession) async throws -> [Column]?
    func close() async
    /// The bounds and retry budget this warehouse was opened with.
    var resilience: Resilience { get }
    /// Whether the database answered lately, and how often Mend reconnected and retried.
    var health: DatabaseHealth { get }
    /// Asks the database now whether it answers (`/readyz`); never waits behind a transaction.
    func probe() async -> Bool
    /// Repairs run on a connection of their own (PostgreSQL with the repair role of `mend
    /// setup-roles`): their DDL commits apart from the caller's transaction and waits on the
    /// locks that transaction holds.
    var repairsOnOwnConnection: Bool { get }
}

extension Warehouse {
    public var repairsOnOwnConnection: Bool { false }

    /// Whether `table`'s `_mend_id` is UNIQUE (or the primary key) on PostgreSQL, so that a child
    /// table can reference it (`foreign_keys: true`, D29). Always false on SQLite, which builds no keys.
    public func hasUniqueID(table: String, in session: any SQLSession) async throws -> Bool {
        guard dialect == .postgres, let schema = targetSchema else { return false }
        let rows = try await session.query(
            """
            SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
            WHERE k.conrelid = to_regclass(?) AND k.contype IN ('u', 'p') AND cardinality(k.conkey) = 1 AND a.attname = ?
            """, [.text(Identifier.qualified(schema, table)), .text(Unnester.idColumn)])
        return !rows.isEmpty
    }

    /// The table `table`'s foreign key references on PostgreSQL (a child table under
    /// `foreign_keys: true`, D29), or nil: SQLite builds no keys.
    public func foreignKeyTarget(table: String, in session: any SQLSession) async throws -> String? {
        guard dialect == .postgres, let schema = targetSchema else { return nil }
        let rows = try await session.query(
            """
            SELECT c.relname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.confrelid
            WHERE k.conrelid = to_regclass(?) AND k.contype = 'f' ORDER BY k.conname LIMIT 1
            """, [.text(Identifier.qualified(schema, table))])
        return rows.first?.first?.string
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await transaction(lockKey: nil, body)
    }
}

/// Rows encoded for a bulk load before the transaction that sends them.
public struct PreparedLoad: Sendable {
    public let rowCount: Int
    let payload: ByteBuffer
    /// COPY binary format (a header, the tuples, a trailer) rather than text lines.
    public let binary: Bool
    init(rowCount: Int, payload: ByteBuffer, binary: Bool = false) {
        self.rowCount = rowCount
        self.payload = payload
        self.binary = binary
    }

    /// Parts encoded in parallel, in order, as one load; nil when the parts were encoded
    /// in different formats (the caller encodes the batch again).
    public static func concatenating(_ parts: [PreparedLoad]) -> PreparedLoad? {
        if parts.count == 1, let only = parts.first { return only }
        guard let binary = parts.first?.binary, parts.allSatisfy({ $0.binary == binary }) else { return nil }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(parts.reduce(0) { $0 + $1.payload.readableBytes })
        for (i, p) in parts.enumerated() {
            var part = p.payload
            if binary {
                // One header and one trailer for the whole payload.
                let start = i == 0 ? 0 : CopyBinary.headerLength
                let end = i == parts.count - 1 ? part.readableBytes : part.readableBytes - CopyBinary.trailerLength
                guard end >= start, let slice = part.getSlice(at: part.readerIndex + start, length: end - start) else { return nil }
                part = slice
            }
            buffer.writeBuffer(&part)
        }
        return PreparedLoad(rowCount: parts.reduce(0) { $0 + $1.rowCount }, payload: buffer, binary: binary)
    }
}

extension SQLSession {
    /// `head` + one `tuple` per bind set (`INSERT INTO t (a, b) VALUES` + `(?, ?)`), then
    /// `suffix`. On PostgreSQL the rows go as multi-row VALUES in chunks of a few thousand
    /// placeholders: one round trip per chunk rather than per row (parking or replaying
    /// 1,000 records was 1,000 round trips each). SQLite, in process, reuses one prepared
    /// statement per row.
    public func insertMany(_ head: String, tuple: String, _ bindSets: [[SQLValue]], suffix: String = "") async throws {
        guard let width = bindSets.first?.count else { return }
        if dialect == .sqlite {
            try await executeMany(head + " " + tuple + suffix, bindSets)
            return
        }
        let perChunk = max(1, 8_000 / max(width, 1))
        var start = 0
        while start < bindSets.count {
            let chunk = bindSets[start..<min(bindSets.count, start + perChunk)]
            let sql = head + " " + Array(repeating: tuple, count: chunk.count).joined(separator: ", ") + suffix
            try await execute(sql, Array(chunk.joined()))
            start += chunk.count
        }
    }

    /// `head` + ` (?, ?, ...)` for the ids, in chunks (`DELETE FROM t WHERE id IN`).
    public func executeForIDs(_ head: String, _ ids: [Int64]) async throws {
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(ids.count, start + 500)]
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            try await execute("\(head) (\(marks))", chunk.map { .int($0) })
            start += chunk.count
        }
    }

    public func load(table: String, columns: [Column], rows: [[SQLValue]]) async throws {
        try await load(table: table, columns: columns, rows: rows, prepared: nil)
    }

    public func execute(_ sql: String) async throws { try await execute(sql, []) }
    public func scalarInt(_ sql: String, _ binds: [SQLValue] = []) async throws -> Int64 {
        let rows = try await query(sql, binds)
        guard let v = rows.first?.first else { return 0 }
        switch v {
        case .int(let i): return i
        case .double(let d): return Int64(d)
        case .text(let s): return Int64(s) ?? 0
        default: return 0
        }
    }
}

extension SQLValue {
    public var int: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d): Int64(exactly: d)
        case .text(let s): Int64(s)
        case .bool(let b): b ? 1 : 0
        case .null: nil
        }
    }
    public var string: String? { textForm }
    public var double: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .text(let s): Double(s)
        default: nil
        }
    }
}

/// Opens a warehouse from a URL: `sqlite:PATH`, `sqlite://PATH`, a bare path ending in
/// .db/.sqlite, or `postgres://` / `postgresql://`.
public enum WarehouseFactory {
    public static func open(url: String, resilience: Resilience = .default) async throws -> any Warehouse {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return try await PostgresWarehouse(url: url, resilience: resilience)
        }
        var path = url
        if path.hasPrefix("sqlite://") {
            path.removeFirst("sqlite://".count)
        } else if path.hasPrefix("sqlite:") {
            path.removeFirst("sqlite:".count)
        } else if !(path.hasSuffix(".db") || path.hasSuffix(".sqlite") || path.hasSuffix(".sqlite3")) {
            throw StoreError.badURL(url, "unknown scheme")
        }
        if path.isEmpty { throw StoreError.badURL(url, "the SQLite path is empty") }
        return try SQLiteWarehouse(path: path, resilience: resilience)
    }
}

extension SQLSession {
    /// Loads rows; when the database rejects some of them, bisects under savepoints to
    /// find exactly which, loads the rest, and returns the rejected row indices with the
    /// database's own error text. A stale schema is not a row problem: it is rethrown.
    public func loadIsolating(
        table: String, columns: [Column], rows: [[SQLValue]], prepared: PreparedLoad? = nil
    ) async throws -> [(index: Int, error: String)] {
        // SQLite's fastest form is its plain one: on failure it would load the batch twice.
        if !rows.isEmpty, prepared != nil || dialect != .sqlite {
            // Fast path: the batch in the adapter's fastest form (encoded ahead, or binary
            // COPY). On failure, bisect with plain rows (text format on PostgreSQL), so a
            // rejected row is parked with the text format's error.
            let failed = try await inSavepoint {
                if let prepared, prepared.rowCount == rows.count {
                    try await load(table: table, columns: columns, rows: rows, prepared: prepared)
                } else {
                    try await loadFast(table: table, columns: columns, rows: rows)
                }
            }
            if failed == nil { return [] }
        }
        return try await isolate(table: table, columns: columns, rows: rows[...])
    }

    private func isolate(table: String, columns: [Column], rows: ArraySlice<[SQLValue]>) async throws -> [(index: Int, error: String)] {
        if rows.isEmpty { return [] }
        // The whole batch once more in the plain form: on PostgreSQL it is the text format
        // (binary can fail where text loads), and a batch of one gets the text's error.
        guard let e = try await inSavepoint({ try await load(table: table, columns: columns, rows: Array(rows)) }) else {
            return []
        }
        if rows.count == 1 {
            let message: String
            if case .sql(let m, _) = e { message = m } else { message = e.description }
            return [(rows.startIndex, message)]
        }
        let mid = rows.startIndex + rows.count / 2
        let left = try await isolate(table: table, columns: columns, rows: rows[rows.startIndex..<mid])
        let right = try await isolate(table: table, columns: columns, rows: rows[mid..<rows.endIndex])
        return left + right
    }

    /// Runs `body` inside a savepoint. A store error rolls the savepoint back and is
    /// returned (the transaction goes on); a stale schema or an outage is thrown.
    private func inSavepoint(_ body: () async throws -> Void) async throws -> StoreError? {
        try await execute("SAVEPOINT mend_load")
        do {
            try await body()
            try await execute("RELEASE SAVEPOINT mend_load")
            return nil
        } catch let e as StoreError {
            // Not the rows' fault: a stale schema is validated again, a lost connection or a
            // transient refusal fails the transaction, which is retried whole.
            if case .staleSchema = e { throw e }
            if e.isOutage { throw e }
            try await execute("ROLLBACK TO SAVEPOINT mend_load")
            try await execute("RELEASE SAVEPOINT mend_load")
            return e
        }
    }
}
