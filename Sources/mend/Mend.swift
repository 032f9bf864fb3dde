import ArgumentParser

/// The root command: its help is the map of every subcommand.
struct Mend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mend",
        abstract: "Self-healing JSON ingestion: load what fits, park what drifts, repair the table, replay.",
        discussion: """
            Mend loads JSON Lines into a table. Records that do not fit are parked (never dropped), \
            grouped into incidents, and repaired by a typed plan that a guard checks and a policy \
            decides. Every step is written to a hash-chained audit log.

            The database is --db (or MEND_DB): sqlite:PATH (default sqlite:mend.db) or \
            postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME. Commands that plan, apply or \
            revalidate records (ingest, consume, plan, approve, apply, replay, mcp, serve) also take --policy \
            and --planner; the read-only ones (stats, incidents, show, schema, audit) and reject do not.

            Version: \(BuildInfo.description)
            """,
        version: BuildInfo.description,
        subcommands: [
            Ingest.self, Stats.self, Incidents.self, Show.self, PlanCommand.self, Approve.self, Reject.self,
            Apply.self, Replay.self, SchemaCommand.self, AuditCommand.self, CheckSQL.self, SetupRoles.self, Demo.self,
            MCPCommand.self, Serve.self, Consume.self, Promote.self, PolicyCommand.self,
        ])
}
