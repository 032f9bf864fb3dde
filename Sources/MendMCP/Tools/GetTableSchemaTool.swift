import MCP
import MendCore
import MendPipeline
import MendStore

/// `get_table_schema`: columns, mappings, conversions and DDL history of a table.
enum GetTableSchemaTool: MendTool {
    static var definition: Tool {
        Tool(
            name: "get_table_schema",
            description: """
                A table's columns (logical type, declared type, nullability, the source keys that land in each), its \
                field mappings and value conversions, and its schema history (every DDL Mend applied).
                """,
            inputSchema: ToolSchema.object(["table": .object(["type": "string", "description": "Table name."])], required: ["table"]),
            annotations: ToolSchema.readOnly("Table schema"),
            outputSchema: OutputSchema.tool("get_table_schema", title: "Table schema", OutputSchema.tableSchema))
    }

    static func call(_ a: ToolArguments, _ context: ToolContext) async throws -> ToolOutcome {
        guard let table = try a.string("table", required: "the table name; pipeline_stats lists the tables") else {
            throw ToolError.invalidArgument("table: required")
        }
        guard let s = try await context.engine.schema(table: table) else {
            throw PipelineError.notFound("no table \(table); pipeline_stats lists the tables Mend loads")
        }
        return ToolOutcome(
            summary: "\(table): \(s.0.columns.count) columns, schema version \(s.2.last?.version ?? 1)",
            value: ToolValue.schema(table: table, s, children: try await context.engine.childTables(of: table)))
    }
}
