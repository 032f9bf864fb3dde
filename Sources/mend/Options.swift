import ArgumentParser
import Foundation
import MendCore
import MendGuard
import MendMCP
import MendPipeline
import MendStore

/// `--db`: what every command that reads or writes Mend's state takes, and all that
/// the read-only commands take.
struct DBOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            Database URL: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME (env MEND_DB). TLS as in \
            libpq: sslmode=disable|allow|prefer|require|verify-ca|verify-full (else PGSSLMODE; default prefer: TLS \
            when the server offers it, nothing verified), sslrootcert=CA.pem or system (PGSSLROOTCERT), \
            sslcert/sslkey (PGSSLCERT/PGSSLKEY). Across a network use sslmode=verify-full. Errors show the URL \
            with the password as ***.
            """)
    var db: String = ProcessInfo.processInfo.environment["MEND_DB"] ?? "sqlite:mend.db"

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Seconds to keep retrying when the database cannot be reached or its connection breaks (a restart, \
            a failover, a lock held by another process, a full disk). A transaction that failed is run again \
            from its start on a new connection; one line per try goes to stderr. Default: 60 for one-off \
            commands, 300 for consume, 10 for serve (each request, then 503 with Retry-After). 0: no retry.
            """, valueName: "seconds"))
    var retryFor: Double?

    @Option(name: .long, help: ArgumentHelp("Seconds to open a database connection.", valueName: "seconds"))
    var connectTimeout: Double = 5

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Seconds one statement may run before PostgreSQL cancels it; a connection that has not answered \
            5 s after that is closed and the transaction retried.
            """, valueName: "seconds"))
    var statementTimeout: Double = 120

    func validate() throws {
        guard retryFor.map({ $0 >= 0 }) ?? true else { throw ValidationError("--retry-for takes seconds, 0 or more") }
        guard connectTimeout > 0, statementTimeout > 0 else {
            throw ValidationError("--connect-timeout and --statement-timeout take seconds above 0")
        }
    }

    /// The bounds of every database call; `retryDefault` is the command's own budget.
    func resilience(retryDefault: Double) -> Resilience {
        Resilience(retryFor: retryFor ?? retryDefault, connectTimeout: connectTimeout, statementTimeout: statementTimeout)
    }

    /// Opens the database, closed again when the command ends.
    func warehouse(retryDefault: Double = Self.oneOffRetry) async throws -> any Warehouse {
        let warehouse = try await WarehouseFactory.open(url: db, resilience: resilience(retryDefault: retryDefault))
        await OpenWarehouses.shared.add(warehouse)
        return warehouse
    }

    /// `--retry-for` when a command does not say: a one-off command gives up sooner than a service.
    static let oneOffRetry: Double = 60

    /// An engine for reading and for decisions that need no plan (reject): the default
    /// policy and the rules planner, since nothing here plans or applies.
    func engine() async throws -> Engine {
        Engine(warehouse: try await warehouse(), judge: ParserJudge(), actor: "mend:\(currentUser)")
    }
}

/// `--db`, `--policy` and `--planner`: for the commands that plan, apply or validate
/// records (ingest, plan, approve, apply, replay, mcp, serve).
struct RepairOptions: ParsableArguments {
    @OptionGroup var database: DBOptions

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

    var db: String { database.db }
    /// The database as logs may show it: the password as `***`.
    var shownDB: String { PostgresURL.redacted(db) }

    /// `servingMCP`: the caller is `mend mcp`, which attaches `--planner sampling` itself
    /// once its server exists.
    func engine(servingMCP: Bool = false, retryDefault: Double = DBOptions.oneOffRetry) async throws -> Engine {
        let warehouse = try await database.warehouse(retryDefault: retryDefault)
        let policy = try self.policy.map(PolicyLoader.load(path:)) ?? .default
        let engine = Engine(warehouse: warehouse, policy: policy, judge: ParserJudge(), actor: "mend:\(currentUser)")
        if !(servingMCP && planner == .sampling) { try await planner.attach(to: engine) }
        // The policy file's notify: list (the commands with --notify add theirs and links).
        if self.policy != nil { _ = try await NotifyOptions.configure(engine, policy: self.policy) }
        return engine
    }
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

/// The byte budget of a batch, for the commands that load (`ingest`, `consume`).
struct BatchBytesOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Cut a batch once its records hold this many bytes of JSON, even short of its record count (default for ingest: 8388608, 8 MiB; for consume: none).",
            discussion:
                "Memory follows this budget, not the size of the records: large records make smaller batches. A consumer's fetch is already in memory and bounded (--batch messages; librdkafka's queue), so consume cuts only when told.",
            valueName: "bytes"))
    var batchBytes: Int?

    func validate() throws {
        if let batchBytes, batchBytes < 1 { throw ValidationError("--batch-bytes must be at least 1, got \(batchBytes)") }
    }

    /// `otherwise` is the command's own default (nil: the engine's).
    func apply(to engine: Engine, otherwise: Int? = nil) async {
        if let bytes = batchBytes ?? otherwise { await engine.setBatchBytes(bytes) }
    }
}

/// The `<id>` of the commands about one incident, parsed once with a helpful error.
struct IncidentArgument: ParsableArguments {
    @Argument(help: "Incident id, as `mend incidents` lists it (7 or #7).", transform: IncidentID.parse)
    var id: IncidentID
}

/// Who the audit log names for a command run by hand.
var currentUser: String { ProcessInfo.processInfo.environment["USER"] ?? "cli" }
