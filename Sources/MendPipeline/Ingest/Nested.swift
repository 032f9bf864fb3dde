import Crypto
import Foundation
import MendCore
import MendStore

/// The ids of nested rows (D26): stable, so that a resumed ingest, a redelivered message
/// and a replayed record write the same ids at every level.
enum NestedIDs {
    /// The root row's id: from the policy's `primary_key` when declared and present, else
    /// from the record's source position (source name and line, offset or sequence).
    static func root(table: String, members: [(key: String, value: JSONValue)], rule: NestingRule, source: String, line: Int64)
        -> String
    {
        let key = rule.primaryKey.isEmpty ? nil : Unnester.naturalKey(members, paths: rule.primaryKey)
        return root(table: table, naturalKey: key, source: source, line: line)
    }

    /// The root row's id from its natural key's text (`Unnester.naturalKey`), else its position.
    static func root(table: String, naturalKey: String?, source: String, line: Int64) -> String {
        if let naturalKey { return digest(["mend.root.key", table, naturalKey]) }
        return root(position: positionPrefix(table: table, source: source), line: line)
    }

    /// The parts a root id by position starts with, each ended by a NUL: the same for every
    /// record of a source, so a reader makes them once (`root(position:line:)`).
    static func positionPrefix(table: String, source: String) -> [UInt8] {
        var out: [UInt8] = []
        for part in ["mend.root.position", table, source] {
            out += part.utf8
            out.append(0)
        }
        return out
    }

    /// A root id from its source position: `positionPrefix`, then the line.
    static func root(position prefix: [UInt8], line: Int64) -> String {
        var digits = String(line)
        return prefix.withUnsafeBufferPointer { p in
            digits.withUTF8 { d in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: p.count + d.count + 1) { buffer in
                    if let source = p.baseAddress, let target = buffer.baseAddress { target.update(from: source, count: p.count) }
                    let o = put(d, into: buffer, at: p.count)
                    return hex(SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<o]))))
                }
            }
        }
    }

    /// A child row's id: its parent's id, the list's key path within the parent, the index.
    static func child(parent: String, path: String, index: Int) -> String {
        // Laid out by hand: one per child row, on the hot path, where an array of parts and its
        // strings cost more than the hash (and a nested function writing a captured offset
        // paid a runtime exclusivity check per byte: 9 % of a nested ingest's CPU, now 3 %).
        var parent = parent
        var path = path
        var digits = String(index)
        return parent.withUTF8 { p in
            path.withUTF8 { q in
                digits.withUTF8 { d in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: childPrefix.utf8CodeUnitCount + p.count + q.count + d.count + 4)
                    {
                        buffer in
                        var o = childPrefix.withUTF8Buffer { put($0, into: buffer, at: 0) }
                        o = put(p, into: buffer, at: o)
                        o = put(q, into: buffer, at: o)
                        o = put(d, into: buffer, at: o)
                        return hex(SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<o]))))
                    }
                }
            }
        }
    }

    private static let childPrefix: StaticString = "mend.child"

    /// Copies `bytes` into `buffer` at `offset`, then a NUL that ends the part; the next offset.
    private static func put(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        if let source = bytes.baseAddress, let target = buffer.baseAddress {
            (target + offset).update(from: source, count: bytes.count)
        }
        buffer[offset + bytes.count] = 0
        return offset + bytes.count + 1
    }

    /// The first 128 bits of SHA-256 over the parts (each ended by a NUL), as 32 hex digits.
    static func digest(_ parts: [String]) -> String {
        var length = 0
        for p in parts { length += p.utf8.count + 1 }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            var o = 0
            for var p in parts { o = p.withUTF8 { put($0, into: buffer, at: o) } }
            return hex(SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<o]))))
        }
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: 32) { out in
                for i in 0..<16 {
                    let (high, low) = (bytes[i] >> 4, bytes[i] & 0x0F)
                    out[2 * i] = high < 10 ? 48 + high : 87 + high
                    out[2 * i + 1] = low < 10 ? 48 + low : 87 + low
                }
                return 32
            }
        }
    }
}

/// One record cut into its rows (nil when its text is not a JSON object), or, read by a
/// learned shape, already rows of values that fit their tables.
struct NestedUnit: Sendable {
    var line: Int64
    var rows: [NestedRow]?
    var shaped: [(table: String, values: [SQLValue])]? = nil
    /// Read by a learned shape and encoded by the reader: its rows are only in the batch's
    /// `nestedPrepared` (every unit of the batch is, then).
    var encoded = false
}

