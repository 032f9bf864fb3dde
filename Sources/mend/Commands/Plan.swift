import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Dry run: the plan for an incident, its SQL, the guard's risk, and what the policy would do.")
    @OptionGroup var incident: IncidentArgument
    @OptionGroup var options: RepairOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let p = try await engine.propose(incidentID: incident.id.value)
        if output.json { return try printJSON(ProposalView(p)) }
        printPlan(p.plan, verdicts: p.statements, decision: p.decision)
        print("(dry run: nothing was changed)")
    }
}
