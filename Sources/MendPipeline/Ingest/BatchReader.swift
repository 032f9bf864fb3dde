import Foundation
import MendCore
import MendStore
import NIOConcurrencyHelpers

/// A record parsed and flattened, waiting for its batch to commit.
struct Pending: Sendable {
    var line: Int64
    /// The reader's count of the record, from 1 at the source's start: what
    /// `RecordSource.recordSource(counted:)` names its source by (0: the source's `name`).
    var counted: Int64 = 0
    /// The line's bytes in the batch's `raw` buffer: parked records keep their exact
    /// original text, and only parked ones pay for a String.
    var raw: Range<Int>
    /// Nil when the record took the shape fast path (`Validator.fastRow`): it went from
    /// bytes to row, and `ReadBatch.fields(_:)` rebuilds the fields if ever needed.
    var fields: [FlatField]?
    /// Validation done ahead on the reader's task, against `ReadBatch.validatedAgainst`.
    var fit: Fit?
    /// With child tables: the record cut into its rows on the reader's task (Nested.swift).
    var nested: [NestedRow]? = nil
    /// With child tables: each row's fit, validated ahead against `ReadBatch.nestedAgainst`
    /// (nil where its table was unknown, or where the reader left it to the commit).
    var nestedFits: [Fit?]? = nil
    /// With child tables: the record's rows straight from its bytes, by a learned shape
    /// (NestedShape.swift), valid against `ReadBatch.nestedAgainst`; `nested` is nil then.
    var shaped: [(table: String, values: [SQLValue])]? = nil
    /// With child tables: read by a learned shape, its rows encoded by the reader into the batch's
    /// `nestedPrepared` and not kept (a batch has all its records encoded, or none).
    var encoded = false
}

extension Pending {
    /// A record read by a learned shape.
    init(line: Int64, counted: Int64, raw: Range<Int>, taken: NestedPart.Taken) {
        self.init(line: line, counted: counted, raw: raw, fields: nil, fit: nil)
        switch taken {
        case .encoded: encoded = true
        case .rows(let rows): shaped = rows
        }
    }
}

/// One batch of input: records, lines that are not records, and where it ends.
struct ReadBatch: Sendable {
    var records: [Pending] = []
    var quarantined: [QuarantinedRecord] = []
    var lines = 0
    var offset = StateStore.Offset(line: 0, byteOffset: 0, fingerprint: nil)
    var atEnd = false
    /// All record lines of the batch, back to back (see `Pending.raw`).
    var raw: [UInt8] = []
    /// The schema the `fit`s were computed against; the engine re-validates if the
    /// table changed since (a repair landed while this batch was read).
    var validatedAgainst: TableSchema?
    /// The rows of the records whose precomputed fit is a row, in order, encoded ahead
    /// for the database's bulk load (PostgreSQL COPY); the engine uses it only when it
    /// loads exactly those rows.
    var prepared: PreparedLoad?
    /// The fields the reader's validators sent to the overflow column, by source key.
    var overflowed: [String: Drift] = [:]
    /// The policy's overflow depth for this table, for records flattened again.
    var overflowDepth: Int?
    /// With child tables: the schemas the rows' `nestedFits` were computed against.
    var nestedAgainst: [String: TableSchema] = [:]
    /// With child tables, when every record was read by a learned shape: each table's rows of
    /// the batch, in order, encoded for the bulk load against `nestedAgainst` (the only copy
    /// of the rows when the records are `encoded`).
    var nestedPrepared: [String: PreparedLoad] = [:]

    func text(_ p: Pending) -> String { String(decoding: raw[p.raw], as: UTF8.self) }

    /// The record's flattened fields, with the caller's flattener (its key cache saves the
    /// Unicode work of normalizing every key again when many records are parsed again). A
    /// fast-path record is parsed again (only when the table changed under the batch, which is
    /// rare); `again` parses any record again, to flatten it against the caller's key map.
    func fields(_ p: Pending, with flattener: inout Flattener, again: Bool = false) -> [FlatField] {
        if !again, let f = p.fields { return f }
        let value = raw[p.raw].withUnsafeBufferPointer { try? JSONParser.parse($0) }
        guard case .object(let members)? = value else { return [] }
        return flattener.flatten(members)
    }
}

