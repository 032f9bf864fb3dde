import Foundation
import MendCore
import MendStore

/// A record parsed and flattened, waiting for its batch to commit.
struct Pending: Sendable {
    var line: Int64
    /// The line's bytes in the batch's `raw` buffer: parked records keep their exact
    /// original text, and only parked ones pay for a String.
    var raw: Range<Int>
    var fields: [FlatField]
    /// Validation done ahead on the reader's task, against `ReadBatch.validatedAgainst`.
    var fit: Fit?
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

    func text(_ p: Pending) -> String { String(decoding: raw[p.raw], as: UTF8.self) }
}

/// The schema the reader validates against, set by the engine after each repair.
final class SchemaBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (TableSchema, Int)?
    func set(_ schema: TableSchema?, maxValueBytes: Int) {
        lock.lock()
        value = schema.map { ($0, maxValueBytes) }
        lock.unlock()
    }
    func get() -> (TableSchema, Int)? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// Parses and flattens the next batch of lines. It runs on its own task so that the
/// next batch is parsed while the current one is validated and written: parsing is
/// half of the hot path, and the database works in parallel on the other half.
///
/// Unchecked Sendable: the ingest loop hands it to exactly one task at a time and
/// awaits that task before starting the next, so its state is never shared.
final class BatchReader: @unchecked Sendable {
    private let reader: LineReader
    private var flattener = Flattener()
    private let table: String
    private let source: String
    private let size: Int
    let schema = SchemaBox()
    private var validator: Validator?

    private let warehouse: any Warehouse

    init(reader: LineReader, table: String, source: String, size: Int, warehouse: any Warehouse) {
        self.warehouse = warehouse
        self.reader = reader
        self.table = table
        self.source = source
        self.size = size
    }

    func next() -> ReadBatch {
        var b = ReadBatch()
        b.records.reserveCapacity(size)
        b.raw.reserveCapacity(size * 256)
        let reader = self.reader
        if let (current, maxBytes) = schema.get() {
            if validator?.schema != current { validator = Validator(schema: current, maxValueBytes: maxBytes) }
            b.validatedAgainst = current
        } else {
            validator = nil
        }
        while b.lines < size {
            var sawLine = false
            let more = reader.next { bytes in
                sawLine = true
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }  // blank line: not a record
                let line = reader.lineNumber
                do {
                    let value = try JSONParser.parse(bytes)
                    guard case .object(let members) = value else {
                        b.quarantined.append(
                            QuarantinedRecord(
                                table: table, source: source, line: line, raw: String(decoding: bytes, as: UTF8.self),
                                reason: "line \(line): a JSON \(value.kindName) is not a record; each line must be a JSON object"))
                        return
                    }
                    let start = b.raw.count
                    b.raw.append(contentsOf: bytes)
                    let fields = flattener.flatten(members)
                    let fit = validator?.fit(fields)
                    b.records.append(Pending(line: line, raw: start..<b.raw.count, fields: fields, fit: fit))
                } catch {
                    b.quarantined.append(
                        QuarantinedRecord(
                            table: table, source: source, line: line, raw: String(decoding: bytes, as: UTF8.self),
                            reason: "line \(line): not JSON: \(error)"))
                }
            }
            if !more {
                b.atEnd = true
                break
            }
            if sawLine { b.lines += 1 }
        }
        b.offset = StateStore.Offset(line: reader.lineNumber, byteOffset: reader.byteOffset, fingerprint: nil)
        if let schema = b.validatedAgainst {
            var rows: [[SQLValue]] = []
            rows.reserveCapacity(b.records.count)
            for p in b.records { if case .row(let r, _)? = p.fit { rows.append(r) } }
            if !rows.isEmpty { b.prepared = warehouse.prepareLoad(columns: schema.columns, rows: rows) }
        }
        return b
    }
}
