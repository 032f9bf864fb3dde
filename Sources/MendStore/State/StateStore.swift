import Foundation
import MendCore
import NIOConcurrencyHelpers

/// Mend's own state, kept in the target database beside the data, written in the same
/// transactions as the rows it describes. SQL is written once with `?` placeholders;
/// the dialect differences are the type names below.
public struct StateStore: Sendable {
    public let warehouse: any Warehouse
    /// The time series' retention and prune clock (Series.swift).
    public let series = SeriesRetention()
    public init(_ warehouse: any Warehouse) { self.warehouse = warehouse }

    func t(_ name: String) -> String { warehouse.stateTable(name) }
    var pg: Bool { warehouse.dialect == .postgres }
    var serial: String { pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT" }
    var jsonType: String { pg ? "jsonb" : "TEXT" }
    /// A bound JSON parameter: PostgreSQL needs the cast from text to jsonb.
    var jp: String { pg ? "CAST(? AS jsonb)" : "?" }

    /// Names of the state tables `bootstrap` creates.
    public static let tableNames = [
        "tables", "keys", "mappings", "conversions", "schema_versions", "incidents", "parked", "quarantine", "plans", "audit",
        "offsets", "usage", "idempotency", "stream_commits", "stream_heads", "minutes",
    ]

    public static func now() -> Double { Date().timeIntervalSince1970 }
    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    /// Runs `body` in one database transaction with a state handle on it. `lockKey`
    /// takes the table-level repair lock (see `Warehouse.transaction`).
    @discardableResult
    public func transaction<T: Sendable>(
        lockKey: String? = nil, _ body: @Sendable @escaping (StateTransaction) async throws -> T
    ) async throws -> T {
        let store = self
        return try await warehouse.transaction(lockKey: lockKey) { s in try await body(StateTransaction(store: store, session: s)) }
    }
}

/// The audit chain's last sequence and hash, as one transaction has read and moved it.
/// A new `StateTransaction` per attempt: a retried transaction reads the head again.
final class AuditChainHead: Sendable {
    private let value = NIOLockedValueBox<(seq: Int64, hash: String)?>(nil)
    var head: (Int64, String)? { value.withLockedValue { $0.map { ($0.seq, $0.hash) } } }
    func set(seq: Int64, hash: String) { value.withLockedValue { $0 = (seq, hash) } }
    func restore(_ head: (Int64, String)?) { value.withLockedValue { $0 = head.map { (seq: $0.0, hash: $0.1) } } }
}

/// Mend's state inside one open transaction. Every read and write of the state goes
/// through here, as typed calls: no SQL text travels from the engine into the store.
public struct StateTransaction: Sendable {
    public let store: StateStore
    /// The transaction's session, for the rows themselves (load, repair DDL, catalog).
    public let session: any SQLSession
    /// The audit chain's head once this transaction has read it (AuditLog.swift).
    let chain = AuditChainHead()

    public init(store: StateStore, session: any SQLSession) {
        self.store = store
        self.session = session
    }

    /// Runs `body` inside a savepoint: when it throws, what it wrote is rolled back (and the
    /// audit head it moved is put back), the error is rethrown, and the transaction goes on.
    /// An outage is rethrown as it is: the whole transaction is retried.
    public func savepoint<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let head = chain.head
        try await session.execute("SAVEPOINT mend_unit", [])
        do {
            let result = try await body()
            try await session.execute("RELEASE SAVEPOINT mend_unit", [])
            return result
        } catch {
            if let e = error as? StoreError, e.isOutage { throw e }
            try await session.execute("ROLLBACK TO SAVEPOINT mend_unit", [])
            try await session.execute("RELEASE SAVEPOINT mend_unit", [])
            chain.restore(head)
            throw error
        }
    }