/// With child tables, the schemas of the record tree's tables the reader validates rows
/// against (set by the engine after tables are created or repaired), and, per parallel part,
/// a flattener and a validator per table (each part touches only its own).
final class NestedSchemaBox: Sendable {
    private let value = NIOLockedValueBox<[String: (TableSchema, RecordLimits)]>([:])
    func set(_ schemas: [String: (TableSchema, RecordLimits)]) { value.withLockedValue { $0 = schemas } }
    func get() -> [String: (TableSchema, RecordLimits)] { value.withLockedValue { $0 } }
}

/// How the reader cuts records into rows when a table's lists load as child tables.
struct NestedCut: Sendable {
    /// Cuts a record into its rows; the third argument is the part's flattener, whose cache
    /// normalizes the keys it walks.
    var rows: @Sendable ([(key: String, value: JSONValue)], Int64, inout Flattener) -> [NestedRow]
    /// A flattener for a table's rows that proposes new key paths without assigning them (the
    /// commit assigns, in order).
    var flattener: @Sendable (NestedRow, TableSchema) -> Flattener
    /// The root row's id for the record at a line, from its natural key when it has one.
    var rootID: @Sendable (Int64, String?) -> String
    var childID: @Sendable (String, String, Int) -> String
    /// The policy's `primary_key` paths for the root table.
    var primaryKey: [String]
}

/// One part's flatteners, validators and learned record shapes by table; used by one parallel
/// iteration at a time.
final class NestedPart: @unchecked Sendable {
    var index: [String: Int] = [:]
    var names: [String] = []
    var flatteners: [Flattener] = []
    var validators: [Validator] = []
    var shapes = NestedShapes()
    /// With one parsing part, how many records per batch that miss every learned shape are
    /// validated ahead to learn one from (the rest are validated at the commit).
    static let learnPerBatch = 32
    /// Records of this batch that may still be validated ahead to learn a shape from, when the
    /// reader otherwise leaves validation to the commit (one parsing part).
    var learning = 0
    /// This batch's rows read by shape, encoded for the bulk load per table (a validator's
    /// index), each made at its table's first row: `takeTuples()` hands them over.
    private var tuples: [Int: CopyTuples] = [:]
    /// Tables whose columns the warehouse has no such encoding for (and SQLite, which has none).
    private var unencodable = Set<Int>()
    private var warehouse: (any Warehouse)?
    /// Whether rows read by shape are still encoded in this batch: not once a record went the
    /// general way, since the batch then loads from values (the records encoded before that are
    /// read again as values, and the later ones need not be).
    private var encoding = false
    /// Where each table touched by the record being encoded stood before it: undone on a miss.
    private var marks: [(table: Int, mark: Int, rows: Int)] = []

    /// Forgets the tables whose schema changed since the last batch (once per batch, so rows
    /// are not compared schema by schema), and the shapes learned against them. Rows read by
    /// shape are encoded for `warehouse`'s bulk load.
    func prepare(_ schemas: [String: (TableSchema, RecordLimits)], learning: Int, warehouse: any Warehouse) {
        for (table, i) in index where schemas[table]?.0 != validators[i].schema {
            index[table] = nil
            shapes.removeAll()
        }
        self.learning = learning
        self.warehouse = warehouse
        tuples.removeAll()
        unencodable.removeAll()
        encoding = true
    }

    /// What a record read by a learned shape became.
    enum Taken {
        /// Its rows are in this part's tuples.
        case encoded
        case rows([(table: String, values: [SQLValue])])
    }

    /// The record by a learned shape, its rows encoded while the batch is (`encoding`) and
    /// every one of them has an encoding; nil when no shape holds it.
    func take(_ bytes: UnsafeBufferPointer<UInt8>, line: Int64, cut: NestedCut) -> Taken? {
        guard let rows = decode(bytes, line: line, cut: cut) else { return nil }
        if encoding, encode(rows, bytes: bytes) { return .encoded }
        return .rows(rows.map { (names[$0.table], $0.sqlValues(bytes)) })
    }

    /// The record's rows by a learned shape as values, or nil.
    func shaped(_ bytes: UnsafeBufferPointer<UInt8>, line: Int64, cut: NestedCut) -> [(table: String, values: [SQLValue])]? {
        decode(bytes, line: line, cut: cut).map { rows in rows.map { (names[$0.table], $0.sqlValues(bytes)) } }
    }

