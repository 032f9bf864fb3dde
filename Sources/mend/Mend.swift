import ArgumentParser
import Foundation
import MendCore
import MendGuard
import MendPipeline
import MendStore

/// Entry point: runs the command, then closes every database connection it opened
/// (also on errors), so no connection is dropped mid-protocol.
@main
enum Entry {
    static func main() async {
        do {
            var command = try Mend.parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            await OpenWarehouses.shared.closeAll()
        } catch {
            await OpenWarehouses.shared.closeAll()
            Mend.exit(withError: error)
        }
    }
}

actor OpenWarehouses {
    static let shared = OpenWarehouses()
    private var open: [any Warehouse] = []
    func add(_ w: any Warehouse) { open.append(w) }
    func closeAll() async {
        for w in open { await w.close() }
        open = []
    }
}

struct Mend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mend",
        abstract: "Self-healing JSON ingestion: load what fits, park what drifts, repair the table, replay.",
        discussion: """
            Mend loads JSON Lines into a table. Records that do not fit are parked (never dropped),
            grouped into incidents, and repaired by a typed plan that a guard checks and a policy
            decides. Every step is written to a hash-chained audit log.

            The database is --db (or MEND_DB): sqlite:PATH (default sqlite:mend.db) or
            postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME.
            """,
        subcommands: [
            Ingest.self, Stats.self, Incidents.self, Show.self, PlanCommand.self, Approve.self, Reject.self,
            Apply.self, Replay.self, SchemaCommand.self, AuditCommand.self, CheckSQL.self, SetupRoles.self, Demo.self,
            MCPCommand.self, Serve.self,
        ])
}

/// Options every command that touches a database shares.
struct DBOptions: ParsableArguments {
    @Option(name: .long, help: "Database URL: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME (env MEND_DB).")
    var db: String = ProcessInfo.processInfo.environment["MEND_DB"] ?? "sqlite:mend.db"

    @Option(name: .long, help: "Policy YAML file (contracts and autonomy). Without it the default policy applies.")
    var policy: String?

    @Option(
        name: .long,
        help: """
            Who plans repairs: rules (deterministic), llm (MEND_LLM_PROVIDER anthropic|openai, MEND_LLM_MODEL, \
            MEND_LLM_BASE_URL, key in ANTHROPIC_API_KEY or OPENAI_API_KEY; falls back to rules), sampling (`mend mcp` \
            only: the connected client's model through MCP sampling; falls back to rules when the client cannot sample). \
            Env MEND_PLANNER.
            """)
    var planner: PlannerChoice = PlannerChoice.fromEnvironment

