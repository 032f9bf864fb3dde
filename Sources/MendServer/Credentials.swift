import Foundation
import MendCore

/// The three kinds of credential `mend serve` accepts, kept apart so that holding one
/// never grants another's power (docs/security.md):
/// - ingest tokens only send records;
/// - agent tokens reach MCP at /mcp, to read and propose;
/// - approvers are people, each with a token of their own (or named by a trusted
///   reverse proxy), and only they log in to the dashboard and decide on plans.
public struct Credentials: Sendable {
    public enum Role: Sendable, Equatable {
        case ingest
        case agent(String)
        case approver(String)
    }

    public var ingest: [String]
    /// token → agent name
    public var agents: [String: String]
    /// token → person
    public var approvers: [String: String]
    /// A header, set by a reverse proxy that authenticated the person, naming them.
    public var trustedUserHeader: String?
    /// Peer addresses whose `trustedUserHeader` is believed; from anywhere else it is ignored.
    public var trustedProxies: Set<String>

    public static let minimumTokenLength = 16

    public init(
        ingest: [String], agents: [String: String] = [:], approvers: [String: String] = [:], trustedUserHeader: String? = nil,
        trustedProxies: Set<String> = []
    ) throws(CredentialError) {
        self.ingest = ingest
        self.agents = agents
        self.approvers = approvers
        self.trustedUserHeader = trustedUserHeader?.lowercased()
        self.trustedProxies = trustedProxies
        try validate()
    }

    /// The role a bearer token grants. Every token is compared in constant time, so the
    /// timing of a reply says nothing about which list a guess came close to.
    public func role(ofBearer token: String) -> Role? {
        var found: Role?
        for t in ingest where constantTimeEquals(token, t) { found = .ingest }
        for (t, name) in agents where constantTimeEquals(token, t) { found = .agent(name) }
        for (t, name) in approvers where constantTimeEquals(token, t) { found = .approver(name) }
        return found
    }

    /// The person a trusted proxy names, if the request came from one.
    public func proxiedPerson(header value: String?, from peer: String?) -> String? {
        guard trustedUserHeader != nil, let peer, trustedProxies.contains(peer), let value else { return nil }
        let name = value.trimmingCharacters(in: .whitespaces)
        return Self.validName(name) ? name : nil
    }

    static func validName(_ name: String) -> Bool {
        (1...64).contains(name.count) && !name.contains { $0.isNewline || $0 == ":" || $0 == "," || $0 == "\u{0}" }
    }

    private func validate() throws(CredentialError) {
        guard !ingest.isEmpty else { throw .missing("an ingest token (MEND_TOKEN)") }
        var seen = Set<String>()
        let all = ingest.map { ("ingest token", $0) } + agents.map { ("agent '\($1)'", $0) } + approvers.map { ("approver '\($1)'", $0) }
        for (what, token) in all {
            guard token.count >= Self.minimumTokenLength else { throw .tooShort(what) }
            guard seen.insert(token).inserted else { throw .shared(what) }
        }
        for name in Array(agents.values) + Array(approvers.values) where !Self.validName(name) {
            throw .badName(name)
        }
        if trustedUserHeader != nil, trustedProxies.isEmpty { throw .proxyHeaderWithoutProxy }
    }

    /// Reads `name:token` lines (blank lines and `#` comments skipped), from a file or
    /// from an environment variable where entries may also be separated by commas.
    public static func namedTokens(_ text: String, source: String) throws(CredentialError) -> [String: String] {
        var out: [String: String] = [:]
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "," }).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else { throw .badLine(source, n + 1) }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let token = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard validName(name), !token.isEmpty else { throw .badLine(source, n + 1) }
            guard out[token] == nil else { throw .shared("'\(name)' in \(source)") }
            out[token] = name
        }
        return out
    }

    /// A token file must be readable by its owner only: it holds people's credentials.
    public static func readTokenFile(_ path: String) throws(CredentialError) -> [String: String] {
        let attributes: [FileAttributeKey: Any]
        let text: String
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path)
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw .tooOpen(path, mode)
        }
        return try namedTokens(text, source: path)
    }
}

public enum CredentialError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case tooShort(String)
    case shared(String)
    case badName(String)
    case badLine(String, Int)
    case unreadable(String)
    case tooOpen(String, Int)
    case proxyHeaderWithoutProxy

    public var description: String {
        switch self {
        case .missing(let what): "set \(what): a secret of at least 16 characters, e.g. `openssl rand -hex 24`"
        case .tooShort(let what):
            "the token of \(what) is shorter than \(Credentials.minimumTokenLength) characters: use `openssl rand -hex 24`"
        case .shared(let what):
            "the token of \(what) is also used elsewhere: every credential needs its own token, or one would carry another's power"
        case .badName(let name): "'\(name)' is not a usable name: 1 to 64 characters, without ':', ',' or line breaks"
        case .badLine(let source, let line): "\(source), entry \(line): expected `name:token`"
        case .unreadable(let path): "cannot read the token file \(path): check the path and its permissions"
        case .tooOpen(let path, let mode):
            "the token file \(path) is readable by others (mode \(String(mode, radix: 8))): run `chmod 600 \(path)`"
        case .proxyHeaderWithoutProxy:
            "--trusted-user-header needs --trusted-proxy ADDRESS: the header is believed only from that proxy"
        }
    }
}
