import MCP
import MendCore
import MendPipeline

/// `sample_records`: a few loaded rows, typed again by their columns' logical types.
enum SampleRecordsTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "sample_records",
            description: "A few rows already loaded into a table Mend manages, to compare with parked records.",
            inputSchema: ToolSchema.object(
                [
                    "table": .object(["type": "string", "description": "Table name."]),
                    "limit": .object(["type": "integer", "minimum": 1, "maximum": 50, "default": 5]),
                ], required: ["table"]),
            annotations: ToolSchema.readOnly("Sample loaded rows"),
            outputSchema: OutputSchema.tool(
                "sample_records", title: "Loaded rows",
                [
                    "table": OutputSchema.string(),
                    "columns": OutputSchema.array(OutputSchema.string(), description: "Column names, in order."),
                    "rows": OutputSchema.array(
                        OutputSchema.map(
                            of: OutputSchema.any(
                                "The value, typed by the column's logical type (numbers beyond a double's precision as strings)."),
                            description: "Column name → value.")),
                ]))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        guard let table = try a.string("table", required: "the table name; pipeline_stats lists the tables") else {
            throw ToolError.invalidArgument("table: required")
        }
        let limit = try a.bounded("limit", default: 5, in: 1...50)
        let (columns, rows) = try await context.engine.sampleRows(table: table, limit: limit)
        let objects: [Value] = rows.map { row in
            var o: [String: Value] = [:]
            for (c, v) in zip(columns, row) { o[c.name] = JSON.typed(v, c.type) }
            return .object(o)
        }
        return ToolOutcome(
            summary: "\(rows.count) loaded row(s) of \(table)",
            value: .object([
                "table": .string(table), "columns": .array(columns.map { .string($0.name) }), "rows": .array(objects),
            ]))
    }
}