    /// A record of this batch went the general way: the rest keep their values (`encoding`).
    func wentGeneral() { encoding = false }

    private func decode(_ bytes: UnsafeBufferPointer<UInt8>, line: Int64, cut: NestedCut) -> [ShapedRow]? {
        guard !shapes.isEmpty else { return nil }
        return shapes.rows(bytes, rootID: { cut.rootID(line, $0) }, childID: cut.childID)
    }

    /// Appends a record's rows to their tables' tuples, all or none.
    private func encode(_ rows: [ShapedRow], bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        marks.removeAll(keepingCapacity: true)
        for row in rows {
            let t = row.table
            if tuples[t] == nil {
                guard !unencodable.contains(t), let writer = warehouse?.tupleWriter(columns: validators[t].schema.columns) else {
                    unencodable.insert(t)
                    return undo()
                }
                tuples[t] = writer
            }
            guard let mark = tuples[t]?.mark, tuples[t]?.append(row.values, bytes: bytes) == true else { return undo() }
            if let m = marks.firstIndex(where: { $0.table == t }) {
                marks[m].rows += 1
            } else {
                marks.append((t, mark, 1))
            }
        }
        return true
    }

    private func undo() -> Bool {
        for (t, mark, rows) in marks { tuples[t]?.rollback(to: mark, rows: rows) }
        return false
    }

    /// This batch's encoded rows by table name (those with rows), and a fresh start.
    func takeTuples() -> [(table: String, load: PreparedLoad)] {
        var out: [(table: String, load: PreparedLoad)] = []
        var taken = tuples
        tuples = [:]
        for t in Array(taken.keys) {
            // Taken out, so each buffer has one owner and gets its trailer in place.
            guard let tuple = taken.removeValue(forKey: t), tuple.rowCount > 0 else { continue }
            out.append((names[t], (consume tuple).finished()))
        }
        return out
    }

    /// Validates the rows whose table the reader knows; a row with a key path new to its table,
    /// or of a table at its column budget (whose overflow the commit records), is left to the commit.
    /// When every row fits exactly, the record's shape is learned from `members`.
    func fits(
        _ rows: [NestedRow], members: [(key: String, value: JSONValue)], schemas: [String: (TableSchema, RecordLimits)],
        cut: NestedCut
    ) -> [Fit?] {
        var all: [[FlatField]] = []
        var tables: [Int] = []
        var exact = true
        let fits: [Fit?] = rows.map { row in
            guard let (schema, limits) = schemas[row.table], schema.columns.count < limits.maxColumns,
                schema.position(of: Overflow.column) == nil
            else {
                exact = false
                return nil
            }
            let i: Int
            if let known = index[row.table] {
                i = known
            } else {
                i = flatteners.count
                index[row.table] = i
                names.append(row.table)
                flatteners.append(cut.flattener(row, schema))
                validators.append(Validator(schema: schema, limits: limits))
            }
            let fields = row.links + flatteners[i].flatten(row.members)
            if fields.contains(where: \.isNew) {
                exact = false
                return nil
            }
            let fit = validators[i].fit(fields)
            guard case .row(_, let coerced) = fit else {
                exact = false
                return nil
            }
            if coerced > 0 { exact = false }
            all.append(fields)
            tables.append(i)
            return fit
        }
        if exact {
            shapes.learn(members, rows: rows, fields: all, tables: tables, validators: validators, primaryKey: cut.primaryKey)
        }
        return fits
    }
}

/// The schema the reader validates against, set by the engine after each repair.
final class SchemaBox: Sendable {
    private let value = NIOLockedValueBox<(TableSchema, RecordLimits)?>(nil)
    func set(_ schema: TableSchema?, limits: RecordLimits) {
        value.withLockedValue { $0 = schema.map { ($0, limits) } }
    }
    func get() -> (TableSchema, RecordLimits)? { value.withLockedValue { $0 } }
}