    /// `servingMCP`: the caller is `mend mcp`, which attaches `--planner sampling` itself
    /// once its server exists.
    func engine(servingMCP: Bool = false) async throws -> Engine {
        let warehouse = try await WarehouseFactory.open(url: db)
        await OpenWarehouses.shared.add(warehouse)
        let policy = try self.policy.map(PolicyLoader.load(path:)) ?? .default
        let who = ProcessInfo.processInfo.environment["USER"] ?? "cli"
        let engine = Engine(warehouse: warehouse, policy: policy, judge: ParserJudge(), actor: "mend:\(who)")
        if !(servingMCP && planner == .sampling) { try await planner.attach(to: engine) }
        return engine
    }
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

func parseID(_ s: String) throws -> Int64 {
    guard let id = Int64(s.hasPrefix("#") ? String(s.dropFirst()) : s), id > 0 else {
        throw ValidationError("'\(s)' is not an incident id; run `mend incidents` to list them")
    }
    return id
}

var currentUser: String { ProcessInfo.processInfo.environment["USER"] ?? "cli" }

// MARK: - ingest

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a JSON Lines file (or - for stdin) into a table, healing drift as the policy allows.",
        discussion: """
            The table is created from the first records if it does not exist. Records that do not fit
            are parked with a reason and an incident; lines that are not JSON are quarantined with
            their raw bytes. Exits 0 when every record is accounted for (loaded, parked or quarantined).
            Running the same file again resumes after the last committed line.
            """)

    @Argument(help: "JSON Lines file, or - for standard input.")
    var file: String
    @Option(name: .long, help: "Target table (lowercase snake_case).")
    var table: String
    @Flag(name: .long, help: "Read the file from its first line even if an earlier run committed an offset.")
    var fromStart = false
    @Flag(name: .long, help: "No summary on standard output and no progress bar.")
    var quiet = false
    @Option(
        name: .long,
        help:
            "Records per transaction: a batch commits its rows, parked records and source offset together (default: 5000 on SQLite, 20000 on PostgreSQL)."
    )
    var batchSize: Int?
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        if let batchSize { await engine.setBatchSize(batchSize) }
        // The bar goes to standard error, and only on a terminal: pipes and logs stay clean.
        let bar = (!quiet && ProgressBar.stderrIsTerminal) ? ProgressBar(path: file) : nil
        var progress: (@Sendable (Int64) -> Void)?
        if let bar { progress = { bar.update($0) } }
        let s = try await engine.ingest(path: file, table: table, resume: !fromStart, progress: progress)
        bar?.finish()
        if output.json {
            try printJSON(s)
        } else if !quiet {
            print(
                "\(s.table): \(s.lines) lines → \(s.loaded) loaded, \(s.parked) parked, \(s.quarantined) quarantined, \(s.coerced) values coerced"
            )
            if s.skippedByResume > 0 { print("resumed after line \(s.skippedByResume) (use --from-start to reload)") }
            if s.incidentsOpened > 0 || s.repaired > 0 {
                print("incidents opened: \(s.incidentsOpened), repairs applied: \(s.repaired)")
            }
            for id in s.pendingApproval {
                print("incident \(id) waits for approval: `mend show \(id)`, then `mend approve \(id)` or `mend reject \(id) --reason ...`")
            }
            print(String(format: "%.2fs, %.0f records/s", s.seconds, s.seconds > 0 ? Double(s.lines) / s.seconds : 0))
        }
    }
}

// MARK: - reads

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per table: input, loaded, parked, quarantined, coerced (input = loaded + parked + quarantined).")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Row: Encodable {
        var input, loaded, parked, quarantined, coerced, open_incidents, schema_version: Int64
    }
    struct Out: Encodable {
        var tables: [String: Row]
        var repair_seconds: [String: Double]
        var repair_seconds_median: Double?
        var llm: StateStore.UsageTotals
    }

    func run() async throws {
        let engine = try await options.engine()
        let stats = try await engine.stats()
        let times = try await engine.repairTimes()
        let usage = try await engine.usage()
        let sorted = times.map(\.2).sorted()
        let median = sorted.isEmpty ? nil : sorted[sorted.count / 2]
        if output.json {
            var tables: [String: Row] = [:]
            for t in stats {
                tables[t.table] = Row(
                    input: t.input, loaded: t.loaded, parked: t.parked, quarantined: t.quarantined, coerced: t.coerced,
                    open_incidents: t.openIncidents, schema_version: t.schemaVersion)
            }
            try printJSON(
                Out(
                    tables: tables, repair_seconds: Dictionary(times.map { ("\($0.0)", $0.2) }, uniquingKeysWith: { a, _ in a }),
                    repair_seconds_median: median, llm: usage))
            return
        }
        if stats.isEmpty {
            print("no tables yet: run `mend ingest FILE --table NAME`")
            return
        }
        print(pad(["table", "input", "loaded", "parked", "quarantined", "coerced", "open incidents"]))
        for t in stats {
            print(pad([t.table, "\(t.input)", "\(t.loaded)", "\(t.parked)", "\(t.quarantined)", "\(t.coerced)", "\(t.openIncidents)"]))
        }
        if let median { print(String(format: "time to repair (median over %d incidents): %.3fs", times.count, median)) }
        if usage.tokensIn + usage.tokensOut > 0 {
            print(String(format: "LLM: %d tokens in, %d out, est. $%.4f", usage.tokensIn, usage.tokensOut, usage.cost))
        }
    }
}

func pad(_ cols: [String]) -> String {
    cols.enumerated().map { i, c in
        i == 0
            ? c.padding(toLength: max(16, c.count), withPad: " ", startingAt: 0) : String(repeating: " ", count: max(0, 12 - c.count)) + c
    }
    .joined(separator: " ")
}

struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List incidents: drifts grouped by table and signature.")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Out: Encodable {
        var id: Int64
        var table: String
        var status: String
        var kinds: [String]
        var parked: Int
        var signature: String
        var opened_at: Date
    }

    func run() async throws {
        let engine = try await options.engine()
        let list = try await engine.incidents()
        if output.json {
            try printJSON(
                list.map {
                    Out(
                        id: $0.id, table: $0.table, status: $0.status.rawValue, kinds: $0.kinds.map(\.rawValue), parked: $0.parked,
                        signature: $0.signature, opened_at: $0.openedAt)
                })
            return
        }
        if list.isEmpty { print("no incidents") }
        for i in list {
            print("#\(i.id)  \(i.table)  \(i.status.rawValue)  \(i.kinds.map(\.rawValue).joined(separator: ","))  parked: \(i.parked)")
            if let d = i.drifts.first { print("     \(d.reason)") }
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one incident: its drifts, parked samples with reasons, and plans.")
    @Argument(help: "Incident id.") var id: String
    @Option(help: "How many parked records to show.") var samples = 5
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Out: Encodable {
        var incident: Incident
        var samples: [ParkedRecord]
        var plans: [StoredPlan]
    }

    func run() async throws {
        let engine = try await options.engine()
        let (i, samples, plans) = try await engine.incidentDetail(try parseID(id), samples: samples)
        if output.json {
            try printJSON(Out(incident: i, samples: samples, plans: plans))
            return
        }
        print("incident #\(i.id) on \(i.table): \(i.status.rawValue), \(i.parked) parked")
        print("kinds: \(i.kinds.map(\.rawValue).joined(separator: ", "))")
        for d in i.drifts { print("  - \(d.kind.rawValue) \(d.column): \(d.reason)") }
        if !samples.isEmpty { print("parked samples:") }
        for r in samples {
            print("  \(r.source):\(r.line)  \(r.record.prefix(160))")
            print("    reason: \(r.reason)")
        }
        for p in plans { printPlan(p.plan, verdicts: p.verdicts, decision: p.decision) }
    }
}

func printPlan(_ plan: Plan, verdicts: [StatementVerdict], decision: PolicyDecision?) {
    print("plan \(plan.id > 0 ? "#\(plan.id) " : "")by \(plan.plannedBy) (\(plan.status.rawValue), confidence \(plan.confidence)):")
    for op in plan.operations { print("  • \(op.summary)") }
    print("  why: \(plan.rationale)")
    for v in verdicts {
        print("  SQL: \(v.sql)")
        print("    guard: \(v.allowed ? "allowed" : "REFUSED"), risk \(v.risk.rawValue) [\(v.rule)] \(v.reasons.joined(separator: "; "))")
        if let alt = v.saferAlternative { print("    safer: \(alt)") }
    }
    if let decision { print("  policy: \(decision.autonomy.rawValue) — \(decision.reasons.joined(separator: "; "))") }
}

// MARK: - repair commands

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Dry run: the plan for an incident, its SQL, the guard's risk, and what the policy would do.")
    @Argument(help: "Incident id.") var id: String
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let p = try await engine.propose(incidentID: try parseID(id))
        if output.json { return try printJSON(p) }
        printPlan(p.plan, verdicts: p.statements, decision: p.decision)
        print("(dry run: nothing was changed)")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve the plan waiting on an incident; it is applied and the parked records replayed.")
    @Argument(help: "Incident id.") var id: String
    @Option(help: "Who approves (recorded in the audit log). Defaults to $USER.") var by: String?
    @Option(help: "A note for the audit log.") var note: String?
    @OptionGroup var options: DBOptions

    func run() async throws {
        let engine = try await options.engine()
        let incident = try parseID(id)
        let p = try await engine.approve(incidentID: incident, by: by ?? currentUser, note: note)
        let (i, _, _) = try await engine.incidentDetail(incident, samples: 0)
        print("plan #\(p.plan.id) \(p.plan.status.rawValue); incident #\(incident) is \(i.status.rawValue) (\(i.parked) still parked)")
    }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject the plan waiting on an incident. Its records stay parked.")
    @Argument(help: "Incident id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @Option(help: "Who rejects. Defaults to $USER.") var by: String?
    @OptionGroup var options: DBOptions

    func run() async throws {
        let engine = try await options.engine()
        try await engine.reject(incidentID: try parseID(id), by: by ?? currentUser, reason: reason)
        print("rejected; the records stay parked (see `mend show \(id)`)")
    }
}

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan and apply a repair for an incident when the policy allows it, or apply its approved plan.")
    @Argument(help: "Incident id.") var id: String
    @OptionGroup var options: DBOptions

    func run() async throws {
        let engine = try await options.engine()
        let incident = try parseID(id)
        if let current = try await engine.currentPlan(incidentID: incident), current.plan.status == .approved {
            try await engine.apply(planID: current.plan.id, by: currentUser)
        } else if let current = try await engine.currentPlan(incidentID: incident), current.plan.status == .pendingApproval {
            throw PipelineError.state("plan #\(current.plan.id) waits for approval: run `mend approve \(incident)`")
        } else {
            switch try await engine.repair(incidentID: incident, by: currentUser) {
            case .applied(let p): print("plan #\(p) applied")
            case .pending(let p): print("plan #\(p) waits for approval: `mend approve \(incident)`")
            case .refused(let p, let why): throw PipelineError.refused("plan #\(p) refused: \(why)")
            }
        }
        let (i, _, _) = try await engine.incidentDetail(incident, samples: 0)
        print("incident #\(incident) is \(i.status.rawValue) (\(i.parked) still parked)")
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an incident's parked records through validation again.")
    @Argument(help: "Incident id.") var id: String
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let r = try await engine.replay(incidentID: try parseID(id), by: currentUser)
        if output.json { return try printJSON(r) }
        print(
            "replayed: \(r.loaded) loaded, \(r.quarantined) quarantined, \(r.stillParked) still parked\(r.resolved ? "; incident resolved" : "")"
        )
    }
}

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "A table's columns, their source keys, and its schema history.")
    @Argument(help: "Table name.") var table: String
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Col: Encodable {
        var name: String
        var type: String?
        var declared_type: String
        var nullable: Bool
        var source_keys: [String]
    }
    struct Out: Encodable {
        var table: String
        var columns: [Col]
        var mappings: [String: String]
        var history: [StateStore.SchemaVersion]
    }

    func run() async throws {
        let engine = try await options.engine()
        guard let (schema, keys, history) = try await engine.schema(table: table) else {
            throw PipelineError.notFound("no table \(table); `mend stats` lists the tables Mend loads")
        }
        let cols = schema.columns.map {
            Col(
                name: $0.name, type: $0.type?.rawValue, declared_type: $0.declaredType, nullable: $0.nullable,
                source_keys: keys[$0.name] ?? [])
        }
        if output.json { return try printJSON(Out(table: table, columns: cols, mappings: schema.mappings, history: history)) }
        print("\(table) (schema version \(history.last?.version ?? 1))")
        for c in cols {
            let src = c.source_keys.isEmpty ? "" : "   ← \(c.source_keys.joined(separator: ", "))"
            print("  \(c.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(c.declared_type)\(c.nullable ? "" : " NOT NULL")\(src)")
        }
        for (s, c) in schema.mappings.sorted(by: { $0.key < $1.key }) { print("  mapping: \(s) → \(c)") }
        for h in history { print("  v\(h.version): \(h.ddl)") }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show the audit log, or verify its hash chain.", subcommands: [AuditShow.self, AuditVerify.self],
        defaultSubcommand: AuditShow.self)
}

struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print audit entries (newest last).")
    @Option(help: "Only the last N entries.") var limit: Int?
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let entries = try await engine.auditEntries(limit: limit)
        if output.json { return try printJSON(entries) }
        for e in entries { print("\(e.seq)  \(e.at)  \(e.kind)  \(e.subject)  by \(e.actor)  \(e.detail.prefix(200))") }
    }
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Recompute the hash chain; name the first entry that was edited, deleted or reordered.")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let report = AuditVerifier.verify(try await engine.auditEntries())
        if output.json {
            try printJSON(report)
        } else if report.ok {
            print("audit log OK: \(report.entries) entries, head \(report.head ?? "-")")
        } else {
            print("audit log BROKEN at entry \(report.firstBroken ?? 0): \(report.reason ?? "")")
        }
        if !report.ok { throw ExitCode(2) }
    }
}

struct CheckSQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-sql",
        abstract: "Lint SQL with PostgreSQL's own parser: verdict, risk, rule, reason and safer alternative per statement.",
        discussion:
            "Exits 0 only when every statement is allowed at low risk. With --db it also checks the catalog (managed tables, allowed schema, current column types)."
    )
    @Argument(help: "SQL file, or - for standard input.") var file: String
    @Option(name: .long, help: "Database to take the catalog from (optional).") var db: String?
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let d = FileManager.default.contents(atPath: file) else {
                throw PipelineError.input("cannot read \(file)")
            }
            text = String(decoding: d, as: UTF8.self)
        }
        var context: GuardContext? = nil
        if let db {
            let w = try await WarehouseFactory.open(url: db)
            await OpenWarehouses.shared.add(w)
            let engine = Engine(warehouse: w, judge: ParserJudge())
            context = try await engine.guardContext()
        }
        let verdicts = SQLGuard(context: context).lint(text)
        if output.json {
            try printJSON(verdicts)
        } else {
            for (i, v) in verdicts.enumerated() {
                print("\(i + 1). \(v.allowed ? "allowed" : "FORBIDDEN")  risk: \(v.risk.rawValue)  rule: \(v.rule)")
                print("   \(v.sql.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200))")
                for r in v.reasons { print("   reason: \(r)") }
                if let s = v.saferAlternative { print("   safer: \(s)") }
            }
        }
        if verdicts.isEmpty || verdicts.contains(where: { !$0.allowed || $0.risk != .low }) { throw ExitCode(1) }
    }
}

