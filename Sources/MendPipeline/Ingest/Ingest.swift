import Foundation
import MendCore
import MendStore
import NIOConcurrencyHelpers

/// What `ingest` reports.
public struct IngestSummary: Sendable, Codable, Equatable {
    public var table: String
    public var lines: Int64 = 0
    public var loaded: Int64 = 0
    public var parked: Int64 = 0
    public var quarantined: Int64 = 0
    public var coerced: Int64 = 0
    public var skippedByResume: Int64 = 0
    public var repaired: Int64 = 0
    public var incidentsOpened: Int64 = 0
    public var pendingApproval: [Int64] = []
    /// Parked records that repairs during this run replayed and loaded (or quarantined).
    /// `loaded`, `parked` and `quarantined` are what happened on arrival; these say what
    /// the repairs did next, so a reader sees the state after repair.
    public var replayedLoaded: Int64 = 0
    public var replayedQuarantined: Int64 = 0
    /// Records of the table still parked when the run ended (this run's and earlier ones').
    public var stillParked: Int64 = 0
    public var seconds: Double = 0

    public init(table: String) { self.table = table }

    /// Adds another run's counts: a streamed body or a stream's batches answer as one.
    public mutating func add(_ s: IngestSummary) {
        lines += s.lines
        loaded += s.loaded
        parked += s.parked
        quarantined += s.quarantined
        coerced += s.coerced
        skippedByResume += s.skippedByResume
        repaired += s.repaired
        incidentsOpened += s.incidentsOpened
        pendingApproval += s.pendingApproval.filter { !pendingApproval.contains($0) }
        replayedLoaded += s.replayedLoaded
        replayedQuarantined += s.replayedQuarantined
        stillParked = s.stillParked
        seconds += s.seconds
    }
}

/// A flat ingest whose reader is already on its first batch (`Engine.startIngest`): parsed,
/// flattened and validated ahead on the reader's queue while the caller still commits
/// something else (`mend consume` starts the next poll's table shares while the current one
/// commits). `Engine.ingest(started:)` commits it; dropped, it commits nothing.
public struct StartedIngest<Source: RecordSource>: Sendable {
    public let source: Source
    let table: String
    let actor: String
    let skippedByResume: Int64
    let started: Date
    let batches: BatchReader<Source>
    let first: FirstRead
}

/// The first batch's read, handed over once: a task keeps its value while anything refers to
/// it, and a `StartedIngest` lives as long as its run, so the first batch (the inference window
/// of a new table) stayed in memory to the end: 20 MB more peak on the 1,000,000-record bench.
final class FirstRead: Sendable {
    private let task: NIOLockedValueBox<Task<ReadBatch, Never>?>
    init(_ task: Task<ReadBatch, Never>) { self.task = NIOLockedValueBox(task) }
    func take() -> Task<ReadBatch, Never>? {
        task.withLockedValue { t in
            defer { t = nil }
            return t
        }
    }
}

