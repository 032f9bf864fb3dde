import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve the plan waiting on an incident; it is applied and the parked records replayed.")
    @OptionGroup var incident: IncidentArgument
    @Option(help: "Who approves (recorded in the audit log). Defaults to $USER.") var by: String?
    @Option(help: "A note for the audit log.") var note: String?
    @OptionGroup var options: RepairOptions
    @OptionGroup var notify: NotifyOptions

    func run() async throws {
        let engine = try await options.engine()
        try await notify.attach(to: engine, policy: options.policy)
        let id = incident.id.value
        let p = try await engine.approve(incidentID: id, by: by ?? currentUser, note: note)
        let (i, _, _) = try await engine.incidentDetail(id, samples: 0)
        print("plan #\(p.plan.id) \(p.plan.status.rawValue); incident #\(id) is \(i.status.rawValue) (\(i.parked) still parked)")
    }
}
