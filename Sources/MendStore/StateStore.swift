import Crypto
import Foundation
import MendCore

/// A record parked because it does not fit, with what is needed to replay it.
public struct ParkedRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var table: String
    public var incidentID: Int64
    public var source: String
    public var line: Int64
    /// The record as JSON text, exactly as it will be replayed.
    public var record: String
    public var drifts: [Drift]
    public var reason: String

    public init(
        id: Int64 = 0, table: String, incidentID: Int64 = 0, source: String, line: Int64, record: String,
        drifts: [Drift], reason: String
    ) {
        self.id = id
        self.table = table
        self.incidentID = incidentID
        self.source = source
        self.line = line
        self.record = record
        self.drifts = drifts
        self.reason = reason
    }
}

/// A record set aside for good (unparseable, or quarantined by a plan), raw bytes kept.
public struct QuarantinedRecord: Sendable, Equatable, Codable {
    public var table: String
    public var source: String
    public var line: Int64
    public var raw: String
    public var reason: String
    public init(table: String, source: String, line: Int64, raw: String, reason: String) {
        self.table = table
        self.source = source
        self.line = line
        self.raw = raw
        self.reason = reason
    }
}

public struct TableStats: Sendable, Codable, Equatable {
    public var table: String
    public var input: Int64
    public var loaded: Int64
    public var parked: Int64
    public var quarantined: Int64
    public var coerced: Int64
    public var openIncidents: Int64
    public var schemaVersion: Int64
}

public struct AuditEntry: Sendable, Codable, Equatable {
    public var seq: Int64
    public var at: String
    public var kind: String
    public var subject: String
    public var actor: String
    public var detail: String
    public var prevHash: String
    public var hash: String