struct SetupRoles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-roles",
        abstract: "PostgreSQL: create a loading role and a repair role that cannot DROP or TRUNCATE (run as an admin).",
        discussion: """
            The loading role (INSERT, SELECT) is for the hot path; the repair role can only call three
            SECURITY DEFINER functions that add a column, widen a column or create a table in the
            configured schema. Neither owns anything, so PostgreSQL itself refuses DROP and TRUNCATE.
            Then run Mend as: postgres://mend_loader:PW@HOST/DB?schema=S&repair_user=mend_repair
            with MEND_REPAIR_PASSWORD set. See docs/security.md.
            """)
    @Option(help: "Admin connection: postgres://ADMIN:PASSWORD@HOST:PORT/DB?schema=NAME (env MEND_DB).")
    var db: String = ProcessInfo.processInfo.environment["MEND_DB"] ?? ""
    @Option(help: "Loading role name.") var loader = "mend_loader"
    @Option(help: "Repair role name.") var repair = "mend_repair"
    @Option(help: "Owner role name (NOLOGIN).") var owner = "mend_owner"
    @Flag(help: "Print the SQL instead of applying it.") var print = false

    func run() async throws {
        guard db.hasPrefix("postgres") else {
            throw ValidationError("setup-roles needs --db postgres://ADMIN@HOST:PORT/DB?schema=NAME (roles are a PostgreSQL feature)")
        }
        let env = ProcessInfo.processInfo.environment
        let cfg = try PostgresURL(db)
        let roles = PostgresRoles(
            schema: cfg.schema, stateSchema: cfg.stateSchema, owner: owner, loader: loader,
            loaderPassword: env["MEND_LOADER_PASSWORD"] ?? "change-me", repair: repair,
            repairPassword: env["MEND_REPAIR_PASSWORD"] ?? "change-me")
        if print {
            for sql in roles.roleStatements(existing: [])
                + roles.grantStatements(stateTables: StateStore.tableNames, existingTargetTables: [])
            {
                Swift.print(sql + ";")
            }
            return
        }
        if env["MEND_LOADER_PASSWORD"] == nil || env["MEND_REPAIR_PASSWORD"] == nil {
            throw ValidationError("set MEND_LOADER_PASSWORD and MEND_REPAIR_PASSWORD (passwords are never taken on the command line)")
        }
        let w = try await WarehouseFactory.open(url: db)
        await OpenWarehouses.shared.add(w)
        for sql in try await roles.apply(on: w) { Swift.print(sql.split(separator: "\n").first.map(String.init) ?? sql) }
        Swift.print("roles ready: \(loader) (load), \(repair) (repair through functions), \(owner) (owns, cannot log in)")
    }
}
