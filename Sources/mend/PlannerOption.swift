import ArgumentParser
import Foundation
import MCP
import MendAgent
import MendMCP
import MendPipeline

/// `--planner`: who writes repair plans.
enum PlannerChoice: String, ExpressibleByArgument, CaseIterable {
    case rules, llm, sampling

    static var fromEnvironment: PlannerChoice {
        ProcessInfo.processInfo.environment["MEND_PLANNER"].flatMap { PlannerChoice(rawValue: $0.lowercased()) } ?? .rules
    }
}

/// Keeps the in-process MCP server and client of the LLM planner alive for the command's life.
actor AgentConnections {
    static let shared = AgentConnections()
    private var servers: [MendMCPServer] = []
    private var clients: [Client] = []
    func add(_ s: MendMCPServer, _ c: Client) {
        servers.append(s)
        clients.append(c)
    }
}

extension PlannerChoice {
    /// Sets the engine's planner. The LLM planner reaches Mend's tools through an MCP
    /// client connected in process to the same server `mend mcp` runs, so it passes the
    /// same tool checks and audit as an outside agent.
    func attach(to engine: Engine) async throws {
        switch self {
        case .rules:
            return
        case .llm:
            let config: LLMConfig
            do {
                config = try LLMConfig.fromEnvironment()
            } catch {
                throw ValidationError("--planner llm: \(error)")
            }
            let mend = await MendTools.makeServer(engine: engine)
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            try await mend.start(transport: serverSide)
            let client = Client(name: "mend-agent", version: MendMCP.version)
            _ = try await client.connect(transport: clientSide)
            await AgentConnections.shared.add(mend, client)
            await engine.setPlanner(try LLMPlanner(config: config, client: client))
        case .sampling:
            // Attached by `mend mcp` itself (attachSampling): only there is a client to ask.
            throw ValidationError(
                "--planner sampling asks the model of the MCP client Mend serves, so it only works with `mend mcp` (stdio); use --planner llm (MEND_LLM_PROVIDER, MEND_LLM_MODEL) or rules here"
            )
        }
    }

    /// `mend mcp --planner sampling`: plans come from the connected client's model through
    /// MCP sampling (text mode, see SamplingProvider). A client without the sampling
    /// capability makes each attempt fail with that reason, and the Engine audits it and
    /// uses the rules planner's plan.
    static func attachSampling(_ server: MendMCPServer, to engine: Engine) async {
        await engine.setPlanner(LLMPlanner.sampling(sample: server.sampler))
    }
}