/// Parses and flattens the next batch of lines. It runs on its own task so that the
/// next batch is parsed while the current one is validated and written: parsing is
/// half of the hot path, and the database works in parallel on the other half.
///
/// Unchecked Sendable: the ingest loop hands it to exactly one read at a time and
/// awaits that read before starting the next, so its state is never shared (and the reads
/// run on one serial queue).
final class BatchReader<Source: RecordSource>: @unchecked Sendable {
    /// Generic, not `any RecordSource`: the per-line read must inline (through an existential
    /// the line closure is not inlined and its captures are boxed: 500k records to PostgreSQL
    /// took 16 % longer).
    private let reader: Source
    private let table: String
    private let size: Int
    /// Record bytes at which a batch is cut even short of `size` (its last record may pass it).
    private let maxBytes: Int
    /// The first batch holds at least this many records: a new table's first schema is
    /// inferred from a fixed window, not from whatever the batch size happens to be.
    private var firstBatchMinimum: Int
    let schema = SchemaBox()
    private let warehouse: any Warehouse
    /// One flattener and validator per parallel part: their caches are not shared. The
    /// flatteners do not assign columns to new key paths: the batch commit does, in order.
    private var flatteners: [Flattener]
    private var validators: [Validator?]
    /// Parse in this many parts at once. SQLite runs in this process, so it uses every
    /// core (at most 4); PostgreSQL often runs on the same machine and needs a core for
    /// COPY, so one part unless MEND_PARSE_THREADS says otherwise (a remote server).
    private let parts: Int
    /// Parts for the work nothing else runs beside: a new table's first window, and a new tree's
    /// first batch read again by shape once its tables exist (`reshape`). Every core (at most 4)
    /// unless MEND_PARSE_THREADS says otherwise.
    private let idleParts: Int
    private let overflowDepth: Int?
    /// Cuts records into rows (`nested_lists: tables`): a record of a learned shape goes from
    /// bytes to rows here; the others are cut here and flattened and validated at the commit,
    /// table by table (or here, when parsing runs in parts, or to learn a shape from).
    private let cut: NestedCut?
    /// With `cut`: the tables' schemas rows are validated against ahead, and each part's state.
    let nestedSchemas = NestedSchemaBox()
    private let nestedParts: [NestedPart]
    /// `next()` blocks (the source's reads, the parts in `concurrentPerform`, and with child
    /// tables the rows' flattening and validation): it runs here, not on the cooperative pool.
    private let queue = DispatchQueue(label: "mend.batch-reader")

    init(
        reader: Source, table: String, size: Int, maxBytes: Int = Engine.defaultBatchBytes, firstBatchMinimum: Int = 0,
        overflowDepth: Int? = nil,
        warehouse: any Warehouse, cut: NestedCut? = nil
    ) {
        self.cut = cut
        self.overflowDepth = overflowDepth
        self.firstBatchMinimum = firstBatchMinimum
        self.warehouse = warehouse
        self.reader = reader
        self.table = table
        self.size = size
        self.maxBytes = max(1, maxBytes)
        let env = ProcessInfo.processInfo.environment["MEND_PARSE_THREADS"].flatMap(Int.init)
        let byDialect = warehouse.dialect == .sqlite ? ProcessInfo.processInfo.activeProcessorCount : 1
        parts = max(1, min(4, env ?? byDialect))
        idleParts = env == nil ? max(parts, min(4, ProcessInfo.processInfo.activeProcessorCount)) : parts
        flatteners = Array(repeating: Flattener(overflowDepth: overflowDepth), count: idleParts)
        nestedParts = (0..<idleParts).map { _ in NestedPart() }
        validators = Array(repeating: nil, count: idleParts)
    }

    /// Starts reading the next batch on the reader's own queue and returns at once: the
    /// caller commits the batch it holds meanwhile, and awaits this when it needs the next.
    func readAhead() -> Task<ReadBatch, Never> {
        let queue = self.queue
        return Task.detached { await offThePool(on: queue) { self.next() } }
    }

