public import Foundation

/// An API key. It is held in memory only: its description is redacted, so string
/// interpolation, `print` or an error message cannot leak it.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let secret: String
    public init(_ secret: String) { self.secret = secret }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// `dump` and debuggers walk mirrors, not descriptions: show them nothing.
    public var customMirror: Mirror { Mirror(self, children: []) }

    /// Removes the key from text that came from elsewhere (a provider's error body).
    func scrub(_ text: String) -> String {
        guard !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: secret, with: "<redacted>")
    }
}

public enum ProviderKind: String, Sendable, CaseIterable {
    case anthropic, openai
}

/// How many times and how patiently to retry a provider that answers 429 or 5xx,
/// or cannot be reached.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt.
    public var maxRetries: Int
    /// First backoff; doubles each retry.
    public var baseDelay: Duration
    /// No single wait is longer, whatever Retry-After says.
    public var maxDelay: Duration

    public init(maxRetries: Int = 3, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30)) {
        self.maxRetries = max(0, maxRetries)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Exponential backoff with up to 20% jitter, so that many workers do not retry in step.
    func backoff(attempt: Int) -> Duration {
        let base = baseDelay * (1 << min(max(attempt - 1, 0), 16))
        let jittered = base + base * Double.random(in: 0...0.2)
        return min(jittered, maxDelay)
    }
}

/// Limits on one planning conversation. Each one ends the loop with an error that
/// says which limit was hit; the Engine then falls back to the rules planner.
public struct AgentLimits: Sendable {
    /// Model round trips.
    public var maxTurns: Int
    /// Tokens in + out over the whole conversation.
    public var maxTotalTokens: Int
    /// Upper bound on each reply.
    public var maxReplyTokens: Int
    /// Wall-clock time for the whole conversation, tool calls included.
    public var wallClock: Duration
    /// Wall-clock time for one provider request (retries included), within `wallClock`.
    public var requestTimeout: Duration
    /// Time for one MCP tool call.
    public var toolTimeout: Duration

    public init(
        maxTurns: Int = 8, maxTotalTokens: Int = 60_000, maxReplyTokens: Int = 2_048, wallClock: Duration = .seconds(120),
        requestTimeout: Duration = .seconds(60), toolTimeout: Duration = .seconds(30)
    ) {
        self.maxTurns = maxTurns
        self.maxTotalTokens = maxTotalTokens
        self.maxReplyTokens = maxReplyTokens
        self.wallClock = wallClock
        self.requestTimeout = requestTimeout
        self.toolTimeout = toolTimeout
    }
}

/// Prices in USD per million tokens, for the cost estimate stored with each plan.
public struct PriceTable: Sendable {
    public struct Price: Sendable, Equatable {
        public var input: Double
        public var output: Double
        public init(input: Double, output: Double) {
            self.input = input
            self.output = output
        }
    }

    /// Model-name prefixes, longest match wins. List prices at the time of writing; an
    /// unknown model (a local one, say) costs 0 unless MEND_LLM_PRICE_IN/OUT say otherwise.
    public var prices: [String: Price]
    /// Overrides the table for every model when set.
    public var override: Price?

    public static let defaults: [String: Price] = [
        "claude-opus-4": Price(input: 15, output: 75),
        "claude-sonnet-4": Price(input: 3, output: 15),
        "claude-3-7-sonnet": Price(input: 3, output: 15),
        "claude-3-5-sonnet": Price(input: 3, output: 15),
        "claude-haiku-4": Price(input: 1, output: 5),
        "claude-3-5-haiku": Price(input: 0.8, output: 4),
        "gpt-4o-mini": Price(input: 0.15, output: 0.6),
        "gpt-4o": Price(input: 2.5, output: 10),
        "gpt-4.1-nano": Price(input: 0.1, output: 0.4),
        "gpt-4.1-mini": Price(input: 0.4, output: 1.6),
        "gpt-4.1": Price(input: 2, output: 8),
        "gpt-5-nano": Price(input: 0.05, output: 0.4),
        "gpt-5-mini": Price(input: 0.25, output: 2),
        "gpt-5": Price(input: 1.25, output: 10),
        "o4-mini": Price(input: 1.1, output: 4.4),
        "o3": Price(input: 2, output: 8),
    ]

    public init(prices: [String: Price] = PriceTable.defaults, override: Price? = nil) {
        self.prices = prices
        self.override = override
    }

    public func price(for model: String) -> Price {
        if let override { return override }
        let m = model.lowercased()
        let match = prices.keys.filter { m.hasPrefix($0) || m.contains("/" + $0) }.max { $0.count < $1.count }
        return match.flatMap { prices[$0] } ?? Price(input: 0, output: 0)
    }

