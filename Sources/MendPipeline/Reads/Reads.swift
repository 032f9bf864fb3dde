import Crypto
public import Foundation
public import MendCore
public import MendGuard
public import MendStore

/// What the CLI, MCP and HTTP show: each read in its own transaction.
extension Engine {
    public func stats() async throws -> [TableStats] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.stats() }
    }

    public func incidents() async throws -> [Incident] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.incidents() }
    }

    public func incidentDetail(_ id: Int64, samples: Int = 5) async throws -> (Incident, [ParkedRecord], [StoredPlan]) {
        try await bootstrap()
        return try await state.transaction { tx in
            guard let i = try await tx.incident(id) else {
                throw PipelineError.notFound("no incident \(id); run `mend incidents` to list them")
            }
            return (i, try await tx.parkedRecords(incidentID: id, limit: samples), try await tx.plans(incidentID: id))
        }
    }

    public func schema(table given: String) async throws -> (TableSchema, [String: [String]], [StateStore.SchemaVersion])? {
        try await bootstrap()
        let table = Identifier.canonical(given)
        let found = try await state.transaction { tx -> (TableSchema, [StateStore.SchemaVersion])? in
            // Only tables Mend loads: its own `_mend*` state tables and other tables of the
            // database are not shown (to MCP agents, the dashboard or the CLI).
            guard try await tx.managedTables().contains(table), let schema = try await tx.schema(table) else { return nil }
            return (schema, try await tx.schemaHistory(table))
        }
        guard let (schema, history) = found else { return nil }
        return (schema, schema.sources(overflowKeys: try await recordedOverflowKeys(table: table)), history)
    }

    /// The child tables of `table` (`nested_lists: tables`, D26), parents before their
    /// children, each with its depth below `table`: found by the `parent__field` names.
    public func childTables(of given: String) async throws -> [ChildTable] {
        try await bootstrap()
        let table = Identifier.canonical(given)
        let w = warehouse
        return try await state.transaction { tx in
            // A table of the tree is named under the root and has Mend's link to its parent: a
            // table named so by hand, without the link, is not a child.
            var children: [String] = []
            for t in try await tx.managedTables().sorted() where t.hasPrefix(table + Flattener.separator) {
                if try await tx.columns(t)?.contains(where: { $0.name == Unnester.parentColumn }) == true { children.append(t) }
            }
            var out: [ChildTable] = []
            for child in children {
                let parents = children.filter { $0 != child && child.hasPrefix($0 + Flattener.separator) }.count
                out.append(
                    ChildTable(table: child, depth: parents + 1, foreignKeyTo: try await w.foreignKeyTarget(table: child, in: tx.session)))
            }
            return out
        }
    }

    public func parkedRecord(id: Int64) async throws -> ParkedRecord? {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.parkedRecord(id: id) }
    }

    public func auditEntries(limit: Int? = nil) async throws -> [AuditEntry] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.auditEntries(limit: limit) }
    }

    /// One page of the audit log, newest last: up to `limit` entries before `seq`.
    public func auditPage(before seq: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.auditEntries(before: seq, limit: limit) }
    }

    /// Verifies the chain from the last checkpoint on, in slices, and moves the checkpoint
    /// to the new head: a view costs the entries written since the last one, not the whole
    /// log. The checkpointed entry itself is checked to still carry its hash. `full`
    /// starts from the first entry (what `mend audit --verify` does).
    public func verifyAudit(full: Bool = false, slice: Int = 5_000) async throws -> AuditVerifier.Report {
        try await bootstrap()
        return try await state.transaction { tx in
            var start = AuditVerifier.Start.genesis
            var verified = 0
            if !full, let (seq, hash) = try await tx.auditCheckpoint() {
                guard let anchor = try await tx.auditEntry(seq: seq), anchor.hash == hash else {
                    return AuditVerifier.Report(
                        ok: false, entries: 0, firstBroken: seq,
                        reason: "entry \(seq), where the last verification stopped, was removed or rewritten", head: nil)
                }
                start = AuditVerifier.Start(seq: seq, hash: hash)
                verified = Int(seq)
            }
            while true {
                let entries = try await tx.auditEntries(after: start.seq, limit: slice)
                var report = AuditVerifier.verify(entries, after: start)
                report.entries += verified
                guard report.ok else { return report }
                guard let last = entries.last else {
                    if start.seq > 0 { try await tx.setAuditCheckpoint(seq: start.seq, hash: start.hash) }
                    return report
                }
                verified += entries.count
                start = AuditVerifier.Start(seq: last.seq, hash: last.hash)
            }
        }
    }

    public func repairTimes() async throws -> [(Int64, String, Double)] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.repairTimes() }
    }

    /// Up to `limit` loaded rows of a managed table, every value as text (or nil), in
    /// column order. Text keeps the adapters simple; callers re-type with the schema.
    public func sampleRows(table given: String, limit: Int) async throws -> (columns: [Column], rows: [[String?]]) {
        try await bootstrap()
        let table = Identifier.canonical(given)
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        let w = warehouse
        let n = max(1, min(limit, 100))
        return try await state.transaction { tx in
            // Only tables Mend manages: the sample tool is not a way to read arbitrary tables.
            guard try await tx.managedTables().contains(table), let cols = try await w.catalog(table: table, in: tx.session) else {
                throw PipelineError.notFound("no table \(table) managed by Mend; `mend stats` lists them")
            }
            return (cols, try await tx.sampleValues(table: table, columns: cols.map(\.name), limit: n))
        }
    }

    /// The tables Mend loads (and may repair).
    public func managedTables() async throws -> [String] {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.managedTables() }
    }

    /// Appends one entry to the hash-chained audit log in its own transaction.
    public func audit(_ event: AuditEvent, actor: String) async throws {
        try await bootstrap()
        try await state.transaction { tx in _ = try await tx.audit(event, actor: actor) }
    }

    /// Lowercase hex SHA-256, for audit entries that must identify a payload without storing it.
    public nonisolated static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The guard's context from the live catalog: what `mend check-sql --db` checks against.
    public func guardContext() async throws -> GuardContext {
        try await bootstrap()
        let w = warehouse
        let schema = (w.targetSchema ?? "main").lowercased()
        return try await state.transaction { tx in
            let tables = try await tx.managedTables()
            var types: [String: [String: String]] = [:]
            for t in tables {
                if let cols = try await w.catalog(table: t, in: tx.session) {
                    types["\(schema).\(t)"] = Dictionary(
                        cols.map { ($0.name, $0.declaredType.lowercased()) }, uniquingKeysWith: { a, _ in a })
                }
            }
            return GuardContext(
                managedTables: Set(tables.map { "\(schema).\($0)" }), allowedSchemas: [schema], defaultSchema: schema, columnTypes: types)
        }
    }

    /// The user-defined types of a PostgreSQL database (domains, enums, ...), so the guard
    /// can tell a plain domain from one with a CHECK or a DEFAULT; nil on SQLite, which has none.
    public func guardTypeCatalog() async throws -> GuardTypeCatalog? {
        guard warehouse.dialect == .postgres else { return nil }
        try await bootstrap()
        let rows = try await state.transaction { tx in try await tx.session.query(GuardTypeCatalog.query, []) }
        return GuardTypeCatalog(
            rows.compactMap { r in
                guard let schema = r[0].string, let name = r[1].string, let kind = GuardTypeCatalog.Kind(typtype: r[2].string ?? "")
                else { return nil }
                return GuardTypeCatalog.UserType(
                    schema: schema, name: name, kind: kind, notNull: r[3] == .bool(true), checks: Int(r[4].int ?? 0),
                    defaultExpression: r[5].string, baseSchema: r[6].string, baseName: r[7].string)
            })
    }

    public func usage() async throws -> StateStore.UsageTotals {
        try await bootstrap()
        return try await state.transaction { tx in try await tx.usage() }
    }
}

/// A child table of a record tree (`nested_lists: tables`), as `mend schema`, MCP and the
/// dashboard show it under its root.
public struct ChildTable: Sendable, Equatable {
    public var table: String
    /// 1 for a child of the root, 2 for a grandchild, and so on.
    public var depth: Int
    /// The table its `_mend_parent_id` references with a foreign key (`foreign_keys: true`,
    /// PostgreSQL, D29); nil without one.
    public var foreignKeyTo: String?

    public init(table: String, depth: Int, foreignKeyTo: String? = nil) {
        self.table = table
        self.depth = depth
        self.foreignKeyTo = foreignKeyTo
    }
}