    /// Reads the lines sequentially (cheap), then parses, flattens, validates and encodes
    /// them in `parts` slices at once: the expensive half of the hot path uses every core.
    func next() -> ReadBatch {
        var b = ReadBatch()
        b.overflowDepth = overflowDepth
        let size = max(self.size, firstBatchMinimum)
        // The schema's inference window is read whole, whatever its bytes.
        let minimum = firstBatchMinimum
        firstBatchMinimum = 0
        b.raw.reserveCapacity(min(size * 256, maxBytes))
        let reader = self.reader
        var current: TableSchema? = nil
        if let (schema, limits) = schema.get() {
            for k in validators.indices where validators[k]?.schema != schema {
                validators[k] = Validator(schema: schema, limits: limits)
                flatteners[k].keys = schema.keys
            }
            current = schema
        } else {
            for k in validators.indices {
                validators[k] = nil
                flatteners[k].keys = KeyMap()
            }
        }
        b.validatedAgainst = current
        var spans: [(line: Int64, counted: Int64, range: Range<Int>)] = []
        spans.reserveCapacity(size)
        // Line numbers by counting: asking the source per line would cost on the hot path.
        let firstLine = reader.position.line
        while b.lines < size, b.raw.count < maxBytes || b.lines < minimum {
            var sawLine = false
            let more = reader.next { bytes in
                sawLine = true
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }  // blank line: not a record
                let start = b.raw.count
                b.raw.append(contentsOf: bytes)
                let counted = firstLine + Int64(b.lines) + 1
                spans.append((reader.recordLine(counted: counted), counted, start..<b.raw.count))
            }
            if !more {
                b.atEnd = true
                break
            }
            if sawLine { b.lines += 1 }
        }
        b.offset = reader.position

        // A new table's first window runs alone: no COPY runs beside it yet, so it takes every core.
        let n = spans.count <= 256 ? 1 : (minimum > 0 ? idleParts : parts)
        let chunk = (spans.count + n - 1) / max(n, 1)
        // Per part: its records and the lines that are not records, each in order.
        var recordParts = [[Pending]](repeating: [], count: n)
        var quarantineParts = [[QuarantinedRecord]](repeating: [], count: n)
        var encoded = [PreparedLoad?](repeating: nil, count: n)
        let (table, warehouse, cut) = (self.table, self.warehouse, self.cut)
        let nestedSchemas = cut == nil ? [:] : self.nestedSchemas.get()
        b.nestedAgainst = nestedSchemas.mapValues(\.0)
        // Rows are validated ahead when the reader parses in parallel parts (SQLite, or
        // MEND_PARSE_THREADS): with one part it would take on the commit's half of the work in
        // series, so then only a few records per batch are, to learn shapes from.
        let nestedParts = self.nestedParts
        let validatesAhead = parts > 1
        for part in nestedParts {
            part.prepare(nestedSchemas, learning: validatesAhead ? Int.max : NestedPart.learnPerBatch, warehouse: warehouse)
        }
        // Encode for the bulk load here only when parsing runs in parallel; with one
        // parsing thread the reader is the bottleneck and the engine, mostly waiting on
        // the database, encodes faster (measured: 5.4 s vs 6.6 s median for 1M on PostgreSQL).
        let encodeAhead = n > 1
        b.raw.withUnsafeBufferPointer { raw in
            recordParts.withUnsafeMutableBufferPointer { out in
                quarantineParts.withUnsafeMutableBufferPointer { outQ in
                    encoded.withUnsafeMutableBufferPointer { enc in
                        flatteners.withUnsafeMutableBufferPointer { fl in
                            validators.withUnsafeMutableBufferPointer { va in
                                // Each part k touches only slot k of each buffer.
                                let shared = Unchecked((raw, out, outQ, enc, fl, va, spans))
                                DispatchQueue.concurrentPerform(iterations: n) { k in
                                    let (raw, out, outQ, enc, fl, va, spans) = shared.value
                                    let lo = k * chunk
                                    let hi = min(spans.count, lo + chunk)
                                    guard lo < hi else { return }
                                    var local: [Pending] = []
                                    local.reserveCapacity(hi - lo)
                                    var quarantined: [QuarantinedRecord] = []
                                    var rows: [[SQLValue]] = []
                                    for (line, counted, range) in spans[lo..<hi] {
                                        let bytes = UnsafeBufferPointer(rebasing: raw[range])
                                        if let cut, let taken = nestedParts[k].take(bytes, line: line, cut: cut) {
                                            local.append(Pending(line: line, counted: counted, raw: range, taken: taken))
                                            continue
                                        }
                                        if let row = va[k]?.fastRow(bytes) {
                                            rows.append(row)
                                            local.append(
                                                Pending(line: line, counted: counted, raw: range, fields: nil, fit: .row(row, coerced: 0)))
                                            continue
                                        }
                                        do {
                                            let value = try JSONParser.parse(bytes)
                                            guard case .object(let members) = value else {
                                                quarantined.append(
                                                    QuarantinedRecord(
                                                        table: table, source: reader.recordSource(counted: counted), line: line,
                                                        raw: String(decoding: bytes, as: UTF8.self),
                                                        reason:
                                                            "line \(line): a JSON \(value.kindName) is not a record; each line must be a JSON object"
                                                    ))
                                                continue
                                            }
                                            if let cut {
                                                let rows = cut.rows(members, line, &fl[k])
                                                let part = nestedParts[k]
                                                var fits: [Fit?]? = nil
                                                if part.learning > 0 {
                                                    part.learning -= 1
                                                    fits = part.fits(rows, members: members, schemas: nestedSchemas, cut: cut)
                                                    // Learned from, it takes its own shape: the batch can stay all encoded.
                                                    if let taken = part.take(bytes, line: line, cut: cut) {
                                                        local.append(Pending(line: line, counted: counted, raw: range, taken: taken))
                                                        continue
                                                    }
                                                }
                                                part.wentGeneral()
                                                local.append(
                                                    Pending(
                                                        line: line, counted: counted, raw: range, fields: nil, fit: nil, nested: rows,
                                                        nestedFits: fits))
                                                continue
                                            }
                                            let fields = fl[k].flatten(members)
                                            let fit = va[k]?.fit(fields)
                                            if case .row(let r, let coerced)? = fit {
                                                rows.append(r)
                                                if coerced == 0 { va[k]?.learnShape(members: members, fields: fields) }
                                            }
                                            local.append(Pending(line: line, counted: counted, raw: range, fields: fields, fit: fit))
                                        } catch {
                                            quarantined.append(
                                                NotJSON.record(
                                                    bytes, table: table, source: reader.recordSource(counted: counted), line: line, error))
                                        }
                                    }
                                    if encodeAhead, let columns = va[k]?.schema.columns, !rows.isEmpty {
                                        enc[k] = warehouse.prepareLoad(columns: columns, rows: rows)
                                    }
                                    out[k] = local
                                    outQ[k] = quarantined
                                }
                            }
                        }
                    }
                }
            }
        }
        for k in validators.indices where validators[k]?.overflowed.isEmpty == false {
            b.overflowed.merge(validators[k]?.overflowed ?? [:]) { a, _ in a }
            validators[k]?.overflowed = [:]
        }
        // The first part's arrays are moved in, not copied record by record (the only part with
        // one parsing thread).
        swap(&b.records, &recordParts[0])
        swap(&b.quarantined, &quarantineParts[0])
        for k in 1..<n {
            b.records.append(contentsOf: recordParts[k])
            b.quarantined.append(contentsOf: quarantineParts[k])
        }
        if current != nil {
            let pieces = encoded.compactMap { $0 }
            if !pieces.isEmpty { b.prepared = PreparedLoad.concatenating(pieces) }
        }
        if let cut { finishNested(&b, cut: cut) }
        return b
    }
}