    /// Runs a read in a savepoint that is rolled back afterwards, whether it succeeded or not:
    /// its rows come back, and the locks it took on target tables are let go at once
    /// (PostgreSQL releases a lock taken after a savepoint when the savepoint is rolled back),
    /// where a RELEASE would keep them to the commit. A refusal (no SELECT privilege) leaves
    /// the transaction usable. `body` must only read: anything it writes is undone.
    public func readReleasingLocks<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await session.execute("SAVEPOINT mend_read", [])
        let result: T
        do {
            result = try await body()
        } catch {
            if let e = error as? StoreError, e.isOutage { throw e }
            try await session.execute("ROLLBACK TO SAVEPOINT mend_read", [])
            try await session.execute("RELEASE SAVEPOINT mend_read", [])
            throw error
        }
        try await session.execute("ROLLBACK TO SAVEPOINT mend_read", [])
        try await session.execute("RELEASE SAVEPOINT mend_read", [])
        return result
    }

    var warehouse: any Warehouse { store.warehouse }
    func t(_ name: String) -> String { store.t(name) }
    var pg: Bool { store.pg }
    var serial: String { store.serial }
    var jsonType: String { store.jsonType }
    var jp: String { store.jp }
    static func now() -> Double { StateStore.now() }
    static func iso(_ t: Double) -> String { StateStore.iso(t) }

    /// Whether one of Mend's state tables exists: looked up before any CREATE, because a
    /// least-privilege role may not create, and needs not once the table is there.
    func stateTableExists(_ name: String) async throws -> Bool {
        let found =
            pg
            ? try await session.query(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = ? AND c.relname = ?",
                [.text(store.warehouse.schemasToCreate.last ?? "_mend"), .text(name)])
            : try await session.query("SELECT 1 FROM sqlite_master WHERE name = ?", [.text("_mend_" + name)])
        return !found.isEmpty
    }

    /// Creates the schemas the warehouse names that do not exist yet. Looked up before any
    /// CREATE: creating an existing schema needs CREATE on the database, which a
    /// least-privilege role has not; a missing one it cannot create is said plainly.
    func ensureSchemas() async throws {
        for schema in store.warehouse.schemasToCreate {
            let exists = try await session.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", [.text(schema)])
            guard exists.isEmpty else { continue }
            do {
                try await session.execute("CREATE SCHEMA IF NOT EXISTS \(Identifier.quote(schema))")
            } catch let e as StoreError where e.description.contains("permission denied") {
                throw StoreError.open(
                    "schema \(Identifier.quote(schema))",
                    "it does not exist and this role may not create it; create it, or run `mend setup-roles` for it as an administrator")
            }
        }
    }

    /// The one set-up every writing command goes through (ingest, consume, serve, mcp): the
    /// target schema, then the state tables. The schemas come first, so a new target schema
    /// beside an existing state (`?schema=fresh1` on a database Mend already uses) is created
    /// too; the early return for a bootstrapped state used to skip it.
    public func bootstrap() async throws {
        try await ensureSchemas()
        // Already set up (perhaps by `mend setup-roles`, for roles without CREATE): a
        // least-privilege role must not need DDL rights to start.
        if pg {
            if try await stateTableExists("idempotency") {
                try await ensureSeriesTable()  // a database bootstrapped before the time series
                try await ensureKeysTable()  // … or before the key map
                return
            }
        }
        let ddl = [
            "CREATE TABLE IF NOT EXISTS \(t("tables")) (tbl TEXT PRIMARY KEY, input BIGINT NOT NULL DEFAULT 0, loaded BIGINT NOT NULL DEFAULT 0, coerced BIGINT NOT NULL DEFAULT 0, created_at DOUBLE PRECISION)",
            keysTableDDL,
            "CREATE TABLE IF NOT EXISTS \(t("mappings")) (tbl TEXT NOT NULL, source TEXT NOT NULL, col TEXT NOT NULL, PRIMARY KEY (tbl, source))",
            "CREATE TABLE IF NOT EXISTS \(t("conversions")) (tbl TEXT NOT NULL, col TEXT NOT NULL, conversion TEXT NOT NULL, PRIMARY KEY (tbl, col))",
            "CREATE TABLE IF NOT EXISTS \(t("schema_versions")) (id \(serial), tbl TEXT NOT NULL, version BIGINT NOT NULL, plan_id BIGINT, ddl TEXT, applied_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("incidents")) (id \(serial), tbl TEXT NOT NULL, signature TEXT NOT NULL, kinds TEXT NOT NULL, status TEXT NOT NULL, opened_at DOUBLE PRECISION, resolved_at DOUBLE PRECISION, first_parked_at DOUBLE PRECISION, last_replayed_at DOUBLE PRECISION, drifts \(jsonType))",
            "CREATE TABLE IF NOT EXISTS \(t("parked")) (id \(serial), tbl TEXT NOT NULL, incident_id BIGINT NOT NULL, source TEXT, line BIGINT, record \(jsonType), raw TEXT, drifts \(jsonType), reason TEXT, parked_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("quarantine")) (id \(serial), tbl TEXT NOT NULL, source TEXT, line BIGINT, raw TEXT, reason TEXT, quarantined_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("plans")) (id \(serial), incident_id BIGINT NOT NULL, tbl TEXT NOT NULL, plan \(jsonType) NOT NULL, status TEXT NOT NULL, decision \(jsonType), verdicts \(jsonType), planned_by TEXT, created_at DOUBLE PRECISION, decided_by TEXT, decided_at DOUBLE PRECISION, note TEXT)",
            "CREATE TABLE IF NOT EXISTS \(t("audit")) (seq BIGINT PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
            // Where the last verification of the chain stopped, so the next one reads only what came after.
            "CREATE TABLE IF NOT EXISTS \(t("audit_checkpoint")) (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS \(t("offsets")) (source TEXT NOT NULL, tbl TEXT NOT NULL, line BIGINT NOT NULL, byte_offset BIGINT NOT NULL, fingerprint TEXT, PRIMARY KEY (source, tbl))",
            "CREATE TABLE IF NOT EXISTS \(t("usage")) (id \(serial), plan_id BIGINT, model TEXT, tokens_in BIGINT, tokens_out BIGINT, cost DOUBLE PRECISION, at DOUBLE PRECISION)",
            // HTTP Idempotency-Key answers (mend serve); created here so setup-roles owns and grants it.
            "CREATE TABLE IF NOT EXISTS \(t("idempotency")) (key TEXT NOT NULL, tbl TEXT NOT NULL, body_sha256 TEXT NOT NULL, status TEXT NOT NULL, response TEXT, created_at DOUBLE PRECISION, PRIMARY KEY (key, tbl))",
        ]
        for sql in ddl + streamTableDDL + [seriesTableDDL] { try await session.execute(sql) }
        let idx = pg ? "" : "_mend_"
        try await session.execute("CREATE INDEX IF NOT EXISTS \(idx)parked_incident ON \(t("parked")) (incident_id)")
        try await session.execute("CREATE INDEX IF NOT EXISTS \(idx)incidents_tbl ON \(t("incidents")) (tbl, status)")
    }

    /// One row per key path of a table: its column. A key path has one column, a column one
    /// key path (KeyMap); the uniqueness is the database's to keep across workers.
    var keysTableDDL: String {
        "CREATE TABLE IF NOT EXISTS \(t("keys")) (tbl TEXT NOT NULL, key_path TEXT NOT NULL, col TEXT NOT NULL, PRIMARY KEY (tbl, key_path), UNIQUE (tbl, col))"
    }

    /// Creates the key map's table on a database bootstrapped before it existed (the
    /// `columns` table it replaces stays, unread). It looks first, like `ensureSeriesTable`.
    func ensureKeysTable() async throws {
        guard try await !stateTableExists("keys") else { return }
        do {
            try await session.execute(keysTableDDL)
        } catch {
            throw StoreError.open(
                "Mend's state",
                "its key map table \(t("keys")) is missing (the state predates it) and this role may not create it: "
                    + "run `mend setup-roles` again as an administrator, which creates it and grants it (\(error))")
        }
    }

    func encode<T: Encodable>(_ v: T, with e: JSONEncoder = Self.encoder()) throws -> String {
        String(decoding: try e.encode(v), as: UTF8.self)
    }

    /// The encoder of state JSON (sorted keys). A caller encoding many values keeps one:
    /// making one per parked record was most of what encoding its drifts cost.
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
