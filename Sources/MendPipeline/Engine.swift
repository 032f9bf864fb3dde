import Foundation
public import MendCore
public import MendStore

/// The pipeline: one engine per database. Its jobs live in the folders named after the
/// stages a record passes through: Sources/ (where records come from), Ingest/ (read,
/// validate, load, park), Repair/ (plan, judge, decide, apply), Replay/ (parked records
/// back through validation), Reads/ (what the CLI, MCP and HTTP show).
public actor Engine {
    public nonisolated let warehouse: any Warehouse
    public nonisolated let state: StateStore
    public var policy: Policy
    public var planner: any Planner
    public let judge: any StatementJudge
    public var batchSize: Int
    /// A batch is also cut once its records' bytes reach this, so memory follows the budget,
    /// not the records' size: 20,000 records of 3 KB would hold 60 MB of text twice over.
    public var batchBytes: Int = Engine.defaultBatchBytes
    public var actor: String
    /// Where lifecycle moments are posted (Notify/); nil: nobody is told.
    public internal(set) var notifier: Notifier?
    /// Signs the dashboard links notifications carry, and checks them (`mend serve --public-url`).
    public internal(set) var links: ApprovalLinks?
    let rules = RulesPlanner()
    private var bootstrapped = false
    /// Per table, the overflow keys an incident already records (RecordOverflow.swift),
    /// read from the incidents once per table, so each key opens an incident once.
    var overflowRecorded: [String: Set<String>] = [:]
    /// Per table, its schema when an ingest of this engine last read or changed it: what a
    /// reader started ahead (`startIngest`) validates against before its commit reads the table's.
    var knownSchemas: [String: TableSchema] = [:]

    public init(
        warehouse: any Warehouse, policy: Policy = .default, planner: any Planner = RulesPlanner(),
        judge: any StatementJudge, batchSize: Int? = nil, actor: String = "mend"
    ) {
        self.warehouse = warehouse
        self.state = StateStore(warehouse)
        self.policy = policy
        self.planner = planner
        self.judge = judge
        self.batchSize = batchSize ?? Self.defaultBatchSize(for: warehouse.dialect)
        self.actor = actor
    }

    public func setPlanner(_ p: any Planner) { planner = p }
    public func setPolicy(_ p: Policy) { policy = p }
    public func setBatchSize(_ n: Int) { batchSize = max(1, n) }
    public func setBatchBytes(_ n: Int) { batchBytes = max(1, n) }

    /// Records per transaction when nobody says otherwise. PostgreSQL pays a few round
    /// trips and a hand-over between reader and writer per batch: 20,000 loaded 1M
    /// records in 2.97 s against 3.51 s with 5,000 (medians of 3, peak RSS 120 MB
    /// against 68 MB). SQLite, in process, gains nothing from larger batches and parses
    /// them in parallel slices, so memory decides: 5,000.
    public static func defaultBatchSize(for dialect: SQLDialect) -> Int {
        dialect == .postgres ? 20_000 : 5_000
    }

    /// 8 MiB of record text per batch: the bench's 200-byte records never reach it (a
    /// PostgreSQL batch of 20,000 is 4 MB); records of a kilobyte or more are cut by it. 100,000
    /// push events with child tables (1 KB each): 16 MiB took 3.7 s and 320 MB, 8 MiB 2.9 s and
    /// 195 MB, 4 MiB 3.1-3.6 s and 170 MB (the parsed trees are several times their text).
    public static let defaultBatchBytes = 8 << 20

    var compiler: PlanCompiler { PlanCompiler(dialect: warehouse.dialect, schema: warehouse.targetSchema) }

    public func bootstrap() async throws {
        if bootstrapped { return }
        try await state.transaction { tx in try await tx.bootstrap() }
        bootstrapped = true
    }
}
