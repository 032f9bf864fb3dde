import ArgumentParser
import Foundation
import MCP
import MendMCP
import MendPipeline
import MendServer

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Mend to an MCP client (Claude Desktop, Claude Code, any agent) over standard input and output.",
        discussion: """
            The client starts `mend mcp --db URL` and speaks MCP on its stdin/stdout; logs go to stderr. \
            Agents get tools to read incidents and schemas, dry-run typed repair plans (never SQL), and apply \
            them under the same guard and policy as `mend apply`. Plans the policy holds for approval wait \
            for a person (`mend approve ID` or the dashboard); the client may be asked (MCP elicitation), \
            but its answer approves only if the policy lists the client in mcp_approvers. \
            Every tool call is written to the audit log with the client's name. See docs/mcp.md.
            """)

    @OptionGroup var options: RepairOptions

    func run() async throws {
        let engine = try await options.engine(servingMCP: true)
        // Open and set up the database before speaking the protocol, so a bad --db fails
        // with its message instead of a client-side "server disconnected".
        try await engine.bootstrap()
        let server = await MendTools.makeServer(engine: engine)
        if options.planner == .sampling { await PlannerChoice.attachSampling(server, to: engine) }
        try await server.start(transport: StdioTransport())
        logStderr("mend mcp: serving \(options.shownDB) over stdio")
        await server.waitUntilCompleted()
    }
}
