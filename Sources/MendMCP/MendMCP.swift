public import MCP
public import MendPipeline

public enum MendMCP {
    public static let version = "0.2.0"

    /// Sent to clients at initialize; agents may add it to their system prompt.
    public static let instructions = """
        Mend loads JSON records into database tables. Records that do not fit are parked (never dropped) and grouped \
        into incidents. You can diagnose an incident and propose a repair, but only as a typed plan (mend://schemas/plan): \
        Mend compiles the SQL itself, a guard built on PostgreSQL's parser judges it, and a policy decides whether it \
        applies automatically, needs a person's approval, or is refused. Start with list_incidents, then get_incident, \
        get_table_schema, propose_plan (dry run), apply_plan. Every tool call is written to a hash-chained audit log.
        """
}

/// What the server learned about its client at initialize.
actor ClientSession {
    var name: String?
    var canElicit = false
    var canSample = false

    func record(_ info: Client.Info, _ capabilities: Client.Capabilities) {
        name = info.name
        canElicit = capabilities.elicitation?.form != nil
        canSample = capabilities.sampling != nil
    }
}

/// `--planner sampling` asked for the client's model, but the client cannot lend it.
public struct SamplingUnavailable: Error, CustomStringConvertible, Sendable {
    public var client: String?
    public var description: String {
        "the MCP client \(client.map { "'\($0)'" } ?? "(not initialized yet)") did not declare the sampling capability, "
            + "so Mend cannot ask its model for a plan; use a client that supports MCP sampling, or --planner llm or rules"
    }
}

/// A Mend MCP server: an `MCP.Server` with Mend's tools, resources and prompts, and
/// the client session it needs for audit names and elicitation.
///
/// Start it with ``start(transport:)`` (not `server.start`), so that it learns the
/// client's name and capabilities at initialize.
public final class MendMCPServer: Sendable {
    public let server: Server
    public let tools: MendTools
    let session: ClientSession

    init(server: Server, tools: MendTools, session: ClientSession) {
        self.server = server
        self.tools = tools
        self.session = session
    }

    /// Connects the transport and serves until the client goes away or ``stop()``.
    public func start(transport: any Transport) async throws {
        let session = self.session
        try await server.start(transport: transport) { info, capabilities in
            await session.record(info, capabilities)
        }
    }

    /// Asks the client's own model (MCP sampling, `sampling/createMessage`), for
    /// `--planner sampling`. Throws ``SamplingUnavailable`` when the client did not
    /// declare the capability at initialize, so the planner fails with that reason and
    /// the Engine falls back to the rules planner. Holds the server weakly: the engine
    /// keeps this closure, and the server keeps the engine.
    public var sampler: @Sendable (CreateSamplingMessage.Parameters) async throws -> CreateSamplingMessage.Result {
        let session = self.session
        let ref = ServerRef(server)
        return { params in
            guard await session.canSample else { throw SamplingUnavailable(client: await session.name) }
            guard let server = ref.server else { throw MCPError.internalError("the MCP server has stopped") }
            // 0.12.1's requestSampling cannot carry tools or toolChoice; see SamplingProvider (text mode).
            return try await server.requestSampling(
                messages: params.messages, modelPreferences: params.modelPreferences, systemPrompt: params.systemPrompt,
                includeContext: params.includeContext, temperature: params.temperature, maxTokens: params.maxTokens,
                stopSequences: params.stopSequences)
        }
    }

    public func waitUntilCompleted() async { await server.waitUntilCompleted() }
    public func stop() async { await server.stop() }
}

extension MendTools {
    /// Builds Mend's MCP server over `engine`. Used by `mend mcp` (stdio), `mend serve`
    /// (Streamable HTTP, one server per session) and the built-in LLM agent, which
    /// connects in-process:
    ///
    /// ```swift
    /// let mend = await MendTools.makeServer(engine: engine)
    /// let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
    /// try await mend.start(transport: serverSide)
    /// let client = Client(name: "mend-agent", version: "1")
    /// try await client.connect(transport: clientSide)
    /// ```
    ///
    /// The client's name (from initialize) is the actor in the audit log as
    /// `mcp:<name>`; `apply_plan` asks the person through elicitation only when the
    /// client declared that capability.
    /// `agent`: the agent name its token authenticated, when served over HTTP.
    public static func makeServer(engine: Engine, options: MendToolOptions = .init(), agent: String? = nil) async -> MendMCPServer {
        let tools = MendTools(engine: engine, options: options)
        let session = ClientSession()
        let server = Server(
            name: options.serverName, version: options.serverVersion, title: "Mend", instructions: MendMCP.instructions,
            capabilities: .init(
                prompts: .init(listChanged: false), resources: .init(subscribe: false, listChanged: false),
                tools: .init(listChanged: false)))

        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: MendTools.definitions) }
        let ref = ServerRef(server)
        await server.withMethodHandler(CallTool.self) { params in
            let name = await session.name ?? options.defaultClientName
            var caller = ToolCaller(clientName: name, agent: agent)
            if await session.canElicit {
                caller.elicit = { message, schema in
                    guard let server = ref.server else { throw MCPError.internalError("the MCP server has stopped") }
                    return try await server.requestElicitation(message: message, requestedSchema: schema)
                }
            }
            return await tools.call(params.name, arguments: params.arguments, caller: caller)
        }
        await server.withMethodHandler(ListResources.self) { _ in
            ListResources.Result(resources: try await protocolError { try await tools.listResources() })
        }
        await server.withMethodHandler(ListResourceTemplates.self) { _ in
            ListResourceTemplates.Result(templates: MendTools.resourceTemplates)
        }
        await server.withMethodHandler(ReadResource.self) { params in
            ReadResource.Result(contents: try await protocolError { try await tools.readResource(uri: params.uri) })
        }
        await server.withMethodHandler(ListPrompts.self) { _ in ListPrompts.Result(prompts: MendTools.prompts) }
        await server.withMethodHandler(GetPrompt.self) { params in
            try await protocolError { try await tools.prompt(name: params.name, arguments: params.arguments) }
        }
        return MendMCPServer(server: server, tools: tools, session: session)
    }
}

/// The server as its own handlers see it: weak, so that server → handler → server is
/// not a cycle that would keep every HTTP session's server alive.
final class ServerRef: Sendable {
    weak let server: Server?
    init(_ server: Server) { self.server = server }
}

/// Resource and prompt failures travel as JSON-RPC errors; the SDK would turn a
/// non-MCP error into "internal error" with Foundation's generic text, so Mend's own
/// message is carried as invalid params (what the caller asked for does not exist).
func protocolError<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as MCPError {
        throw e
    } catch {
        throw MCPError.invalidParams(MendTools.message(error))
    }
}
