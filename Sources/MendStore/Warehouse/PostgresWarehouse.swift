import Foundation
import Logging
public import MendCore
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// The PostgreSQL adapter over postgres-nio: COPY for loading, advisory locks and
/// timeouts for repairs, `_mend` schema for state, pg_catalog for the schema cache.
public actor PostgresWarehouse: Warehouse {
    public nonisolated let dialect = SQLDialect.postgres
    public nonisolated let targetSchema: String?
    public nonisolated let config: PostgresURL
    public nonisolated let resilience: Resilience
    public nonisolated let health = DatabaseHealth()
    /// The pipeline's connection; nil once it broke, until the next transaction reconnects.
    private var connection: PostgresConnection?
    /// The repair role's connection when one is configured; DDL runs there.
    private var repairConnection: PostgresConnection?
    private let tls: PostgresConnection.Configuration.TLS
    private let transactions = TransactionLock()
    private var connectionCount = 0
    static let logger = Logger(label: "mend.postgres")

    public init(url: String, resilience: Resilience = .default) async throws {
        try await self.init(config: PostgresURL(url), resilience: resilience)
    }

    /// Opens the connections `config` describes (tests pass one parsed against their own
    /// environment, for the PGSSL* fallbacks). The first connection is not retried: a
    /// wrong host or password is reported at once; later losses are (`transaction`).
    public init(config cfg: PostgresURL, resilience: Resilience = .default) async throws {
        config = cfg
        targetSchema = cfg.schema
        self.resilience = resilience
        // Built once: the context holds the parsed CA and client certificate.
        tls = try cfg.tls.connectionTLS()
        let main = try await Self.connect(cfg, user: cfg.user, password: cfg.password, tls: tls, resilience: resilience, id: 1)
        connection = main
        if let ru = cfg.repairUser {
            do {
                repairConnection = try await Self.connect(
                    cfg, user: ru, password: cfg.repairPassword, tls: tls, resilience: resilience, id: 2)
            } catch {
                // postgres-nio asserts that an open connection is closed before it is freed.
                try? await main.close()
                throw error
            }
        }
        connectionCount = 2
    }

    /// One connection, set up for Mend: its name in pg_stat_activity and the statement
    /// timeout. A failure says what to check (the server, the credentials, the CA file,
    /// the host name in the certificate, the server's ssl setting) and never carries a
    /// password, whatever the library's message holds. A server that refuses connections
    /// (down, starting, shutting down) is `unavailable`, which the caller may retry.
    static func connect(
        _ cfg: PostgresURL, user: String, password: String?, tls: PostgresConnection.Configuration.TLS, resilience: Resilience,
        id: Int
    ) async throws(StoreError) -> PostgresConnection {
        var pc = PostgresConnection.Configuration(
            host: cfg.host, port: cfg.port, username: user, password: password, database: cfg.database, tls: tls)
        pc.options.connectTimeout = .milliseconds(Int64(resilience.connectTimeout * 1000))
        let conn: PostgresConnection
        do {
            conn = try await connectWithin(resilience.connectTimeout * 2, pc, id: id)
        } catch let e as StoreError {
            throw e
        } catch {
            let why = PostgresURL.scrub(
                cfg.tls.explain(error, host: cfg.host, port: cfg.port), secrets: [cfg.password, cfg.repairPassword, password])
            let what = "PostgreSQL at \(cfg.host):\(cfg.port)/\(cfg.database) as \(user)"
            if isConnectionLoss(error) { throw StoreError.unavailable("cannot connect to \(what): \(why)") }
            throw StoreError.open(what, why)
        }
        do {
            let ms = Int(resilience.statementTimeout * 1000)
            try await run(conn, "SET application_name = 'mend'", [], deadline: resilience.watchdog)
            try await run(conn, "SET statement_timeout = \(ms)", [], deadline: resilience.watchdog)
        } catch {
            try? await conn.close()
            throw (error as? StoreError) ?? .unavailable("\(error)")
        }
        return conn
    }

    /// postgres-nio bounds the TCP connect only; a server that accepts and then says nothing
    /// (one shutting down or recovering) would hold the start-up forever. The whole of it gets
    /// `seconds`. The attempt runs in its own task and the caller waits on a one-shot answer,
    /// never on the attempt: a task group would wait for its cancelled child at the end of its
    /// scope, and postgres-nio's start-up does not end on cancellation (a worker sat there
    /// with no connection and no retry line). A connection that comes after the deadline is
    /// closed, not leaked; one that never comes ends when the server's authentication_timeout
    /// closes the socket.
    static func connectWithin(_ seconds: Double, _ pc: PostgresConnection.Configuration, id: Int) async throws -> PostgresConnection {
        let answer = OneShot<PostgresConnection>()
        let attempt = Task {
            do {
                let c = try await PostgresConnection.connect(configuration: pc, id: id, logger: logger)
                if !answer.resolve(.success(c)) { try? await c.close() }
            } catch {
                answer.resolve(.failure(error))
            }
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            if answer.resolve(
                .failure(StoreError.unavailable("no answer to the connection's start-up within \(Int(seconds)) s (--connect-timeout)")))
            {
                attempt.cancel()
            }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await answer.value
        } onCancel: {
            answer.resolve(.failure(CancellationError()))
            attempt.cancel()
        }
    }

    /// Errors that mean the connection (or the server behind it) is gone, not that a
    /// statement was wrong: socket closed or refused, an admin or crash shutdown, a server
    /// still starting, too many connections.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if error is ChannelError || error is IOError { return true }
        guard let e = error as? PSQLError else { return false }
        switch e.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .messageDecodingFailure,
            .unexpectedBackendMessage:
            return true
        case .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state)
        default:
            return false
        }
    }

    public nonisolated var repairsOnOwnConnection: Bool { config.repairUser != nil }

    public nonisolated func stateTable(_ name: String) -> String { Identifier.qualified(config.stateSchema, name) }
    public nonisolated var schemasToCreate: [String] { [config.schema, config.stateSchema] }
    /// The database as messages show it: no user, no password.
    public nonisolated var shownName: String { "PostgreSQL at \(config.host):\(config.port)/\(config.database)" }

    public nonisolated func prepareLoad(columns: [Column], rows: [[SQLValue]]) -> PreparedLoad? {
        PostgresSession.encode(columns: columns, rows: rows)
    }

    public nonisolated func tupleWriter(columns: [Column]) -> CopyTuples? { CopyTuples(columns: columns) }

    public func close() async {
        try? await connection?.close()
        try? await repairConnection?.close()
        connection = nil
        repairConnection = nil
    }

    /// The open connection, or a new one when the last broke.
    private func live() async throws -> PostgresConnection {
        if let c = connection, !c.isClosed { return c }
        try? await connection?.close()
        connection = nil
        connectionCount += 1
        let c = try await Self.connect(
            config, user: config.user, password: config.password, tls: tls, resilience: resilience, id: connectionCount)
        connection = c
        health.countReconnect()
        return c
    }

    private func liveRepair() async throws -> PostgresConnection? {
        guard let ru = config.repairUser else { return nil }
        if let c = repairConnection, !c.isClosed { return c }
        try? await repairConnection?.close()
        repairConnection = nil
        connectionCount += 1
        let c = try await Self.connect(
            config, user: ru, password: config.repairPassword, tls: tls, resilience: resilience, id: connectionCount)
        repairConnection = c
        health.countReconnect()
        return c
    }

    /// Drops both connections after a loss, so that the next try opens new ones.
    private func dropConnections() async {
        try? await connection?.close()
        try? await repairConnection?.close()
        connection = nil
        repairConnection = nil
    }

    /// Checks that the database answers now (`/readyz`), without queueing behind a long
    /// transaction: while one runs, the database evidently answers.
    public func probe() async -> Bool {
        guard transactions.tryLock() else { return health.snapshot.up }
        defer { transactions.unlock() }
        do {
            let c = try await live()
            try await Self.run(c, "SELECT 1", [], deadline: min(resilience.watchdog, 5))
            health.markUp()
            return true
        } catch {
            health.markDown((error as? StoreError)?.reason ?? "\(error)")
            await dropConnections()
            return false
        }
    }

    /// Runs `body` in one transaction, on a new connection when the last one broke, and
    /// again from its start when it failed for a transient reason before COMMIT
    /// (`RetryLoop`, within `Resilience.retryFor`).
    public func transaction<T: Sendable>(lockKey: String?, _ body: @Sendable (any SQLSession) async throws -> T)
        async throws -> T
    {
        try await RetryLoop.run(resilience, health: health, database: shownName) {
            try await attempt(lockKey: lockKey, body)
        }
    }

    private func attempt<T: Sendable>(lockKey: String?, _ body: @Sendable (any SQLSession) async throws -> T) async throws -> T {
        await transactions.lock()
        defer { transactions.unlock() }
        let deadline = resilience.watchdog
        let conn: PostgresConnection
        let session: PostgresSession
        do {
            conn = try await live()
            session = PostgresSession(
                connection: conn, repair: try await liveRepair(), schema: config.schema, stateSchema: config.stateSchema,
                deadline: deadline, wrote: NIOLockedValueBox(false))
            try await Self.run(conn, "BEGIN", [], deadline: deadline)
        } catch {
            await dropConnections()
            throw error
        }
        let result: T
        do {
            if let lockKey {
                // Repairs: bounded waits, and one repair per table at a time across processes.
                try await Self.run(conn, "SET LOCAL lock_timeout = \(config.lockTimeoutMS)", [], deadline: deadline)
                try await Self.run(conn, "SET LOCAL statement_timeout = \(config.statementTimeoutMS)", [], deadline: deadline)
                try await Self.run(
                    conn, "SELECT pg_advisory_xact_lock(hashtext($1))", [.text("mend:\(config.schema).\(lockKey)")], deadline: deadline)
            }
            result = try await body(session)
        } catch {
            if case .unavailable? = error as? StoreError {
                await dropConnections()
            } else if (try? await Self.run(conn, "ROLLBACK", [], deadline: deadline)) == nil {
                await dropConnections()
            }
            throw error
        }
        do {
            try await Self.run(conn, "COMMIT", [], deadline: deadline)
        } catch StoreError.unavailable(let why) {
            await dropConnections()
            // Nothing written, nothing to settle: it runs again like any failed transaction.
            if !session.wrote.withLockedValue({ $0 }) { throw StoreError.unavailable(why) }
            throw StoreError.commitUnknown(why)
        }
        return result
    }

    public func catalog(table: String, in session: any SQLSession) async throws -> [Column]? {
        try await Self.columns(schema: config.schema, table: table, in: session)
    }

    /// A table's columns from pg_catalog, nil when there is no such table. Looked up by
    /// the table's oid: a third of the cost of joining pg_namespace by name, which
    /// matters because the binary COPY check runs it once per batch.
    static func columns(schema: String, table: String, in session: any SQLSession) async throws -> [Column]? {
        let rows = try await session.query(
            """
            SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), (NOT a.attnotnull)
            FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid
            WHERE a.attrelid = to_regclass(?) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [.text(Identifier.qualified(schema, table))])
        if rows.isEmpty { return nil }
        return rows.map { r in
            let declared = r[1].string ?? "text"
            return Column(
                name: r[0].string ?? "", type: LogicalType(sqlTypeName: declared), declaredType: declared,
                nullable: r[2] == .bool(true) || r[2].int == 1)
        }
    }

    // MARK: helpers shared with the session

    /// `?` placeholders become `$1, $2, ...` (Mend's SQL never has `?` inside literals).
    static func numbered(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var out = ""
        var n = 0
        for c in sql {
            if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func bindings(_ values: [SQLValue]) -> PostgresBindings {
        var b = PostgresBindings(capacity: values.count)
        for v in values {
            switch v {
            case .null: b.appendNull()
            case .bool(let x): b.append(x)
            case .int(let x): b.append(x)
            case .double(let x): b.append(x)
            case .text(let x): b.append(x)
            }
        }
        return b
    }

    /// One statement, bounded (`answered`).
    @discardableResult
    static func run(_ conn: PostgresConnection, _ sql: String, _ binds: [SQLValue], deadline: Double) async throws -> [[SQLValue]] {
        do {
            return try await answered(on: conn, within: deadline) {
                let rows = try await conn.query(PostgresQuery(unsafeSQL: numbered(sql), binds: bindings(binds)), logger: logger)
                var out: [[SQLValue]] = []
                for try await row in rows {
                    var r: [SQLValue] = []
                    for cell in row { r.append(try value(cell)) }
                    out.append(r)
                }
                return out
            }
        } catch {
            throw storeError(error, sql: sql)
        }
    }

    /// Runs one call on `conn` in its own task and waits for the first of: its answer; the
    /// connection found closed with no answer a second later; `seconds` gone by (then the
    /// connection is closed). The caller never waits on the call itself, because
    /// postgres-nio 1.33 drops a request written to a channel that has just closed: its
    /// promise is never completed, and closing the connection again does not complete it
    /// either (a consume worker sat there with no connection and no retry line, issue 27).
    /// Such a call is left behind, suspended: one per outage at most.
    static func answered<T: Sendable>(
        on conn: PostgresConnection, within seconds: Double, _ call: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let answer = OneShot<T>()
        let work = Task {
            do {
                answer.resolve(.success(try await call()))
            } catch {
                answer.resolve(.failure(error))
            }
        }
        let watch = Task {
            let clock = ContinuousClock()
            let end = clock.now + .seconds(seconds)
            var closedSince: ContinuousClock.Instant?
            while clock.now < end {
                do { try await Task.sleep(for: min(.milliseconds(250), end - clock.now)) } catch { return }
                guard conn.isClosed else { continue }
                // The library's own error for the call usually follows the close at once.
                let since = closedSince ?? clock.now
                closedSince = since
                if clock.now - since >= .seconds(1) {
                    answer.resolve(.failure(StoreError.unavailable("the connection closed with a statement unanswered")))
                    return
                }
            }
            if answer.resolve(
                .failure(
                    StoreError.unavailable("no answer within \(Int(seconds)) s, so the connection was closed (--statement-timeout)")))
            {
                try? await conn.close()
            }
        }
        defer { watch.cancel() }
        return try await withTaskCancellationHandler {
            try await answer.value
        } onCancel: {
            answer.resolve(.failure(CancellationError()))
            work.cancel()
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .int(try cell.decode(Int64.self))
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .numeric:
            if let d = try? cell.decode(Decimal.self) { return .text("\(d)") }
            return .text(try cell.decode(String.self))
        case .uuid: return .text(try cell.decode(UUID.self).uuidString.lowercased())
        case .timestamptz, .timestamp, .date:
            let d = try cell.decode(Date.self)
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return .text(f.string(from: d))
        default:
            return .text(try cell.decode(String.self))
        }
    }

    static func message(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let m = e.serverInfo?[.message] { return m }
            return "\(e.code)"
        }
        return "\(error)"
    }

    /// What a failed call means for the caller: a lost connection or a transient refusal
    /// (retried), a stale schema (validated again), or an error in the statement.
    static func storeError(_ error: any Error, sql: String) -> StoreError {
        if let e = error as? StoreError { return e }
        guard let e = error as? PSQLError else {
            return isConnectionLoss(error) ? .unavailable("\(error)") : .sql(message: "\(error)", sql: sql)
        }
        let message = e.serverInfo?[.message] ?? "\(e.code)"
        let state = e.serverInfo?[.sqlState] ?? ""
        if state == "42703" || state == "42P01" { return .staleSchema(message) }
        if isConnectionLoss(e) {
            return .unavailable(state.isEmpty ? "the connection was lost (\(e.code))" : "\(message) [SQLSTATE \(state)]")
        }
        // Serialization failure, deadlock, lock timeout, disk full, query cancelled (statement_timeout).
        if ["40001", "40P01", "55P03", "53100", "57014"].contains(state) { return .retryable("\(message) [SQLSTATE \(state)]") }
        return .sql(message: state.isEmpty ? message : "\(message) [SQLSTATE \(state)]", sql: sql)
    }
}

struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    let repair: PostgresConnection?
    let schema: String
    let stateSchema: String
    /// Seconds without an answer before a call gives up on the connection.
    let deadline: Double
    /// Set once the transaction runs anything but a SELECT: a COMMIT lost on the way then
    /// leaves its outcome unknown; a read-only one is simply run again.
    let wrote: NIOLockedValueBox<Bool>
    var dialect: SQLDialect { .postgres }

    private func mark(_ sql: String) {
        if !sql.hasPrefix("SELECT") { wrote.withLockedValue { $0 = true } }
    }

    func execute(_ sql: String, _ binds: [SQLValue]) async throws {
        mark(sql)
        try await PostgresWarehouse.run(connection, sql, binds, deadline: deadline)
    }

    func executeMany(_ sql: String, _ bindSets: [[SQLValue]]) async throws {
        mark(sql)
        for b in bindSets { try await PostgresWarehouse.run(connection, sql, b, deadline: deadline) }
    }

    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        mark(sql)
        return try await PostgresWarehouse.run(connection, sql, binds, deadline: deadline)
    }

    /// The rows as a COPY payload: binary when every column and value has a sure binary
    /// form (less work on both ends), text otherwise.
    static func encode(columns: [Column], rows: [[SQLValue]]) -> PreparedLoad {
        if let kinds = CopyBinary.kinds(columns), let payload = CopyBinary.encode(rows, kinds: kinds) {
            return PreparedLoad(rowCount: rows.count, payload: payload, binary: true)
        }
        return PreparedLoad(rowCount: rows.count, payload: encode(textOf: rows, columns: columns), binary: false)
    }

    /// COPY … FROM STDIN: the prepared payload as it was encoded (binary or text), or the
    /// rows in text format. The payload is sent in one write (`PostgresCopy` says why).
    func load(table: String, columns: [Column], rows: [[SQLValue]], prepared: PreparedLoad?) async throws {
        // A payload may come without its rows: a reader that encoded them kept no values.
        if let prepared, prepared.rowCount > 0 {
            try await copy(table: table, columns: columns, binary: prepared.binary) { prepared.payload }
            if prepared.binary { try await checkBinaryTypes(table: table, columns: columns) }
            return
        }
        guard !rows.isEmpty else { return }
        try await copy(table: table, columns: columns, binary: false) { Self.encode(textOf: rows, columns: columns) }
    }

    static func encode(textOf rows: [[SQLValue]], columns: [Column]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(rows.count * 128)
        let types = columns.map(\.type)
        for row in rows { CopyText.append(row, types: types, to: &buffer) }
        return buffer
    }

    /// Binary COPY when the columns allow it. A value without a sure binary form aborts
    /// the COPY and throws; the caller's savepoint undoes it and the batch goes as text.
    func loadFast(table: String, columns: [Column], rows: [[SQLValue]]) async throws {
        guard !rows.isEmpty else { return }
        guard let kinds = CopyBinary.kinds(columns) else {
            try await load(table: table, columns: columns, rows: rows, prepared: nil)
            return
        }
        try await copy(table: table, columns: columns, binary: true) {
            guard let payload = CopyBinary.encode(rows, kinds: kinds) else {
                throw StoreError.sql(message: "a value has no sure binary COPY form, so the batch loads as text", sql: "COPY \(table)")
            }
            return payload
        }
        try await checkBinaryTypes(table: table, columns: columns)
    }

    /// Binary COPY has no type check: bytes encoded for `bigint` land in a column retyped
    /// to `numeric` behind Mend's back as some other number. The COPY holds its lock
    /// until commit, so the catalog read now is the one it wrote against: any column
    /// that is not what was encoded for makes the batch roll back as a stale schema,
    /// and the engine reads the catalog again and validates the batch anew.
    func checkBinaryTypes(table: String, columns: [Column]) async throws {
        let now = try await PostgresWarehouse.columns(schema: schema, table: table, in: self) ?? []
        let actual = Dictionary(now.map { ($0.name, $0.declaredType) }, uniquingKeysWith: { a, _ in a })
        for c in columns where actual[c.name] != c.declaredType {
            throw StoreError.staleSchema(
                "column \(c.name) of \(table) is \(actual[c.name] ?? "gone") in the database, not \(c.declaredType) as cached")
        }
    }

    /// COPY in the text format into the state schema: every value Mend keeps there (text, JSON
    /// text, numbers) is text in that format, so nothing has to be known about the columns.
    func appendState(_ name: String, columns: [String], tuple: String, rows: [[SQLValue]]) async throws {
        guard !rows.isEmpty else { return }
        try await copy(table: name, in: stateSchema, columns: columns.map { Column(name: $0, type: nil) }, binary: false) {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(rows.count * 256)
            for row in rows { CopyText.append(row, types: [], to: &buffer) }
            return buffer
        }
    }

    private func copy(
        table: String, in schemaName: String? = nil, columns: [Column], binary: Bool, _ payload: () throws -> ByteBuffer
    ) async throws {
        wrote.withLockedValue { $0 = true }
        // postgres-nio wraps the table and column names in double quotes without
        // escaping them, so it gets the inside of Mend's own quoting: embedded quotes
        // doubled, and `schema"."table` to qualify the table.
        func inner(_ name: String) -> String { String(Identifier.quote(name).dropFirst().dropLast()) }
        var names = columns.map { inner($0.name) }
        if binary, let last = names.popLast() {
            // postgres-nio 1.33 offers only `FORMAT text` and writes the column list
            // unescaped on one line: the last name closes the list, names the format, and
            // comments out the library's own options. Only Mend's constant text is added
            // here; the names are quoted as everywhere. PostgresTests' binary round trip
            // fails if the library ever changes this.
            names.append(last + "\") FROM STDIN WITH (FORMAT binary) --")
        }
        let conn = connection
        // Encoded before the COPY starts: a payload that cannot be encoded leaves no failed
        // COPY behind, and the call below needs a value it can carry to its own task.
        let bytes = try payload()
        let target = inner(schemaName ?? schema) + "\".\"" + inner(table)
        let columnNames = names
        do {
            try await PostgresWarehouse.answered(on: conn, within: deadline) {
                try await PostgresCopy.copy(on: conn, table: target, columns: columnNames, logger: PostgresWarehouse.logger, bytes)
            }
        } catch {
            throw PostgresWarehouse.storeError(error, sql: "COPY \(table)")
        }
    }

    /// With a repair role configured, the change goes through the SECURITY DEFINER
    /// functions `mend setup-roles` installs, with typed, bound arguments: the repair
    /// role can do nothing else, and PostgreSQL's permissions are the last word. That
    /// connection is outside this transaction; it runs with its own lock timeout.
    func executeRepair(_ sql: String, operation op: PlanOperation, table: String) async throws {
        wrote.withLockedValue { $0 = true }
        guard let repair else {
            try await PostgresWarehouse.run(connection, sql, [], deadline: deadline)
            return
        }
        try await PostgresWarehouse.run(repair, "SET lock_timeout = 5000", [], deadline: deadline)
        let fn = { (name: String) in Identifier.qualified(stateSchema, name) }
        switch op.kind {
        case .createTable:
            let cols = (op.columns ?? []).map { c -> [String: String] in ["name": c.name, "type": (c.type ?? .text).postgresName] }
            let json = String(decoding: try JSONEncoder().encode(cols), as: UTF8.self)
            if let keys = op.keys {
                // `foreign_keys: true` (D29): the names and the parent are typed arguments too.
                do {
                    try await PostgresWarehouse.run(
                        repair, "SELECT \(fn("mend_create_keyed_table"))(?, ?, CAST(? AS jsonb), ?, ?, ?)",
                        [
                            .text(schema), .text(table), .text(json), .text(TableKeys.uniqueName(table: table)),
                            keys.parent.map { .text($0) } ?? .null, .text(TableKeys.foreignName(table: table)),
                        ], deadline: deadline)
                } catch StoreError.sql(let message, let sql)
                    where message.contains("mend_create_keyed_table") && message.contains("does not exist")
                {
                    // Roles set up by a Mend without foreign keys: the function is missing.
                    throw StoreError.sql(
                        message: message
                            + " (foreign_keys: true needs the function mend_create_keyed_table: run `mend setup-roles` again to install it, or set foreign_keys: false)",
                        sql: sql)
                }
                return
            }
            try await PostgresWarehouse.run(
                repair, "SELECT \(fn("mend_create_table"))(?, ?, CAST(? AS jsonb))", [.text(schema), .text(table), .text(json)],
                deadline: deadline)
        case .addColumn, .addVariantColumn, .promoteField:
            try await PostgresWarehouse.run(
                repair, "SELECT \(fn("mend_add_column"))(?, ?, ?, ?)",
                [.text(schema), .text(table), .text(op.column ?? ""), .text((op.type ?? .text).postgresName)], deadline: deadline)
        case .widenColumn:
            try await PostgresWarehouse.run(
                repair, "SELECT \(fn("mend_widen_column"))(?, ?, ?, ?)",
                [.text(schema), .text(table), .text(op.column ?? ""), .text((op.type ?? .text).postgresName)], deadline: deadline)
        default:
            throw StoreError.guardRefused("\(op.kind.rawValue) has no DDL")
        }
    }
}