extension BatchReader {
    /// Reads a batch again by shape once its tables exist. A new tree's first batch is cut whole
    /// (its tables' types are inferred from it); read again against the tables it created, its
    /// records go from bytes to rows, in parts on every core (nothing else runs yet), rather than
    /// each row through the commit's flattening and validation.
    func reshape(_ batch: ReadBatch) async -> ReadBatch {
        await offThePool(on: queue) { self.reshaped(batch) }
    }

    private func reshaped(_ batch: ReadBatch) -> ReadBatch {
        guard let cut else { return batch }
        var b = batch
        let schemas = nestedSchemas.get()
        b.nestedAgainst = schemas.mapValues(\.0)
        let nestedParts = self.nestedParts
        for part in nestedParts { part.prepare(schemas, learning: NestedPart.learnPerBatch, warehouse: warehouse) }
        let n = b.records.count <= 256 ? 1 : idleParts
        let chunk = (b.records.count + n - 1) / n
        let raw = b.raw
        raw.withUnsafeBufferPointer { raw in
            b.records.withUnsafeMutableBufferPointer { records in
                flatteners.withUnsafeMutableBufferPointer { fl in
                    // Each part k touches only its slice of the records and slot k of the flatteners.
                    let shared = Unchecked((raw, records, fl))
                    DispatchQueue.concurrentPerform(iterations: n) { k in
                        let (raw, records, fl) = shared.value
                        let part = nestedParts[k]
                        for i in (k * chunk)..<min(records.count, (k + 1) * chunk) {
                            var p = records[i]
                            let bytes = UnsafeBufferPointer(rebasing: raw[p.raw])
                            if let taken = part.take(bytes, line: p.line, cut: cut) {
                                p = Pending(line: p.line, counted: p.counted, raw: p.raw, taken: taken)
                            } else if part.learning > 0, case .object(let members)? = try? JSONParser.parse(bytes) {
                                part.learning -= 1
                                let rows = cut.rows(members, p.line, &fl[k])
                                p.nested = rows
                                p.nestedFits = part.fits(rows, members: members, schemas: schemas, cut: cut)
                                // Learned from, it takes its own shape: the batch can stay all encoded.
                                if let taken = part.take(bytes, line: p.line, cut: cut) {
                                    p = Pending(line: p.line, counted: p.counted, raw: p.raw, taken: taken)
                                } else {
                                    part.wentGeneral()
                                }
                            } else {
                                part.wentGeneral()
                                continue
                            }
                            records[i] = p
                        }
                    }
                }
            }
        }
        finishNested(&b, cut: cut)
        return b
    }