    /// SHA-256 over the previous hash and every field: editing, deleting or reordering
    /// any entry breaks the chain from that entry on.
    public static func digest(
        seq: Int64, at: String, kind: String, subject: String, actor: String, detail: String, prevHash: String
    ) -> String {
        var h = SHA256()
        for part in [prevHash, String(seq), at, kind, subject, actor, detail] {
            h.update(data: Data(part.utf8))
            h.update(data: Data([0x1F]))  // unit separator: "ab"+"c" never hashes like "a"+"bc"
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

public struct StoredPlan: Sendable, Codable, Equatable {
    public var plan: Plan
    public var decision: PolicyDecision?
    public var verdicts: [StatementVerdict]
    public var decidedBy: String?
    public var note: String?
}

/// The guard's verdict on one compiled statement, as stored with a plan.
public struct StatementVerdict: Sendable, Codable, Equatable {
    public var sql: String
    public var allowed: Bool
    public var risk: Risk
    public var rule: String
    public var reasons: [String]
    public var saferAlternative: String?
    public init(sql: String, allowed: Bool, risk: Risk, rule: String, reasons: [String], saferAlternative: String?) {
        self.sql = sql
        self.allowed = allowed
        self.risk = risk
        self.rule = rule
        self.reasons = reasons
        self.saferAlternative = saferAlternative
    }
}

/// Mend's own state, kept in the target database beside the data, written in the same
/// transactions as the rows it describes. SQL is written once with `?` placeholders;
/// the dialect differences are the type names below.
public struct StateStore: Sendable {
    public let warehouse: any Warehouse
    public init(_ warehouse: any Warehouse) { self.warehouse = warehouse }

    func t(_ name: String) -> String { warehouse.stateTable(name) }
    var pg: Bool { warehouse.dialect == .postgres }
    var serial: String { pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT" }
    var jsonType: String { pg ? "jsonb" : "TEXT" }
    /// A bound JSON parameter: PostgreSQL needs the cast from text to jsonb.
    var jp: String { pg ? "CAST(? AS jsonb)" : "?" }

    /// Names of the state tables `bootstrap` creates.
    public static let tableNames = [
        "tables", "columns", "mappings", "conversions", "schema_versions", "incidents", "parked", "quarantine", "plans", "audit",
        "offsets", "usage", "idempotency",
    ]

    public static func now() -> Double { Date().timeIntervalSince1970 }
    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    public func bootstrap(_ s: any SQLSession) async throws {
        // Already set up (perhaps by `mend setup-roles`, for roles without CREATE): a
        // least-privilege role must not need DDL rights to start.
        if pg {
            let names = warehouse.schemasToCreate
            let found = try await s.query(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = ? AND c.relname = 'idempotency'",
                [.text(names.last ?? "_mend")])
            if !found.isEmpty { return }
        }
        for schema in warehouse.schemasToCreate {
            // Creating an existing schema needs CREATE on the database; check first so
            // a least-privilege role can still start.
            let exists = try await s.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", [.text(schema)])
            if exists.isEmpty { try await s.execute("CREATE SCHEMA IF NOT EXISTS \(Identifier.quote(schema))") }
        }
        let ddl = [
            "CREATE TABLE IF NOT EXISTS \(t("tables")) (tbl TEXT PRIMARY KEY, input BIGINT NOT NULL DEFAULT 0, loaded BIGINT NOT NULL DEFAULT 0, coerced BIGINT NOT NULL DEFAULT 0, created_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("columns")) (tbl TEXT NOT NULL, col TEXT NOT NULL, source_key TEXT NOT NULL, PRIMARY KEY (tbl, col, source_key))",
            "CREATE TABLE IF NOT EXISTS \(t("mappings")) (tbl TEXT NOT NULL, source TEXT NOT NULL, col TEXT NOT NULL, PRIMARY KEY (tbl, source))",
            "CREATE TABLE IF NOT EXISTS \(t("conversions")) (tbl TEXT NOT NULL, col TEXT NOT NULL, conversion TEXT NOT NULL, PRIMARY KEY (tbl, col))",
            "CREATE TABLE IF NOT EXISTS \(t("schema_versions")) (id \(serial), tbl TEXT NOT NULL, version BIGINT NOT NULL, plan_id BIGINT, ddl TEXT, applied_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("incidents")) (id \(serial), tbl TEXT NOT NULL, signature TEXT NOT NULL, kinds TEXT NOT NULL, status TEXT NOT NULL, opened_at DOUBLE PRECISION, resolved_at DOUBLE PRECISION, first_parked_at DOUBLE PRECISION, last_replayed_at DOUBLE PRECISION, drifts \(jsonType))",
            "CREATE TABLE IF NOT EXISTS \(t("parked")) (id \(serial), tbl TEXT NOT NULL, incident_id BIGINT NOT NULL, source TEXT, line BIGINT, record \(jsonType), raw TEXT, drifts \(jsonType), reason TEXT, parked_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("quarantine")) (id \(serial), tbl TEXT NOT NULL, source TEXT, line BIGINT, raw TEXT, reason TEXT, quarantined_at DOUBLE PRECISION)",
            "CREATE TABLE IF NOT EXISTS \(t("plans")) (id \(serial), incident_id BIGINT NOT NULL, tbl TEXT NOT NULL, plan \(jsonType) NOT NULL, status TEXT NOT NULL, decision \(jsonType), verdicts \(jsonType), planned_by TEXT, created_at DOUBLE PRECISION, decided_by TEXT, decided_at DOUBLE PRECISION, note TEXT)",
            "CREATE TABLE IF NOT EXISTS \(t("audit")) (seq BIGINT PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS \(t("offsets")) (source TEXT NOT NULL, tbl TEXT NOT NULL, line BIGINT NOT NULL, byte_offset BIGINT NOT NULL, fingerprint TEXT, PRIMARY KEY (source, tbl))",
            "CREATE TABLE IF NOT EXISTS \(t("usage")) (id \(serial), plan_id BIGINT, model TEXT, tokens_in BIGINT, tokens_out BIGINT, cost DOUBLE PRECISION, at DOUBLE PRECISION)",
            // HTTP Idempotency-Key answers (mend serve); created here so setup-roles owns and grants it.
            "CREATE TABLE IF NOT EXISTS \(t("idempotency")) (key TEXT NOT NULL, tbl TEXT NOT NULL, body_sha256 TEXT NOT NULL, status TEXT NOT NULL, response TEXT, created_at DOUBLE PRECISION, PRIMARY KEY (key, tbl))",
        ]
        for sql in ddl { try await s.execute(sql) }
        let idx = pg ? "" : "_mend_"
        try await s.execute("CREATE INDEX IF NOT EXISTS \(idx)parked_incident ON \(t("parked")) (incident_id)")
        try await s.execute("CREATE INDEX IF NOT EXISTS \(idx)incidents_tbl ON \(t("incidents")) (tbl, status)")
    }

    // MARK: tables and counters

    public func ensureTable(_ s: any SQLSession, _ table: String) async throws {
        let rows = try await s.query("SELECT 1 FROM \(t("tables")) WHERE tbl = ?", [.text(table)])
        if rows.isEmpty {
            try await s.execute(
                "INSERT INTO \(t("tables")) (tbl, input, loaded, coerced, created_at) VALUES (?, 0, 0, 0, ?)",
                [.text(table), .double(Self.now())])
        }
    }

    /// Adds to a table's counters, creating its row if needed: one statement per batch
    /// on the hot path (SQLite and PostgreSQL both take this upsert).
    public func addCounters(_ s: any SQLSession, _ table: String, input: Int, loaded: Int, coerced: Int) async throws {
        try await s.execute(
            "INSERT INTO \(t("tables")) AS cur (tbl, input, loaded, coerced, created_at) VALUES (?, ?, ?, ?, ?) "
                + "ON CONFLICT (tbl) DO UPDATE SET input = cur.input + excluded.input, loaded = cur.loaded + excluded.loaded, "
                + "coerced = cur.coerced + excluded.coerced",
            [.text(table), .int(Int64(input)), .int(Int64(loaded)), .int(Int64(coerced)), .double(Self.now())])
    }

    public func managedTables(_ s: any SQLSession) async throws -> [String] {
        try await s.query("SELECT tbl FROM \(t("tables")) ORDER BY tbl", []).compactMap { $0[0].string }
    }

    public func rememberSourceKeys(_ s: any SQLSession, _ table: String, _ pairs: [(String, String)]) async throws {
        guard !pairs.isEmpty else { return }
        try await s.insertMany(
            "INSERT \(pg ? "" : "OR IGNORE ")INTO \(t("columns")) (tbl, col, source_key) VALUES", tuple: "(?, ?, ?)",
            pairs.map { [.text(table), .text($0.0), .text($0.1)] }, suffix: pg ? " ON CONFLICT DO NOTHING" : "")
    }

    public func sourceKeys(_ s: any SQLSession, _ table: String) async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for r in try await s.query("SELECT col, source_key FROM \(t("columns")) WHERE tbl = ? ORDER BY col, source_key", [.text(table)]) {
            out[r[0].string ?? "", default: []].append(r[1].string ?? "")
        }
        return out
    }

    /// The table as Mend sees it: catalog columns, stored mappings and conversions.
    public func schema(_ s: any SQLSession, _ table: String) async throws -> TableSchema? {
        guard let cols = try await warehouse.catalog(table: table, in: s) else { return nil }
        var mappings: [String: String] = [:]
        for r in try await s.query("SELECT source, col FROM \(t("mappings")) WHERE tbl = ?", [.text(table)]) {
            mappings[r[0].string ?? ""] = r[1].string ?? ""
        }
        var conversions: [String: ValueConversion] = [:]
        for r in try await s.query("SELECT col, conversion FROM \(t("conversions")) WHERE tbl = ?", [.text(table)]) {
            if let data = r[1].string?.data(using: .utf8), let c = try? JSONDecoder().decode(ValueConversion.self, from: data) {
                conversions[r[0].string ?? ""] = c
            }
        }
        let version = try await s.scalarInt("SELECT COALESCE(MAX(version), 1) FROM \(t("schema_versions")) WHERE tbl = ?", [.text(table)])
        return TableSchema(name: table, columns: cols, mappings: mappings, conversions: conversions, version: Int(version))
    }

    public func addMapping(_ s: any SQLSession, _ table: String, source: String, column: String) async throws {
        try await s.execute("DELETE FROM \(t("mappings")) WHERE tbl = ? AND source = ?", [.text(table), .text(source)])
        try await s.execute(
            "INSERT INTO \(t("mappings")) (tbl, source, col) VALUES (?, ?, ?)", [.text(table), .text(source), .text(column)])
    }

    public func addConversion(_ s: any SQLSession, _ table: String, column: String, _ c: ValueConversion) async throws {
        let text = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        try await s.execute("DELETE FROM \(t("conversions")) WHERE tbl = ? AND col = ?", [.text(table), .text(column)])
        try await s.execute(
            "INSERT INTO \(t("conversions")) (tbl, col, conversion) VALUES (?, ?, ?)", [.text(table), .text(column), .text(text)])
    }

    public func recordSchemaVersion(_ s: any SQLSession, _ table: String, planID: Int64?, ddl: String) async throws -> Int64 {
        let v = try await s.scalarInt("SELECT COALESCE(MAX(version), 0) FROM \(t("schema_versions")) WHERE tbl = ?", [.text(table)]) + 1
        try await s.execute(
            "INSERT INTO \(t("schema_versions")) (tbl, version, plan_id, ddl, applied_at) VALUES (?, ?, ?, ?, ?)",
            [.text(table), .int(v), planID.map(SQLValue.int) ?? .null, .text(ddl), .double(Self.now())])
        return v
    }

    public struct SchemaVersion: Sendable, Codable {
        public var version: Int64
        public var planID: Int64?
        public var ddl: String
        public var appliedAt: Double
    }

    public func schemaHistory(_ s: any SQLSession, _ table: String) async throws -> [SchemaVersion] {
        try await s.query(
            "SELECT version, plan_id, ddl, applied_at FROM \(t("schema_versions")) WHERE tbl = ? ORDER BY version", [.text(table)]
        ).map { SchemaVersion(version: $0[0].int ?? 0, planID: $0[1].int, ddl: $0[2].string ?? "", appliedAt: $0[3].double ?? 0) }
    }

    // MARK: incidents and parked records

    /// Open (not resolved, not rejected) incidents of a table by signature.
    public func openIncidentIDs(_ s: any SQLSession, _ table: String) async throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for r in try await s.query(
            "SELECT signature, id FROM \(t("incidents")) WHERE tbl = ? AND status IN ('open', 'pending_approval')", [.text(table)])
        {
            out[r[0].string ?? ""] = r[1].int ?? 0
        }
        return out
    }

    public func createIncident(_ s: any SQLSession, table: String, signature: String, drifts: [Drift]) async throws -> Int64 {
        let kinds = Array(Set(drifts.map(\.kind))).sorted().map(\.rawValue).joined(separator: ",")
        let now = Self.now()
        let rows = try await s.query(
            "INSERT INTO \(t("incidents")) (tbl, signature, kinds, status, opened_at, first_parked_at, drifts) VALUES (?, ?, ?, 'open', ?, ?, \(jp)) RETURNING id",
            [.text(table), .text(signature), .text(kinds), .double(now), .double(now), .text(try encode(drifts))])
        return rows.first?.first?.int ?? 0
    }

    public func park(_ s: any SQLSession, _ records: [ParkedRecord]) async throws {
        guard !records.isEmpty else { return }
        let now = Self.now()
        var sets: [[SQLValue]] = []
        sets.reserveCapacity(records.count)
        for r in records {
            // jsonb cannot hold \u0000: such records keep their exact text in `raw` instead.
            let asRaw = pg && r.record.contains("\\u0000")
            sets.append([
                .text(r.table), .int(r.incidentID), .text(r.source), .int(r.line), asRaw ? .null : .text(r.record),
                asRaw ? .text(r.record) : .null, .text(try encode(r.drifts)),
                .text(r.reason), .double(now),
            ])
        }
        try await s.insertMany(
            "INSERT INTO \(t("parked")) (tbl, incident_id, source, line, record, raw, drifts, reason, parked_at) VALUES",
            tuple: "(?, ?, ?, ?, \(jp), ?, \(jp), ?, ?)", sets)
    }

    public func quarantine(_ s: any SQLSession, _ records: [QuarantinedRecord]) async throws {
        guard !records.isEmpty else { return }
        let now = Self.now()
        try await s.insertMany(
            "INSERT INTO \(t("quarantine")) (tbl, source, line, raw, reason, quarantined_at) VALUES", tuple: "(?, ?, ?, ?, ?, ?)",
            records.map { [.text($0.table), .text($0.source), .int($0.line), .text($0.raw), .text($0.reason), .double(now)] })
    }

    public func parkedRecords(_ s: any SQLSession, incidentID: Int64, limit: Int = 1_000_000, afterID: Int64 = 0) async throws
        -> [ParkedRecord]
    {
        try await s.query(
            "SELECT id, tbl, incident_id, source, line, COALESCE(raw, CAST(record AS TEXT)), CAST(drifts AS TEXT), reason FROM \(t("parked")) WHERE incident_id = ? AND id > ? ORDER BY id LIMIT ?",
            [.int(incidentID), .int(afterID), .int(Int64(limit))]
        ).map { r in
            ParkedRecord(
                id: r[0].int ?? 0, table: r[1].string ?? "", incidentID: r[2].int ?? 0, source: r[3].string ?? "",
                line: r[4].int ?? 0, record: r[5].string ?? "",
                drifts: (try? decode([Drift].self, r[6].string ?? "[]")) ?? [], reason: r[7].string ?? "")
        }
    }

    public func deleteParked(_ s: any SQLSession, ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await s.executeForIDs("DELETE FROM \(t("parked")) WHERE id IN", ids)
    }

    public func reassignParked(_ s: any SQLSession, id: Int64, incidentID: Int64, drifts: [Drift], reason: String) async throws {
        try await s.execute(
            "UPDATE \(t("parked")) SET incident_id = ?, drifts = \(jp), reason = ? WHERE id = ?",
            [.int(incidentID), .text(try encode(drifts)), .text(reason), .int(id)])
    }

    public func parkedCount(_ s: any SQLSession, incidentID: Int64) async throws -> Int64 {
        try await s.scalarInt("SELECT COUNT(*) FROM \(t("parked")) WHERE incident_id = ?", [.int(incidentID)])
    }

    public func setIncidentStatus(_ s: any SQLSession, _ id: Int64, _ status: IncidentStatus) async throws {
        let resolved: SQLValue = status == .resolved ? .double(Self.now()) : .null
        try await s.execute(
            "UPDATE \(t("incidents")) SET status = ?, resolved_at = ? WHERE id = ?", [.text(status.rawValue), resolved, .int(id)])
    }

    public func markReplayed(_ s: any SQLSession, _ id: Int64) async throws {
        try await s.execute("UPDATE \(t("incidents")) SET last_replayed_at = ? WHERE id = ?", [.double(Self.now()), .int(id)])
    }

    public func incident(_ s: any SQLSession, _ id: Int64) async throws -> Incident? {
        try await incidents(s, where: "id = ?", [.int(id)]).first
    }

    public func incidents(_ s: any SQLSession, where clause: String = "1 = 1", _ binds: [SQLValue] = []) async throws -> [Incident] {
        let rows = try await s.query(
            "SELECT i.id, i.tbl, i.signature, i.kinds, i.status, i.opened_at, i.resolved_at, CAST(i.drifts AS TEXT), (SELECT COUNT(*) FROM \(t("parked")) p WHERE p.incident_id = i.id) FROM \(t("incidents")) i WHERE \(clause) ORDER BY i.id",
            binds)
        return rows.map { r in
            Incident(
                id: r[0].int ?? 0, table: r[1].string ?? "", signature: r[2].string ?? "",
                kinds: (r[3].string ?? "").split(separator: ",").compactMap { DriftKind(rawValue: String($0)) },
                status: IncidentStatus(rawValue: r[4].string ?? "") ?? .open, parked: Int(r[8].int ?? 0),
                openedAt: Date(timeIntervalSince1970: r[5].double ?? 0),
                resolvedAt: r[6].double.map { Date(timeIntervalSince1970: $0) },
                drifts: (try? decode([Drift].self, r[7].string ?? "[]")) ?? [])
        }
    }

    /// Seconds from the first parked record to the last replayed one, per resolved incident.
    public func repairTimes(_ s: any SQLSession) async throws -> [(Int64, String, Double)] {
        try await s.query(
            "SELECT id, tbl, last_replayed_at - first_parked_at FROM \(t("incidents")) WHERE status = 'resolved' AND last_replayed_at IS NOT NULL ORDER BY id",
            []
        ).map { ($0[0].int ?? 0, $0[1].string ?? "", $0[2].double ?? 0) }
    }

    // MARK: plans

    public func insertPlan(_ s: any SQLSession, _ plan: Plan, decision: PolicyDecision?, verdicts: [StatementVerdict]) async throws
        -> Int64
    {
        var p = plan
        p.id = 0
        let rows = try await s.query(
            "INSERT INTO \(t("plans")) (incident_id, tbl, plan, status, decision, verdicts, planned_by, created_at) VALUES (?, ?, \(jp), ?, \(jp), \(jp), ?, ?) RETURNING id",
            [
                .int(plan.incidentID), .text(plan.table), .text(try encode(p)), .text(plan.status.rawValue),
                .text(try encode(decision)), .text(try encode(verdicts)), .text(plan.plannedBy), .double(Self.now()),
            ])
        return rows.first?.first?.int ?? 0
    }

    public func updatePlanStatus(_ s: any SQLSession, _ id: Int64, _ status: PlanStatus, by: String?, note: String?) async throws {
        try await s.execute(
            "UPDATE \(t("plans")) SET status = ?, decided_by = COALESCE(?, decided_by), decided_at = ?, note = COALESCE(?, note) WHERE id = ?",
            [.text(status.rawValue), by.map(SQLValue.text) ?? .null, .double(Self.now()), note.map(SQLValue.text) ?? .null, .int(id)])
    }

    public func plans(_ s: any SQLSession, incidentID: Int64) async throws -> [StoredPlan] {
        try await plans(s, where: "incident_id = ?", [.int(incidentID)])
    }

    public func plan(_ s: any SQLSession, id: Int64) async throws -> StoredPlan? {
        try await plans(s, where: "id = ?", [.int(id)]).first
    }

    public func plans(_ s: any SQLSession, where clause: String, _ binds: [SQLValue]) async throws -> [StoredPlan] {
        try await s.query(
            "SELECT id, CAST(plan AS TEXT), status, CAST(decision AS TEXT), CAST(verdicts AS TEXT), decided_by, note FROM \(t("plans")) WHERE \(clause) ORDER BY id",
            binds
        ).compactMap { r in
            guard var plan = try? decode(Plan.self, r[1].string ?? "") else { return nil }
            plan.id = r[0].int ?? 0
            plan.status = PlanStatus(rawValue: r[2].string ?? "") ?? .proposed
            return StoredPlan(
                plan: plan, decision: try? decode(PolicyDecision?.self, r[3].string ?? "null"),
                verdicts: (try? decode([StatementVerdict].self, r[4].string ?? "[]")) ?? [], decidedBy: r[5].string,
                note: r[6].string)
        }
    }

    // MARK: audit

    /// Appends one hash-chained entry. Callers hold the transaction; on PostgreSQL an
    /// advisory lock keeps two writers from chaining onto the same previous entry.
    @discardableResult
    public func audit(
        _ s: any SQLSession, kind: String, subject: String, actor: String, detail: [String: String]
    ) async throws -> AuditEntry {
        // One chain per state schema: the lock key names it, so pipelines in other
        // schemas of the same database never wait on each other.
        if pg { try await s.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [.text("mend:audit:" + t("audit"))]) }
        let last = try await s.query("SELECT seq, hash FROM \(t("audit")) ORDER BY seq DESC LIMIT 1", [])
        let seq = (last.first?[0].int ?? 0) + 1
        let prev = last.first?[1].string ?? String(repeating: "0", count: 64)
        let at = Self.iso(Self.now())
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let detailText = String(decoding: try enc.encode(detail), as: UTF8.self)
        let hash = AuditEntry.digest(seq: seq, at: at, kind: kind, subject: subject, actor: actor, detail: detailText, prevHash: prev)
        try await s.execute(
            "INSERT INTO \(t("audit")) (seq, at, kind, subject, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [.int(seq), .text(at), .text(kind), .text(subject), .text(actor), .text(detailText), .text(prev), .text(hash)])
        return AuditEntry(seq: seq, at: at, kind: kind, subject: subject, actor: actor, detail: detailText, prevHash: prev, hash: hash)
    }

    public func auditEntries(_ s: any SQLSession, limit: Int? = nil) async throws -> [AuditEntry] {
        let sql: String
        if let limit {
            sql =
                "SELECT seq, at, kind, subject, actor, detail, prev_hash, hash FROM (SELECT * FROM \(t("audit")) ORDER BY seq DESC LIMIT \(limit)) x ORDER BY seq"
        } else {
            sql = "SELECT seq, at, kind, subject, actor, detail, prev_hash, hash FROM \(t("audit")) ORDER BY seq"
        }
        return try await s.query(sql, []).map {
            AuditEntry(
                seq: $0[0].int ?? 0, at: $0[1].string ?? "", kind: $0[2].string ?? "", subject: $0[3].string ?? "",
                actor: $0[4].string ?? "", detail: $0[5].string ?? "", prevHash: $0[6].string ?? "", hash: $0[7].string ?? "")
        }
    }

    // MARK: offsets and stats

    public struct Offset: Sendable, Equatable {
        public var line: Int64
        public var byteOffset: Int64
        public var fingerprint: String?
        public init(line: Int64, byteOffset: Int64, fingerprint: String?) {
            self.line = line
            self.byteOffset = byteOffset
            self.fingerprint = fingerprint
        }
    }

    public func offset(_ s: any SQLSession, source: String, table: String) async throws -> Offset? {
        try await s.query(
            "SELECT line, byte_offset, fingerprint FROM \(t("offsets")) WHERE source = ? AND tbl = ?", [.text(source), .text(table)]
        )
        .first.map { Offset(line: $0[0].int ?? 0, byteOffset: $0[1].int ?? 0, fingerprint: $0[2].string) }
    }

    public func setOffset(_ s: any SQLSession, source: String, table: String, _ o: Offset) async throws {
        // One statement: it runs in every batch's transaction.
        try await s.execute(
            "INSERT INTO \(t("offsets")) (source, tbl, line, byte_offset, fingerprint) VALUES (?, ?, ?, ?, ?) "
                + "ON CONFLICT (source, tbl) DO UPDATE SET line = excluded.line, byte_offset = excluded.byte_offset, "
                + "fingerprint = excluded.fingerprint",
            [.text(source), .text(table), .int(o.line), .int(o.byteOffset), o.fingerprint.map(SQLValue.text) ?? .null])
    }

    public func stats(_ s: any SQLSession) async throws -> [TableStats] {
        let parked = Dictionary(
            try await s.query("SELECT tbl, COUNT(*) FROM \(t("parked")) GROUP BY tbl", []).map { ($0[0].string ?? "", $0[1].int ?? 0) },
            uniquingKeysWith: +)
        let quarantined = Dictionary(
            try await s.query("SELECT tbl, COUNT(*) FROM \(t("quarantine")) GROUP BY tbl", []).map { ($0[0].string ?? "", $0[1].int ?? 0) },
            uniquingKeysWith: +)
        let open = Dictionary(
            try await s.query("SELECT tbl, COUNT(*) FROM \(t("incidents")) WHERE status <> 'resolved' GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            }, uniquingKeysWith: +)
        let versions = Dictionary(
            try await s.query("SELECT tbl, MAX(version) FROM \(t("schema_versions")) GROUP BY tbl", []).map {
                ($0[0].string ?? "", $0[1].int ?? 0)
            }, uniquingKeysWith: max)
        return try await s.query("SELECT tbl, loaded, coerced FROM \(t("tables")) ORDER BY tbl", []).map { r in
            let name = r[0].string ?? ""
            let loaded = r[1].int ?? 0
            let p = parked[name] ?? 0
            let q = quarantined[name] ?? 0
            return TableStats(
                table: name, input: loaded + p + q, loaded: loaded, parked: p, quarantined: q, coerced: r[2].int ?? 0,
                openIncidents: open[name] ?? 0, schemaVersion: versions[name] ?? 0)
        }
    }

    /// Moves a parked record to quarantine (a plan decided it cannot be loaded).
    public func quarantineParked(_ s: any SQLSession, _ records: [ParkedRecord], reason: String) async throws {
        try await quarantine(
            s,
            records.map {
                QuarantinedRecord(table: $0.table, source: $0.source, line: $0.line, raw: $0.record, reason: reason + ": " + $0.reason)
            })
        try await deleteParked(s, ids: records.map(\.id))
    }

    public struct UsageTotals: Sendable, Codable { public var tokensIn: Int64; public var tokensOut: Int64; public var cost: Double }

    public func recordUsage(_ s: any SQLSession, planID: Int64?, model: String, tokensIn: Int, tokensOut: Int, cost: Double) async throws {
        try await s.execute(
            "INSERT INTO \(t("usage")) (plan_id, model, tokens_in, tokens_out, cost, at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                planID.map(SQLValue.int) ?? .null, .text(model), .int(Int64(tokensIn)), .int(Int64(tokensOut)), .double(cost),
                .double(Self.now()),
            ])
    }

    public func usage(_ s: any SQLSession) async throws -> UsageTotals {
        let r = try await s.query(
            "SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), COALESCE(SUM(cost), 0) FROM \(t("usage"))", [])
        return UsageTotals(tokensIn: r.first?[0].int ?? 0, tokensOut: r.first?[1].int ?? 0, cost: r.first?[2].double ?? 0)
    }

    func encode<T: Encodable>(_ v: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(v), as: UTF8.self)
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