/// The ingest loop: read a batch (parsed ahead on its own task), commit it, and when
/// records were parked let the repair loop run before the next batch.
extension Engine {
    /// A JSON Lines file, or standard input for "-". `sourceName` names the source in
    /// parked records and offsets (default: the file's absolute path).
    public func ingest(
        path: String, table given: String, resume: Bool = true, sourceName: String? = nil,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> IngestSummary {
        let table = Identifier.canonical(given)
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        return try await ingest(source: try FileSource(path: path, name: sourceName), table: table, resume: resume, progress: progress)
    }

    /// Records from any source. With `resume`, a resumable source skips what an earlier
    /// run committed; each batch commits its end position with its rows. `actor` names who
    /// sent them in the audit (default: the engine's actor, e.g. `mend:alice` for the CLI).
    public func ingest<Source: RecordSource>(
        source: Source, table given: String, resume: Bool = true, actor who: String? = nil,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> IngestSummary {
        let table = Identifier.canonical(given)
        let actor = who ?? self.actor
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        try await bootstrap()
        if let rule = policy.nesting(table: table) {
            return try await ingestNested(source: source, table: table, rule: rule, resume: resume, actor: actor, progress: progress)
        }
        let started = Date()
        var skipped: Int64 = 0
        if resume, source.isResumable {
            let sourceName = source.name
            if let off = try await state.transaction({ tx in try await tx.offset(source: sourceName, table: table) }) {
                source.resume(from: off)
                skipped = off.line
            }
        }
        let schema = try await state.transaction { tx in try await tx.schema(table) }
        return try await run(
            begin(source: source, table: table, actor: actor, schema: schema, skipped: skipped, at: started), schema: schema,
            progress: progress)
    }

    /// Starts reading a flat ingest's first batch and returns at once; `ingest(started:)`
    /// commits it. The reader validates against the schema this engine last saw for the table
    /// (read once otherwise): when the table changed meanwhile, the commit validates again.
    /// Nil for a table with child tables (`ingest(source:)` reads those itself).
    public func startIngest<Source: RecordSource>(source: Source, table given: String, actor who: String? = nil) async throws
        -> StartedIngest<Source>?
    {
        let table = Identifier.canonical(given)
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        if policy.nesting(table: table) != nil { return nil }
        try await bootstrap()
        let schema: TableSchema?
        if let known = knownSchemas[table] {
            schema = known
        } else {
            schema = try await state.transaction { tx in try await tx.schema(table) }
        }
        return begin(source: source, table: table, actor: who ?? actor, schema: schema, skipped: 0, at: Date())
    }

    /// Commits an ingest `startIngest` started, against the table's schema as it is now.
    public func ingest<Source: RecordSource>(started: StartedIngest<Source>, progress: (@Sendable (Int64) -> Void)? = nil)
        async throws -> IngestSummary
    {
        let table = started.table
        let schema = try await state.transaction { tx in try await tx.schema(table) }
        started.batches.schema.set(schema, limits: policy.recordLimits(table: table))
        return try await run(started, schema: schema, progress: progress)
    }

    /// The reader of a flat ingest, on its first batch already.
    private func begin<Source: RecordSource>(
        source: Source, table: String, actor: String, schema: TableSchema?, skipped: Int64, at started: Date
    ) -> StartedIngest<Source> {
        let batches = BatchReader(
            reader: source, table: table, size: batchSize, maxBytes: batchBytes,
            firstBatchMinimum: schema == nil ? SchemaInference.firstSchemaWindow : 0,
            overflowDepth: policy.overflowDepth(table: table), warehouse: warehouse)
        batches.schema.set(schema, limits: policy.recordLimits(table: table))
        return StartedIngest(
            source: source, table: table, actor: actor, skippedByResume: skipped, started: started, batches: batches,
            first: FirstRead(batches.readAhead()))
    }

    /// The ingest loop of a flat table, from the reader's first batch on.
    private func run<Source: RecordSource>(
        _ start: StartedIngest<Source>, schema current: TableSchema?, progress: (@Sendable (Int64) -> Void)?
    ) async throws -> IngestSummary {
        let (source, table, actor, batches, started) = (start.source, start.table, start.actor, start.batches, start.started)
        var summary = IngestSummary(table: table)
        summary.skippedByResume = start.skippedByResume
        var schema = current
        // Keys normalized once per run for the records validated again here (after a repair).
        var flattener = Flattener(overflowDepth: policy.overflowDepth(table: table))
        // Incidents this run saw wait for approval or refused; their plans stand.
        var settled = Set<Int64>()
        guard var reading = start.first.take() else {
            throw PipelineError.state("this ingest of \(table) has run already: start it again with startIngest")
        }
        defer { knownSchemas[table] = schema }
        while true {
            let read = await reading.value
            if !read.atEnd { reading = batches.readAhead() }  // parse ahead while this batch commits
            let batch = read.records
            if batch.isEmpty && read.quarantined.isEmpty && read.lines == 0 { break }
            summary.lines += Int64(read.lines)
            if schema == nil, !batch.isEmpty {
                schema = try await createTable(table, from: read, by: actor)
                batches.schema.set(schema, limits: policy.recordLimits(table: table))
            }
            let r: BatchResult
            do {
                r = try await commitBatch(table: table, source: source, schema: &schema, read: read, flattener: &flattener, by: actor)
            } catch StoreError.staleSchema {
                // Someone altered the table by hand: the transaction rolled back, so
                // re-read the catalog and validate the same batch again. (Also when another
                // worker gave a key path its column first: the batch is flattened again.)
                schema = try await state.transaction { tx in try await tx.schema(table) }
                if schema == nil, !batch.isEmpty {
                    schema = try await createTable(table, from: read, by: actor)
                }
                r = try await commitBatch(table: table, source: source, schema: &schema, read: read, flattener: &flattener, by: actor)
            }
            if r.addedKeys { batches.schema.set(schema, limits: policy.recordLimits(table: table)) }
            try await source.acknowledge(through: read.offset)
            summary.loaded += r.loaded
            summary.parked += r.parked
            summary.quarantined += r.quarantined
            summary.coerced += r.coerced
            summary.incidentsOpened += r.opened
            progress?(summary.lines)
            // Records parked into an incident that already waits for a person, or was
            // refused, need no planning: the repair loop runs only for the others.
            if !r.touched.isSubset(of: settled) {
                // One unit of work (RepairUnit.swift): plans, applies and replays in one
                // transaction, and says what its replays loaded and what the schema became.
                let outcome = try await repairSettling(table: table, by: actor)
                summary.repaired += outcome.applied
                settled = outcome.waiting.union(outcome.pending).union(outcome.refused)
                summary.replayedLoaded += outcome.replayedLoaded
                summary.replayedQuarantined += outcome.replayedQuarantined
                if let changed = outcome.schema {
                    schema = changed
                    batches.schema.set(schema, limits: policy.recordLimits(table: table))
                }
            }
            if read.atEnd { break }
        }
        (summary.pendingApproval, summary.stillParked) = try await state.transaction { tx in
            (try await tx.incidents(table: table, status: .pendingApproval).map(\.id), try await tx.counts(table: table).parked)
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// The repair loop, run again when a COMMIT of its broke with its outcome unknown: it
    /// reads every incident, plan and parked record afresh, so a step that did commit is
    /// seen done and one that did not runs again.
    func repairSettling(table: String, by actor: String) async throws -> RepairOutcome {
        do {
            return try await repairOpenIncidents(table: table, by: actor)
        } catch StoreError.commitUnknown {
            return try await repairOpenIncidents(table: table, by: actor)
        }
    }

    /// A new table's first schema is inferred from its first `SchemaInference.firstSchemaWindow`
    /// records without the oversized ones (which park), flattened one after the other by
    /// `flatten` and let go of at once.
    func firstWindow<Records: Sequence>(_ records: Records, flatten: (Records.Element) -> [FlatField]) -> SchemaInference.Window {
        var window = SchemaInference.Window()
        for r in records.prefix(SchemaInference.firstSchemaWindow) {
            let fields = flatten(r)
            if fields.count <= policy.maxRecordFields { window.add(fields) }
        }
        return window
    }

    /// Creates the table from a batch's first window, flattened one record after the other
    /// against the key map the state holds (empty for a new table): the columns it infers
    /// are the ones its key paths own, stored with the table.
    func createTable(_ table: String, from read: ReadBatch, by actor: String) async throws -> TableSchema? {
        let keys = try await state.transaction { tx in try await tx.keyMap(table) }
        var flattener = Flattener(overflowDepth: policy.overflowDepth(table: table), keys: keys, assigns: true)
        let window = firstWindow(read.records) { read.fields($0, with: &flattener, again: true) }
        return try await createTable(table, from: window, keys: flattener.added, by: actor)
    }
}
