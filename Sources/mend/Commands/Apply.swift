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
        if let current = try await engine.currentPlan(incidentID: id), current.plan.status == .approved {
            try await engine.apply(planID: current.plan.id, by: currentUser)
        } else if let current = try await engine.currentPlan(incidentID: id), current.plan.status == .pendingApproval {
            throw PipelineError.state("plan #\(current.plan.id) waits for approval: run `mend approve \(id)`")
        } else {
            switch try await engine.repair(incidentID: id, by: currentUser) {
            case .applied(let p): print("plan #\(p) applied")
            case .pending(let p): print("plan #\(p) waits for approval: `mend approve \(id)`")
            case .refused(let p, let why): throw PipelineError.refused("plan #\(p) refused: \(why)")
            }
        }
        let (i, _, _) = try await engine.incidentDetail(id, samples: 0)
        print("incident #\(id) is \(i.status.rawValue) (\(i.parked) still parked)")
    }
}
