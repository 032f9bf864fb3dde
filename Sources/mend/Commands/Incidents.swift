import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List incidents: drifts grouped by table and signature.")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag
    @Option(
        name: .long,
        help: "Only incidents in this status: open, pending_approval, resolved or rejected (the ingest summary names pending_approval).")
    var status: String?

    func run() async throws {
        let engine = try await options.engine()
        var list = try await engine.incidents()
        if let status {
            guard let wanted = IncidentStatus(rawValue: status) else {
                throw ValidationError("--status \(status): use open, pending_approval, resolved or rejected")
            }
            list = list.filter { $0.status == wanted }
        }
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
