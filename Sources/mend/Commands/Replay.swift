import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an incident's parked records through validation again.")
    @OptionGroup var incident: IncidentArgument
    @OptionGroup var options: RepairOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let r = try await engine.replay(incidentID: incident.id.value, by: currentUser)
        if output.json { return try printJSON(r) }
        print(
            "replayed: \(r.loaded) loaded, \(r.quarantined) quarantined, \(r.stillParked) still parked\(r.resolved ? "; incident resolved" : "")"
        )
    }
}
