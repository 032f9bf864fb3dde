import Foundation
public import MCP
import MendCore
public import MendPipeline
import MendPlanFormat
import MendStore

/// How a Mend MCP server behaves.
public struct MendToolOptions: Sendable {
    public var serverName: String
    public var serverVersion: String
    /// Audit name for a client that does not say who it is at initialize.
    public var defaultClientName: String
    /// Entries in the `mend://audit/recent` resource.
    public var recentAuditEntries: Int

    public init(
        serverName: String = "mend", serverVersion: String = MendMCP.version, defaultClientName: String = "unknown-client",
        recentAuditEntries: Int = 50
    ) {
        self.serverName = serverName
        self.serverVersion = serverVersion
        self.defaultClientName = defaultClientName
        self.recentAuditEntries = recentAuditEntries
    }
}

/// Who calls a tool, as learned at initialize.
public struct ToolCaller: Sendable {
    /// What the client called itself at initialize: self-declared, so never an identity.
    public var clientName: String
    /// The agent its token authenticated (`mend serve`'s agent tokens); nil over stdio,
    /// where the client runs as the operating-system user who started `mend mcp`.
    public var agent: String?
    /// Asks the person behind the client (MCP elicitation); nil when the client did not
    /// declare the capability.
    public var elicit: (@Sendable (_ message: String, _ schema: Elicitation.RequestSchema) async throws -> CreateElicitation.Result)?

    public init(
        clientName: String, agent: String? = nil,
        elicit: (@Sendable (_ message: String, _ schema: Elicitation.RequestSchema) async throws -> CreateElicitation.Result)? = nil
    ) {
        self.clientName = clientName
        self.agent = agent
        self.elicit = elicit
    }

    /// Who the policy's `mcp_approvers` names: the authenticated agent, else the client.
    public var identity: String { agent ?? clientName }

    /// The actor name written to the audit log and to plans.
    public var actor: String { "mcp:\(identity)" }
}

/// A tool call that cannot run as asked; the message says what to send instead.
public enum ToolError: Error, Sendable, CustomStringConvertible {
    case unknownTool(String)
    case invalidArgument(String)
    case refused(String)

    public var description: String {
        switch self {
        case .unknownTool(let n): "unknown tool '\(n)'; call tools/list to see Mend's tools"
        case .invalidArgument(let m): m
        case .refused(let m): m
        }
    }
}

/// The one tool registry of Mend: the MCP server serves it, and the built-in LLM agent
/// reaches the same tools through an in-process MCP client, so an outside agent and
/// the built-in one pass the same plan checks, guard, policy and audit.
public struct MendTools: Sendable {
    public let engine: Engine
    public let options: MendToolOptions

    public init(engine: Engine, options: MendToolOptions = .init()) {
        self.engine = engine
        self.options = options
    }

    /// Runs one tool and audits the call (tool, SHA-256 of the canonical arguments,
    /// client, ok/error). Failures come back as `isError` results with the reason, never
    /// as protocol errors, so an agent can read them and correct itself.
    public func call(_ name: String, arguments: [String: Value]?, caller: ToolCaller) async -> CallTool.Result {
        let args = arguments ?? [:]
        let outcome: ToolOutcome
        do {
            guard let tool = Self.byName[name] else { throw ToolError.unknownTool(name) }
            outcome = try await tool.call(ToolArguments(args), ToolContext(engine: engine, options: options, caller: caller))
        } catch {
            outcome = .failure(Self.message(error))
        }
        let digest = Engine.sha256Hex(JSON.canonical(.object(args)))
        let event = AuditEvent.toolCalled(
            tool: name, client: caller.clientName, argumentsSHA256: digest,
            error: outcome.isError ? String(outcome.summary.prefix(500)) : nil)
        do {
            try await engine.audit(event, actor: caller.actor)
        } catch {
            // The call's own state changes are audited by the engine; losing this entry is
            // reported to the operator, not turned into a failed call the agent would retry.
            FileHandle.standardError.write(Data("mend mcp: could not audit call of \(name): \(error)\n".utf8))
        }
        let content: [Tool.Content] = [
            .text(text: outcome.summary, annotations: nil, _meta: nil),
            .text(text: JSON.text(outcome.value), annotations: nil, _meta: nil),
        ]
        let structured: Value? = outcome.value
        let isError: Bool? = outcome.isError
        return CallTool.Result(content: content, structuredContent: structured, isError: isError, _meta: nil)
    }

    static func message(_ error: any Error) -> String {
        switch error {
        case let e as PlanValidationError: e.description
        case let e as ToolError: e.description
        case let e as PipelineError: e.description
        case let e as any CustomStringConvertible: e.description
        default: "\(error)"
        }
    }
}
