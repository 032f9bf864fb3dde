import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject the plan waiting on an incident. Its records stay parked.")
    @OptionGroup var incident: IncidentArgument
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @Option(help: "Who rejects. Defaults to $USER.") var by: String?
    @OptionGroup var options: DBOptions

    func run() async throws {
        let engine = try await options.engine()
        try await engine.reject(incidentID: incident.id.value, by: by ?? currentUser, reason: reason)
        print("rejected; the records stay parked (see `mend show \(incident.id)`)")
    }
}
