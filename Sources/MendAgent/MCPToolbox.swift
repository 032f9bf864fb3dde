import Foundation
import MCP

/// Mend's tools as the agent reaches them: an MCP client connected (in process) to
/// the same tool registry the MCP server exposes, so the built-in agent and an
/// outside agent pass the same code. Only read-only tools are offered to the model.
public struct MCPToolbox: Sendable {
    public let client: Client
    /// Tools the model may call, when the server offers them.
    public var allowed: Set<String>

    /// Read-only tools: they inspect state or dry-run a plan, and change nothing.
    public static let readOnly: Set<String> = [
        "list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan",
        "query_audit", "pipeline_stats",
    ]
    /// Tools that change state. Never offered, and refused by name if the model asks,
    /// whatever the allow-list says: the model cannot approve or apply its own plan.
    public static let mutating: Set<String> = [
        "apply_plan", "approve_plan", "reject_plan", "quarantine_records", "replay_incident", "repair_incident",
        "ingest", "ingest_records", "set_policy", "submit_plan_for_approval",
    ]

    public init(client: Client, allowed: Set<String> = MCPToolbox.readOnly) {
        self.client = client
        self.allowed = allowed.subtracting(MCPToolbox.mutating)
    }

    /// A toolbox that offers no tools, for a model that cannot call them (MCP sampling in
    /// text mode, see ``SamplingProvider``). Its client is never connected or used.
    public static func none() -> MCPToolbox {
        MCPToolbox(client: Client(name: "mend-no-tools", version: "0"), allowed: [])
    }

    /// Connects a new client to `server` over an in-memory transport and starts the server.
    public static func connect(to server: Server, clientName: String = "mend-agent") async throws -> Client {
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverSide)
        let client = Client(name: clientName, version: "0.1")
        _ = try await client.connect(transport: clientSide)
        return client
    }

    /// The allowed tools the server offers, as the model will see them. Listed once per
    /// toolbox: Mend's registry does not change while it runs (listChanged: false).
    public func specs() async throws -> [ToolSpec] {
        // Nothing allowed, nothing to list: such a toolbox's client may never connect (``none()``).
        if allowed.isEmpty { return [] }
        if let cached = cache.value { return cached }
        let listed = try await list()
        cache.value = listed
        return listed
    }

    private let cache = Locked<[ToolSpec]?>(nil)

    private func list() async throws -> [ToolSpec] {
        var out: [ToolSpec] = []
        var cursor: String?
        for _ in 0..<20 {  // bounded paging
            let page = try await client.listTools(cursor: cursor)
            for t in page.tools where allowed.contains(t.name) && !MCPToolbox.mutating.contains(t.name) {
                out.append(ToolSpec(name: t.name, description: t.description ?? t.name, inputSchema: t.inputSchema))
            }
            guard let next = page.nextCursor else { break }
            cursor = next
        }
        return out
    }

    /// Calls a tool and returns its text contents and whether it reported an error.
    public func call(_ name: String, arguments: [String: Value], timeout: Duration) async throws -> (texts: [String], isError: Bool) {
        let client = self.client
        let result: (content: [Tool.Content], isError: Bool?) = try await withDeadline(timeout, what: "tool \(name)") {
            try await client.callTool(name: name, arguments: arguments)
        }
        let texts = result.content.compactMap { c -> String? in
            switch c {
            case .text(let t, _, _): t
            case .resource(let r, _, _): r.text
            default: nil
            }
        }
        return (texts, result.isError ?? false)
    }
}

/// A value shared between tasks behind a lock: the tool list cache here, the client's
/// reported model in SamplingProvider. A lock, not an actor, because readers are sync.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get {
            lock.lock()
            defer { lock.unlock() }
            return stored
        }
        set {
            lock.lock()
            stored = newValue
            lock.unlock()
        }
    }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    var what: String
    var after: Duration
    var description: String { "\(what) did not finish within \(after)" }
}

/// Runs `operation` and gives up after `timeout`, even if the operation ignores
/// cancellation (a task group would wait for it; this abandons it).
func withDeadline<T: Sendable>(
    _ timeout: Duration, what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = Once<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
            once.set(continuation: k)
            let work = Task {
                do { once.finish(.success(try await operation())) } catch { once.finish(.failure(error)) }
            }
            let timer = Task {
                try await Task.sleep(for: timeout)
                once.finish(.failure(DeadlineExceeded(what: what, after: timeout)))
            }
            once.set(cancellers: [{ work.cancel() }, { timer.cancel() }])
        }
    } onCancel: {
        once.finish(.failure(CancellationError()))
    }
}

/// Resumes a continuation exactly once, then cancels the tasks racing for it.
final class Once<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    private var continuation: CheckedContinuation<T, any Error>?
    private var cancellers: [@Sendable () -> Void] = []
    private var resumed = false

    func set(continuation k: CheckedContinuation<T, any Error>) {
        lock.lock()
        continuation = k
        let r = result
        if r != nil { resumed = true }
        lock.unlock()
        if let r { k.resume(with: r) }
    }

    func set(cancellers c: [@Sendable () -> Void]) {
        lock.lock()
        let finished = result != nil
        if !finished { cancellers = c }
        lock.unlock()
        if finished { c.forEach { $0() } }
    }

    func finish(_ r: Result<T, any Error>) {
        lock.lock()
        guard result == nil else {
            lock.unlock()
            return
        }
        result = r
        let k = resumed ? nil : continuation
        if k != nil { resumed = true }
        let c = cancellers
        cancellers = []
        lock.unlock()
        k?.resume(with: r)
        c.forEach { $0() }
    }
}