    /// Gathers the rows the parts encoded. A batch loads from them only when every record was
    /// encoded; otherwise the encoded records are read by shape again, as values (or, should no
    /// shape hold one now, the commit cuts it whole), and the batch is encoded from its values.
    private func finishNested(_ b: inout ReadBatch, cut: NestedCut) {
        let encoded = nestedParts.map { $0.takeTuples() }
        if !b.records.isEmpty, b.records.allSatisfy(\.encoded) {
            // Parts in order, so each table's rows stay in the records' order.
            var byTable: [String: [PreparedLoad]] = [:]
            for part in encoded { for (table, load) in part { byTable[table, default: []].append(load) } }
            let loads = byTable.compactMapValues { PreparedLoad.concatenating($0) }
            if loads.count == byTable.count {
                b.nestedPrepared = loads
                return
            }
        }
        let parts = nestedParts
        b.raw.withUnsafeBufferPointer { raw in
            for i in b.records.indices where b.records[i].encoded {
                let p = b.records[i]
                let bytes = UnsafeBufferPointer(rebasing: raw[p.raw])
                b.records[i].encoded = false
                b.records[i].shaped = parts.lazy.compactMap { $0.shaped(bytes, line: p.line, cut: cut) }.first
            }
        }
        b.nestedPrepared = Self.prepareShaped(b.records, schemas: b.nestedAgainst, warehouse: warehouse)
    }

    /// Each table's rows encoded for the bulk load, when every record was read by a shape:
    /// the commit then only sends them (it encodes itself when any record went the general way).
    static func prepareShaped(_ records: [Pending], schemas: [String: TableSchema], warehouse: any Warehouse) -> [String: PreparedLoad] {
        guard !records.isEmpty, records.allSatisfy({ $0.shaped != nil }) else { return [:] }
        // A tree has a few tables, and a table's rows share one name string: compared, not hashed.
        var rows: [(table: String, rows: [[SQLValue]])] = []
        for p in records {
            for (table, values) in p.shaped ?? [] {
                if let i = rows.firstIndex(where: { $0.table == table }) {
                    rows[i].rows.append(values)
                } else {
                    rows.append((table, [values]))
                }
            }
        }
        var out: [String: PreparedLoad] = [:]
        for (table, r) in rows {
            guard let columns = schemas[table]?.columns, let load = warehouse.prepareLoad(columns: columns, rows: r) else { continue }
            out[table] = load
        }
        return out
    }
}

enum NotJSON {
    /// A line that is not JSON, kept exactly: text as it came, or, when it is not even
    /// UTF-8 (which no text column can hold), its bytes in base64 behind a `base64:` prefix.
    static func record(
        _ bytes: UnsafeBufferPointer<UInt8>, table: String, source: String, line: Int64, _ error: any Error
    ) -> QuarantinedRecord {
        if let text = String(validating: bytes, as: UTF8.self) {
            return QuarantinedRecord(table: table, source: source, line: line, raw: text, reason: "line \(line): not JSON: \(error)")
        }
        return QuarantinedRecord(
            table: table, source: source, line: line, raw: "base64:" + Data(bytes).base64EncodedString(),
            reason: "line \(line): not UTF-8 (its bytes are kept as base64): \(error)")
    }
}

/// Hands non-Sendable buffers to `concurrentPerform`; safe because each iteration
/// touches only its own slot, and the call returns only when all iterations are done.
private struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
