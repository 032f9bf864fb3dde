import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan and apply a repair for an incident when the policy allows it, or apply its approved plan.")
    @OptionGroup var incident: IncidentArgument
    @OptionGroup var options: RepairOptions

    func run() async throws {
        let engine = try await options.engine()
        let id = incident.id.value
        // The lifecycle decides what comes next: plan it, or run the approved plan.
        switch try await engine.advance(incidentID: id, .next, by: currentUser) {
        case .applied(let p): print("plan #\(p) applied")
        case .pending(let p): throw PipelineError.state("plan #\(p) waits for approval: run `mend approve \(id)`")
        case .refused(let p, let why): throw PipelineError.refused("plan #\(p) refused: \(why)")
        case .rejected(let p): throw PipelineError.state("plan #\(p) was rejected; its records stay parked")
        }
        let (i, _, _) = try await engine.incidentDetail(id, samples: 0)
        print("incident #\(id) is \(i.status.rawValue) (\(i.parked) still parked)")
    }
}
