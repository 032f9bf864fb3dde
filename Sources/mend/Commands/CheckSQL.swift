import ArgumentParser
import Foundation
import MendCore
import MendGuard
import MendPipeline
import MendStore

struct CheckSQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-sql",
        abstract: "Lint SQL with PostgreSQL's own parser: verdict, risk, rule, reason and safer alternative per statement.",
        discussion:
            "Exits 0 only when every statement is allowed at low risk. With --db it also checks the catalog (managed tables, allowed schema, current column types, and on PostgreSQL the user types: a domain with a CHECK or a DEFAULT is not a catalog-only change)."
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
        var types: GuardTypeCatalog? = nil
        if let db {
            let w = try await WarehouseFactory.open(url: db)
            await OpenWarehouses.shared.add(w)
            let engine = Engine(warehouse: w, judge: ParserJudge())
            context = try await engine.guardContext()
            types = try await engine.guardTypeCatalog()
        }
        let verdicts = SQLGuard(context: context, types: types).lint(text)
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