/// The database refused a batch the reader encoded, whose rows it did not keep: the batch is
/// cut again the general way, whose load finds the records at fault.
struct EncodedBatchRefused: Error {}

/// A record problem that rolls its batch back: the database refused a row of these records
/// (unit index → the drift that says so). The batch runs again with those records parked whole.
struct NestedRejection: Error {
    var units: [Int: (table: String, drift: Drift)]
}

/// Records with child tables (`nested_lists: tables`): each record is one unit. Its root row
/// and all its child rows load in one transaction, or it parks whole (under its root table,
/// into the incident of the table whose row drifted), or it is quarantined whole.
extension Engine {
    /// The ingest loop for a table whose lists load as child tables. The reader only parses;
    /// records are cut into rows, flattened and validated table by table at the commit.
    func ingestNested<Source: RecordSource>(
        source: Source, table: String, rule: NestingRule, resume: Bool, actor: String, progress: (@Sendable (Int64) -> Void)?
    ) async throws -> IngestSummary {
        let started = Date()
        var summary = IngestSummary(table: table)
        let sourceName = source.name
        if resume, source.isResumable {
            if let off = try await state.transaction({ tx in try await tx.offset(source: sourceName, table: table) }) {
                source.resume(from: off)
                summary.skippedByResume = off.line
            }
        }
        // The tree's tables as they stand (the root, and the tables named under it that have
        // Mend's link to a parent), so that the reader reads the first batch by shape too: a
        // Kafka poll's share is a new reader, and its first batch was cut whole for the commit.
        var schemas: [String: TableSchema] = try await state.transaction { tx in
            guard let root = try await tx.schema(table) else { return [:] }
            var tree = [table: root]
            for t in try await tx.managedTables() where t.hasPrefix(table + Flattener.separator) {
                if let child = try await tx.schema(t), child.position(of: Unnester.parentColumn) != nil { tree[t] = child }
            }
            return tree
        }
        var settled = Set<Int64>()
        let overflowDepth = policy.overflowDepth(table: table)
        let positionPrefix = NestedIDs.positionPrefix(table: table, source: sourceName)
        let batches = BatchReader(
            reader: source, table: table, size: batchSize, maxBytes: batchBytes,
            firstBatchMinimum: schemas[table] == nil ? SchemaInference.firstSchemaWindow : 0,
            overflowDepth: policy.overflowDepth(table: table), warehouse: warehouse,
            cut: NestedCut(
                rows: { members, line, names in
                    Engine.rows(members, table: table, rule: rule, source: sourceName, line: line, names: &names)
                },
                flattener: { row, schema in
                    // The reader only proposes: new key paths get their columns at the commit, in order.
                    var f = Engine.nestedFlattener(budget: row.budget, rule: rule, overflowDepth: overflowDepth, keys: schema.keys)
                    f.assigns = false
                    return f
                },
                rootID: { line, key in
                    key.map { NestedIDs.root(table: table, naturalKey: $0, source: sourceName, line: line) }
                        ?? NestedIDs.root(position: positionPrefix, line: line)
                },
                childID: NestedIDs.child, primaryKey: rule.primaryKey))
        if !schemas.isEmpty { batches.nestedSchemas.set(readerSchemas(schemas)) }
        var reading = batches.readAhead()
        while true {
            var read = await reading.value
            // Cut and validate ahead while this batch commits; but while the tree has no root
            // table yet, only once this batch created its tables, so the next batch is read
            // against them (by a learned shape) rather than cut whole for the commit.
            let aheadNow = !read.atEnd && schemas[table] != nil
            if aheadNow { reading = batches.readAhead() }
            if read.records.isEmpty && read.quarantined.isEmpty && read.lines == 0 { break }
            summary.lines += Int64(read.lines)
            let creates = schemas[table] == nil
            var units = cut(read, table: table, rule: rule, source: sourceName, schemas: schemas)
            try await ensureNestedTables(units, root: table, rule: rule, schemas: &schemas, by: actor)
            batches.nestedSchemas.set(readerSchemas(schemas))
            if creates, schemas[table] != nil {
                // The first batch was cut whole for its types: read it again by shape, now its tables exist.
                read = await batches.reshape(read)
                units = cut(read, table: table, rule: rule, source: sourceName, schemas: schemas)
            }
            if !read.atEnd, !aheadNow { reading = batches.readAhead() }
            var r: BatchResult? = nil
            // A batch is committed as cut, then at most twice more, each time cut the general way.
            for attempt in 0..<3 {
                let last = attempt == 2
                do {
                    r = try await commitNested(
                        table: table, source: source, read: read, units: units, rule: rule, schemas: schemas, by: actor)
                    break
                } catch StoreError.staleSchema where !last {
                    // Altered by hand, or another worker gave a key path its column first: read
                    // every table of the record again and cut the same batch again.
                    schemas = try await reloadSchemas(Array(schemas.keys))
                    units = cut(read, table: table, rule: rule, source: sourceName, schemas: schemas, general: true)
                    try await ensureNestedTables(units, root: table, rule: rule, schemas: &schemas, by: actor)
                } catch is EncodedBatchRefused where !last {
                    // The reader's encoding was refused (a value the database would not take, a row
                    // against a key): cut the batch whole, whose load finds and parks the records at fault.
                    units = cut(read, table: table, rule: rule, source: sourceName, schemas: schemas, general: true)
                }
            }
            guard let r else {
                throw PipelineError.state("a batch of \(table) could not be committed: run the ingest again, which resumes")
            }
            if r.addedKeys {
                // The key paths the batch gave columns are in the stored maps now: read them, so
                // the next batches flatten against them (and the reader validates ahead again).
                schemas = try await reloadSchemas(Array(schemas.keys))
                batches.nestedSchemas.set(readerSchemas(schemas))
            }
            try await source.acknowledge(through: read.offset)
            summary.loaded += r.loaded
            summary.parked += r.parked
            summary.quarantined += r.quarantined
            summary.coerced += r.coerced
            summary.incidentsOpened += r.opened
            progress?(summary.lines)
            if !r.touched.isSubset(of: settled) {
                let before = try await state.transaction { tx in try await tx.counts(table: table) }
                settled = []
                // Every table of the tree can hold incidents: the root first, then the children
                // in name order (a parent before its children).
                for t in [table] + schemas.keys.filter({ $0 != table }).sorted() {
                    let outcome = try await repairSettling(table: t, by: actor)
                    summary.repaired += outcome.applied
                    settled.formUnion(outcome.waiting.union(outcome.pending).union(outcome.refused))
                }
                let after = try await state.transaction { tx in try await tx.counts(table: table) }
                summary.replayedLoaded += max(0, after.loaded - before.loaded)
                summary.replayedQuarantined += max(0, after.quarantined - before.quarantined)
                schemas = try await reloadSchemas(Array(schemas.keys))
                batches.nestedSchemas.set(readerSchemas(schemas))
            }
            if read.atEnd { break }
        }
        let family = Array(schemas.keys)
        (summary.pendingApproval, summary.stillParked) = try await state.transaction { tx in
            var pending: [Int64] = []
            for t in family { pending += try await tx.incidents(table: t, status: .pendingApproval).map(\.id) }
            return (pending.sorted(), try await tx.counts(table: table).parked)
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// Each record of the batch cut into its rows (by the reader, or here), with ids from its
    /// source position or key. A record the reader read by a learned shape keeps its rows while
    /// all their tables are as the reader saw them; else it is cut again here.
    func cut(
        _ read: ReadBatch, table: String, rule: NestingRule, source: String, schemas: [String: TableSchema], general: Bool = false
    ) -> [NestedUnit] {
        let unchanged = Set(read.nestedAgainst.filter { schemas[$0.key] == $0.value }.keys)
        // The common case, every table as the reader saw it: no lookup per row.
        let allUnchanged = unchanged.count == read.nestedAgainst.count
        // Encoded rows load as the reader encoded them, all or none: only while no table changed.
        if !general, allUnchanged, !read.records.isEmpty, read.records.allSatisfy(\.encoded),
            read.nestedPrepared.keys.allSatisfy({ schemas[$0] != nil })
        {
            return read.records.map { NestedUnit(line: $0.line, rows: nil, encoded: true) }
        }
        return read.records.map { p in
            if let shaped = p.shaped, allUnchanged || shaped.allSatisfy({ unchanged.contains($0.table) }) {
                return NestedUnit(line: p.line, rows: nil, shaped: shaped)
            }
            if let rows = p.nested { return NestedUnit(line: p.line, rows: rows) }
            let value = read.raw[p.raw].withUnsafeBufferPointer { try? JSONParser.parse($0) }
            guard case .object(let members)? = value else { return NestedUnit(line: p.line, rows: nil) }
            return NestedUnit(line: p.line, rows: Self.rows(members, table: table, rule: rule, source: source, line: p.line))
        }
    }

    static func rows(
        _ members: [(key: String, value: JSONValue)], table: String, rule: NestingRule, source: String, line: Int64,
        names: inout Flattener
    ) -> [NestedRow] {
        let rootID = NestedIDs.root(table: table, members: members, rule: rule, source: source, line: line)
        return Unnester.unnest(members, table: table, rootID: rootID, rule: rule, names: &names, childID: NestedIDs.child)
    }

    static func rows(_ members: [(key: String, value: JSONValue)], table: String, rule: NestingRule, source: String, line: Int64)
        -> [NestedRow]
    {
        var names = Flattener()
        return rows(members, table: table, rule: rule, source: source, line: line, names: &names)
    }

    /// The schemas the reader validates rows against, with each table's limits.
    func readerSchemas(_ schemas: [String: TableSchema]) -> [String: (TableSchema, RecordLimits)] {
        Dictionary(uniqueKeysWithValues: schemas.map { ($0.key, ($0.value, policy.recordLimits(table: $0.key))) })
    }

    func reloadSchemas(_ tables: [String]) async throws -> [String: TableSchema] {
        try await state.transaction { tx in
            var out: [String: TableSchema] = [:]
            for t in tables { if let s = try await tx.schema(t) { out[t] = s } }
            return out
        }
    }

    /// A flattener for rows with `budget`: objects flatten while the nesting budget lasts (and
    /// no deeper than the overflow depth).
    static func nestedFlattener(budget: Int, rule: NestingRule, overflowDepth: Int?, keys: KeyMap) -> Flattener {
        var f = Flattener(overflowDepth: overflowDepth, keys: keys, assigns: true)
        let depth = rule.flattenDepth(budget: budget)
        // Objects the budget stops stay JSON in their column; only the overflow depth sends them to overflow.
        if depth < f.maxDepth { f.deepToOverflow = false }
        f.maxDepth = depth
        return f
    }

    /// The fields of one row: the linking columns first, then the flattened members.
    static func fields(of row: NestedRow, with flattener: inout Flattener) -> [FlatField] {
        row.links + flattener.flatten(row.members)
    }

    /// Creates the tables the batch's rows need that do not exist yet, each from the types of
    /// its first rows (through the same plan, guard and policy as any new table).
    func ensureNestedTables(
        _ units: [NestedUnit], root: String, rule: NestingRule, schemas: inout [String: TableSchema], by actor: String
    ) async throws {
        var order: [String] = []
        var budgets: [String: Int] = [:]
        var parents: [String: String] = [:]
        var levels: [String: Int] = [:]
        var window: [String: [NestedRow]] = [:]
        for unit in units {
            guard let rows = unit.rows, rows.contains(where: { schemas[$0.table] == nil }) else { continue }
            // A child row's parent row is in the same record: its table is the child table's parent
            // (looked up only until each table's parent is known, not for every record).
            var tableOf: [String: String]? = nil
            for row in rows where schemas[row.table] == nil {
                if budgets[row.table] == nil {
                    order.append(row.table)
                    budgets[row.table] = row.budget
                    levels[row.table] = row.level
                }
                if parents[row.table] == nil, let parentID = row.parentID {
                    if tableOf == nil { tableOf = Dictionary(rows.map { ($0.id, $0.table) }, uniquingKeysWith: { a, _ in a }) }
                    if let p = tableOf?[parentID] { parents[row.table] = p }
                }
                if window[row.table, default: []].count < SchemaInference.firstSchemaWindow { window[row.table, default: []].append(row) }
            }
        }
        // Parents before their children (a child's key references its parent's table).
        order = order.enumerated().sorted { (levels[$0.element] ?? 0, $0.offset) < (levels[$1.element] ?? 0, $1.offset) }.map(\.element)
        for table in order {
            let found = try await state.transaction { tx in (try await tx.schema(table), try await tx.keyMap(table)) }
            if let existing = found.0 {
                schemas[table] = existing
                continue
            }
            var flattener = Self.nestedFlattener(
                budget: budgets[table] ?? rule.maxNesting, rule: rule, overflowDepth: policy.overflowDepth(table: root), keys: found.1)
            let inferred = firstWindow(window[table] ?? []) { Self.fields(of: $0, with: &flattener) }
            let keys = try await tableKeys(root: root, parent: parents[table])
            if let created = try await createTable(table, from: inferred, keys: flattener.added, tableKeys: keys, by: actor) {
                schemas[table] = created
            }
        }
    }

    /// The keys a new table of `root`'s tree is created with (D29): none unless the policy says
    /// `foreign_keys: true` and the warehouse is PostgreSQL. A child references its parent only
    /// when the parent has its UNIQUE `_mend_id` (a parent created before the option has none,
    /// and is never altered to get one).
    func tableKeys(root: String, parent: String?) async throws -> TableKeys? {
        guard policy.foreignKeys(table: root), warehouse.dialect == .postgres else { return nil }
        guard let parent else { return TableKeys(parent: nil) }
        let w = warehouse
        let keyed = try await state.transaction { tx in try await w.hasUniqueID(table: parent, in: tx.session) }
        return TableKeys(parent: keyed ? parent : nil)
    }

    /// What `mend ingest` notes when the policy asks for keys the warehouse does not build:
    /// `foreign_keys: true` on SQLite is accepted (one policy file serves both databases) and ignored.
    public func foreignKeysNote(table: String) -> String? {
        guard policy.foreignKeys(table: table), warehouse.dialect == .sqlite else { return nil }
        return "note: foreign_keys is PostgreSQL's only; on SQLite the child tables of \(table) are created without keys"
    }

    /// One transaction for the batch: the rows of every record that fits in all its tables,
    /// each drifting record parked whole, the records that are not objects quarantined, the
    /// counters (of records, under the root table) and the source position.
    func commitNested(
        table: String, source input: any RecordSource, read: ReadBatch, units: [NestedUnit], rule: NestingRule,
        schemas: [String: TableSchema], by actor: String
    ) async throws -> BatchResult {
        let source = input.name
        let offset = read.offset
        let keepsOffset = input.isResumable
        var index: [String: Int] = [:]
        var names: [String] = []
        var flatteners: [Flattener] = []
        var validators: [Validator] = []
        var columns: [[Column]] = []
        for (t, schema) in schemas.sorted(by: { $0.key < $1.key }) {
            index[t] = names.count
            names.append(t)
            flatteners.append(
                Self.nestedFlattener(
                    budget: rule.maxNesting, rule: rule, overflowDepth: policy.overflowDepth(table: table), keys: schema.keys))
            validators.append(Validator(schema: schema, limits: policy.recordLimits(table: t)))
            columns.append(schema.columns)
        }
        var levelSet = Array(repeating: false, count: names.count)
        // The reader's fits hold for a table whose schema has not changed since it read the batch.
        let ahead = names.map { read.nestedAgainst[$0] != nil && read.nestedAgainst[$0] == schemas[$0] }
        var rows: [[[SQLValue]]] = Array(repeating: [], count: names.count)
        var origins: [[Int]] = Array(repeating: [], count: names.count)
        var parked: [Park.Item] = []
        var quarantine = read.quarantined
        var result = BatchResult()
        var loadedUnits: [Int] = []
        var (lastName, lastIndex) = ("", 0)
        for (u, unit) in units.enumerated() {
            let p = read.records[u]
            if unit.encoded {
                // Its rows are in the batch's loads (`cut` checked the tables).
                loadedUnits.append(u)
                continue
            }
            if let shaped = unit.shaped {
                // Read by a learned shape: every row fits its table exactly (`cut` checked the tables).
                for (name, values) in shaped {
                    // Rows of one table follow each other, their names one string: compared before hashed.
                    if name != lastName {
                        guard let i = index[name] else {
                            throw PipelineError.state("a row read ahead for \(name) has no table in this batch: run the ingest again")
                        }
                        (lastName, lastIndex) = (name, i)
                    }
                    rows[lastIndex].append(values)
                    origins[lastIndex].append(u)
                }
                loadedUnits.append(u)
                continue
            }
            guard let unitRows = unit.rows else {
                quarantine.append(
                    QuarantinedRecord(
                        table: table, source: source, line: unit.line, raw: read.text(p), reason: "line \(unit.line): not a JSON object"))
                continue
            }
            var fitted: [(Int, [SQLValue])] = []
            var coerced = 0
            var drifted: (table: String, drifts: [Drift])? = nil
            var discarded: String? = nil
            for (j, row) in unitRows.enumerated() {
                if let i = index[row.table], ahead[i], case .row(let values, let c)? = p.nestedFits?[j] {
                    fitted.append((i, values))
                    coerced += c
                    continue
                }
                guard let i = index[row.table] else {
                    // Its table could not be created (no column to create it from).
                    drifted = (
                        row.table,
                        [
                            Drift(
                                kind: .unknownField, column: "", sourceKey: "", observed: nil, expected: nil,
                                reason: "table \(row.table) does not exist")
                        ]
                    )
                    break
                }
                if !levelSet[i] {
                    // The flattener's depth depends on the rows' budget (how far below the root the table is).
                    let keys = flatteners[i].keys
                    flatteners[i] = Self.nestedFlattener(
                        budget: row.budget, rule: rule, overflowDepth: policy.overflowDepth(table: table), keys: keys)
                    levelSet[i] = true
                }
                let fields = Self.fields(of: row, with: &flatteners[i])
                switch validators[i].fit(fields) {
                case .row(let values, let c):
                    fitted.append((i, values))
                    coerced += c
                case .drifts(var drifts):
                    // The table's discard contracts apply to its rows; a discarded row sets the whole record aside.
                    var validator: Validator? = validators[i]
                    switch applyContracts(table: row.table, drifts: &drifts, fields: fields, validator: &validator) {
                    case .load(let values, let c):
                        fitted.append((i, values))
                        coerced += c
                    case .quarantine(let why): discarded = row.table == table ? why : "in child table \(row.table): \(why)"
                    case .park: drifted = (row.table, drifts)
                    }
                }
                if drifted != nil || discarded != nil { break }
            }
            if let why = discarded {
                quarantine.append(QuarantinedRecord(table: table, source: source, line: unit.line, raw: read.text(p), reason: why))
                continue
            }
            if let d = drifted {
                parked.append(
                    Park.Item(
                        drifts: d.drifts,
                        record: ParkedRecord(
                            table: table, source: source, line: unit.line, record: read.text(p), drifts: d.drifts,
                            reason: Self.reason(d.table, root: table, d.drifts)),
                        incidentTable: d.table))
                continue
            }
            for (i, values) in fitted {
                rows[i].append(values)
                origins[i].append(u)
            }
            loadedUnits.append(u)
            result.coerced += Int64(coerced)
        }
        // New key paths get their columns in a short transaction first (as CommitBatch does).
        var addedKeys: [(String, [(key: String, column: String)])] = []
        for (i, name) in names.enumerated() where !flatteners[i].added.isEmpty { addedKeys.append((name, flatteners[i].added)) }
        if !addedKeys.isEmpty {
            let keys = addedKeys
            try await state.transaction { tx in for (t, k) in keys { try await tx.addKeys(t, k) } }
        }
        var overflow: [(String, [Drift])] = []
        for (i, name) in names.enumerated() {
            let o = try await unrecordedOverflow(validators[i].overflowed, table: name)
            if !o.isEmpty { overflow.append((name, o)) }
        }
        let toQuarantine = quarantine
        let inputCount = units.count + read.quarantined.count
        let notifier = self.notifier
        let batchRows = rows
        let batchOrigins = origins
        let batchColumns = columns
        let batchNames = names
        let recordOverflow = overflow
        let texts: @Sendable (Int) -> String = { u in read.text(read.records[u]) }
        // `cut` kept a record's shaped rows only where all their tables are as the reader saw them.
        let allShaped = !units.isEmpty && units.allSatisfy { $0.shaped != nil }
        let encodedLoads = !units.isEmpty && units.allSatisfy(\.encoded) ? read.nestedPrepared : [:]
        let lines = units.map(\.line)
        var rejected: [Int: (table: String, drift: Drift)] = [:]
        let coerced = result.coerced
        while true {
            let skip = rejected
            let parkedNow =
                parked
                + skip.sorted(by: { $0.key < $1.key }).map { (u, why) in
                    Park.Item(
                        drifts: [why.drift],
                        record: ParkedRecord(
                            table: table, source: source, line: lines[u], record: texts(u), drifts: [why.drift],
                            reason: Self.reason(why.table, root: table, [why.drift])),
                        incidentTable: why.table)
                }
            let loaded = loadedUnits.count - skip.count
            let work: @Sendable (StateTransaction) async throws -> (Int64, Set<Int64>) = { tx in
                var refused: [Int: (table: String, drift: Drift)] = [:]
                var childRows: [(String, Int)] = []
                // Rows the reader encoded and did not keep: sent as they are, parents first (names
                // sort so). A refusal cuts the batch again the general way (the caller's to do).
                for (i, name) in batchNames.enumerated() {
                    guard let load = encodedLoads[name] else { continue }
                    if name != table { childRows.append((name, load.rowCount)) }
                    do {
                        try await tx.session.load(table: name, columns: batchColumns[i], rows: [], prepared: load)
                    } catch let e as StoreError where !e.isOutage {
                        if case .staleSchema = e { throw e }
                        throw EncodedBatchRefused()
                    }
                }
                for (i, name) in batchNames.enumerated() where !batchRows[i].isEmpty {
                    var keep: [[SQLValue]] = []
                    var keepOrigins: [Int] = []
                    for (r, u) in batchOrigins[i].enumerated() where skip[u] == nil {
                        keep.append(batchRows[i][r])
                        keepOrigins.append(u)
                    }
                    if keep.isEmpty { continue }
                    // A child table counts its rows (in = loaded); the root counts records, below.
                    if name != table { childRows.append((name, keep.count)) }
                    // Encoded by the reader when every record of the batch was read by a shape (and
                    // so loads): the same rows in the same order, unless one was refused since.
                    let prepared = allShaped && skip.isEmpty ? read.nestedPrepared[name] : nil
                    for (r, message) in try await tx.session.loadIsolating(
                        table: name, columns: batchColumns[i], rows: keep, prepared: prepared)
                    {
                        let drift = Drift.rejectedByDatabase(message)
                        refused[keepOrigins[r]] = (name, drift)
                    }
                }
                // A record is one unit: its other rows must not stay loaded without it.
                if !refused.isEmpty { throw NestedRejection(units: refused) }
                var (opened, touched) = try await Park.park(parkedNow, table: table, actor: actor, notifier: notifier, in: tx)
                for (name, drifts) in recordOverflow {
                    if try await Engine.recordOverflow(drifts, table: name, actor: actor, in: tx) != nil { opened += 1 }
                }
                try await Park.quarantine(toQuarantine, table: table, actor: actor, in: tx)
                try await tx.addCounters(table, input: inputCount, loaded: loaded, coerced: Int(coerced))
                for (name, n) in childRows { try await tx.addCounters(name, input: n, loaded: n, coerced: 0) }
                try await tx.recordMinute(
                    table: table,
                    .init(
                        loaded: Int64(loaded), parked: Int64(parkedNow.count), quarantined: Int64(toQuarantine.count), coerced: coerced))
                if keepsOffset { try await tx.setOffset(source: source, table: table, offset) }
                try await input.commit(through: offset, in: tx)
                return (opened, touched)
            }
            do {
                let (opened, touched) =
                    try await commitOnce(work, source: input, table: table, through: offset, keepsOffset: keepsOffset, lines: read.lines)
                    ?? (0, [])
                result.opened = opened
                result.touched = touched
                result.loaded = Int64(loaded)
                result.parked = Int64(parkedNow.count)
                break
            } catch let e as NestedRejection {
                rejected.merge(e.units) { a, _ in a }
            }
        }
        for (name, drifts) in overflow { markOverflowRecorded(drifts, table: name) }
        result.quarantined = Int64(quarantine.count)
        result.addedKeys = !addedKeys.isEmpty
        return result
    }

    static func reason(_ driftTable: String, root: String, _ drifts: [Drift]) -> String {
        let text = drifts.map(\.reason).joined(separator: "; ")
        return driftTable == root ? text : "in child table \(driftTable): \(text)"
    }
}
