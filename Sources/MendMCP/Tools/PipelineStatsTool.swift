import MCP
import MendPipeline
import MendStore

/// `pipeline_stats`: per-table counts (counted input beside loaded + parked + quarantined) and repair times.
enum PipelineStatsTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "pipeline_stats",
            description: """
                Per table: input, loaded, parked, quarantined, coerced values, open incidents and schema version \
                (input is counted as records arrive; accounted = loaded + parked + quarantined; conserved says whether \
                they are equal), and the median time from drift to repair.
                """,
            inputSchema: ToolSchema.object([:]),
            annotations: ToolSchema.readOnly("Pipeline statistics"),
            outputSchema: OutputSchema.tool(
                "pipeline_stats", title: "Pipeline statistics",
                [
                    "tables": OutputSchema.map(
                        of: OutputSchema.object([
                            "input": OutputSchema.integer("Records read from the sources, counted with each batch."),
                            "accounted": OutputSchema.integer("Loaded + parked + quarantined."),
                            "conserved": OutputSchema.boolean("Whether input equals accounted."),
                            "loaded": OutputSchema.integer(), "parked": OutputSchema.integer(),
                            "quarantined": OutputSchema.integer(), "coerced": OutputSchema.integer("Values converted on load."),
                            "open_incidents": OutputSchema.integer(), "schema_version": OutputSchema.integer(),
                        ]), description: "Table name → counts."),
                    "repairs_resolved": OutputSchema.integer("Incidents resolved by a repair."),
                    "repair_seconds_median": OutputSchema.nullable(OutputSchema.number("Median time from drift to repair.")),
                    "invariant": OutputSchema.string(),
                ]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        let stats = try await context.engine.stats()
        let times = try await context.engine.repairTimes().map(\.2).sorted()
        var tables: [String: Value] = [:]
        for t in stats {
            tables[t.table] = .object([
                "input": .int(Int(t.input)), "accounted": .int(Int(t.accounted)), "conserved": .bool(t.conserved),
                "loaded": .int(Int(t.loaded)), "parked": .int(Int(t.parked)),
                "quarantined": .int(Int(t.quarantined)), "coerced": .int(Int(t.coerced)),
                "open_incidents": .int(Int(t.openIncidents)), "schema_version": .int(Int(t.schemaVersion)),
            ])
        }
        let parked = stats.reduce(0) { $0 + $1.parked }
        return ToolOutcome(
            summary: "\(stats.count) table(s), \(stats.reduce(0) { $0 + $1.loaded }) loaded, \(parked) parked",
            value: .object([
                "tables": .object(tables),
                "repairs_resolved": .int(times.count),
                "repair_seconds_median": times.isEmpty ? .null : .double(times[times.count / 2]),
                "invariant": "input = loaded + parked + quarantined, per table (conserved)",
            ]))
    }
}
