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

    /// The incident view with its drifts, parked samples, and plans as MCP's get_incident shows them.
    struct Out: Encodable {
        struct IncidentWithDrifts: Encodable {
            var view: IncidentView
            var drifts: [Drift]
            func encode(to encoder: any Encoder) throws {
                try view.encode(to: encoder)
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(drifts, forKey: .drifts)
            }
            enum Key: String, CodingKey { case drifts }
        }
        var incident: IncidentWithDrifts
        var samples: [ParkedRecord]
        var plans: [PlanView]
    }

    func run() async throws {
        let engine = try await options.engine()
        let (i, samples, plans) = try await engine.incidentDetail(incident.id.value, samples: samples)
        if output.json {
            try printJSON(Out(incident: .init(view: IncidentView(i), drifts: i.drifts), samples: samples, plans: plans.map(PlanView.init)))
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
