import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one incident: its drifts, parked samples with reasons, and plans.")
    @OptionGroup var incident: IncidentArgument
    @Option(help: "How many parked records to show.") var samples = 5
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Out: Encodable {
        var incident: Incident
        var samples: [ParkedRecord]
        var plans: [StoredPlan]
    }

    func run() async throws {
        let engine = try await options.engine()
        let (i, samples, plans) = try await engine.incidentDetail(incident.id.value, samples: samples)
        if output.json {
            try printJSON(Out(incident: i, samples: samples, plans: plans))
            return
        }
        print("incident #\(i.id) on \(i.table): \(i.status.rawValue), \(i.parked) parked")
        print("kinds: \(i.kinds.map(\.rawValue).joined(separator: ", "))")
        for d in i.drifts { print("  - \(d.kind.rawValue) \(d.column): \(d.reason)") }
        if !samples.isEmpty { print("parked samples:") }
        for r in samples {
            print("  \(r.source):\(r.line)  \(r.record.prefix(160))")
            print("    reason: \(r.reason)")
        }
        for p in plans { printPlan(p.plan, verdicts: p.verdicts, decision: p.decision) }
    }
}
