import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

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