    public func cost(model: String, usage: TokenUsage) -> Double {
        let p = price(for: model)
        return (Double(usage.input) * p.input + Double(usage.output) * p.output) / 1_000_000
    }
}

/// Everything needed to talk to a provider, read from the environment:
/// MEND_LLM_PROVIDER (anthropic | openai), MEND_LLM_BASE_URL, MEND_LLM_MODEL,
/// ANTHROPIC_API_KEY or OPENAI_API_KEY, MEND_LLM_PRICE_IN / MEND_LLM_PRICE_OUT,
/// MEND_LLM_MAX_TURNS, MEND_LLM_MAX_TOKENS, MEND_LLM_TIMEOUT (seconds, whole
/// conversation), MEND_LLM_REQUEST_TIMEOUT (seconds, one request), MEND_LLM_RETRIES.
public struct LLMConfig: Sendable {
    public var provider: ProviderKind
    public var baseURL: String
    public var model: String
    public var apiKey: APIKey?
    public var retry: RetryPolicy
    public var limits: AgentLimits
    public var prices: PriceTable

    public init(
        provider: ProviderKind, baseURL: String? = nil, model: String? = nil, apiKey: APIKey?, retry: RetryPolicy = .init(),
        limits: AgentLimits = .init(), prices: PriceTable = .init()
    ) {
        self.provider = provider
        self.baseURL = baseURL ?? LLMConfig.defaultBaseURL(provider)
        self.model = model ?? LLMConfig.defaultModel(provider)
        self.apiKey = apiKey
        self.retry = retry
        self.limits = limits
        self.prices = prices
    }

    public static func defaultBaseURL(_ p: ProviderKind) -> String {
        switch p {
        case .anthropic: "https://api.anthropic.com"
        case .openai: "https://api.openai.com/v1"
        }
    }

    public static func defaultModel(_ p: ProviderKind) -> String {
        switch p {
        case .anthropic: "claude-sonnet-4-5"
        case .openai: "gpt-4.1-mini"
        }
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> LLMConfig {
        func nonEmpty(_ k: String) -> String? { env[k].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
        func number(_ k: String) throws -> Double? {
            guard let s = nonEmpty(k) else { return nil }
            guard let d = Double(s), d.isFinite, d >= 0 else {
                throw LLMError.configuration("\(k)=\(s) is not a non-negative number")
            }
            return d
        }
        let providerName = nonEmpty("MEND_LLM_PROVIDER")?.lowercased() ?? "anthropic"
        guard let provider = ProviderKind(rawValue: providerName) else {
            throw LLMError.configuration(
                "MEND_LLM_PROVIDER=\(providerName) is not known; use anthropic or openai (OpenAI-compatible: Ollama, vLLM, llama.cpp)")
        }
        let key: APIKey?
        switch provider {
        case .anthropic:
            guard let k = nonEmpty("ANTHROPIC_API_KEY") else {
                throw LLMError.configuration("MEND_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY in the environment")
            }
            key = APIKey(k)
        case .openai:
            // Local OpenAI-compatible servers (Ollama, llama.cpp) need no key.
            key = nonEmpty("OPENAI_API_KEY").map(APIKey.init)
        }
        let base = nonEmpty("MEND_LLM_BASE_URL")
        if let base, URL(string: base)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw LLMError.configuration("MEND_LLM_BASE_URL=\(base) is not an http(s) URL")
        }
        var limits = AgentLimits()
        if let t = try number("MEND_LLM_MAX_TURNS") { limits.maxTurns = max(1, Int(t)) }
        if let t = try number("MEND_LLM_MAX_TOKENS") { limits.maxTotalTokens = max(1, Int(t)) }
        if let t = try number("MEND_LLM_TIMEOUT") { limits.wallClock = .milliseconds(Int(t * 1000)) }
        if let t = try number("MEND_LLM_REQUEST_TIMEOUT") { limits.requestTimeout = .milliseconds(Int(t * 1000)) }
        var retry = RetryPolicy()
        if let r = try number("MEND_LLM_RETRIES") { retry.maxRetries = Int(r) }
        var prices = PriceTable()
        let pin = try number("MEND_LLM_PRICE_IN")
        let pout = try number("MEND_LLM_PRICE_OUT")
        let model = nonEmpty("MEND_LLM_MODEL") ?? defaultModel(provider)
        if pin != nil || pout != nil {
            let table = prices.price(for: model)
            prices.override = .init(input: pin ?? table.input, output: pout ?? table.output)
        }
        return LLMConfig(
            provider: provider, baseURL: base, model: model, apiKey: key, retry: retry, limits: limits, prices: prices)
    }
}
