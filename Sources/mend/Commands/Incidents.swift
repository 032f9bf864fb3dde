import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List incidents: drifts grouped by table and signature.")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let list = try await engine.incidents()
        if output.json {
            try printJSON(list.map(IncidentView.init))
            return
        }
        if list.isEmpty { print("no incidents") }
        for i in list {
            print("#\(i.id)  \(i.table)  \(i.status.rawValue)  \(i.kinds.map(\.rawValue).joined(separator: ","))  parked: \(i.parked)")
            if let d = i.drifts.first { print("     \(d.reason)") }
        }
    }
}
