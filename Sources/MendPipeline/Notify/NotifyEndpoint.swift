import Crypto
public import Foundation
import Yams

/// Where notifications go: from the policy file's `notify:` list, or `--notify URL`.
public struct NotifyEndpoint: Sendable, Equatable {
    public enum Format: String, Sendable, Codable, CaseIterable {
        /// A versioned CloudEvents 1.0 envelope (structured mode) with every fact.
        case json
        /// A Slack incoming-webhook message with blocks.
        case slack
    }

    public var url: String
    public var format: Format
    /// Only these kinds are sent; nil: all of them.
    public var events: Set<NotifyKind>?
    /// Signs the body (docs/security.md, "Notifications"). Never printed or audited.
    public var secret: String?

    public init(url: String, format: Format = .json, events: Set<NotifyKind>? = nil, secret: String? = nil) throws(NotifyConfigError) {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https", u.host != nil
        else { throw .badURL(Self.redacted(url)) }
        if let secret, secret.count < 16 { throw .shortSecret(Self.redacted(url)) }
        self.url = url
        self.format = format
        self.events = events
        self.secret = secret
    }

    public func wants(_ kind: NotifyKind) -> Bool { events?.contains(kind) ?? true }

    /// The endpoint as logs and the audit may show it: scheme, host and port, and a digest
    /// of the whole URL. A Slack webhook's path and a query's token are secrets.
    public var shown: String { Self.redacted(url) }

    public static func redacted(_ url: String) -> String {
        let digest = SHA256.hash(data: Data(url.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        guard let u = URL(string: url), let scheme = u.scheme, let host = u.host else { return "(not a URL, sha256 \(digest))" }
        let port = u.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)/… (sha256 \(digest))"
    }

    /// `--notify URL`: json, unless the URL is a Slack webhook or says `slack:URL`
    /// (`json:URL` forces json). The secret, if any, comes from MEND_NOTIFY_SECRET.
    public static func parse(option: String, secret: String?) throws(NotifyConfigError) -> NotifyEndpoint {
        var text = option.trimmingCharacters(in: .whitespaces)
        var format: Format?
        for f in Format.allCases where text.lowercased().hasPrefix(f.rawValue + ":") {
            format = f
            text = String(text.dropFirst(f.rawValue.count + 1))
        }
        let slackHost = URL(string: text)?.host?.lowercased() == "hooks.slack.com"
        return try NotifyEndpoint(url: text, format: format ?? (slackHost ? .slack : .json), secret: secret)
    }

    /// The `notify:` list of a policy file (the rest of the file is the policy's).
    public static func load(policyPath path: String) throws(NotifyConfigError) -> [NotifyEndpoint] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return try parse(policyYAML: String(decoding: data, as: UTF8.self), name: path)
    }

    public static func parse(
        policyYAML yaml: String, name: String = "policy file", environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(NotifyConfigError) -> [NotifyEndpoint] {
        let root: Any?
        do { root = try Yams.load(yaml: yaml) } catch { throw .invalid(name, "not valid YAML") }
        guard let map = root as? [String: Any], let list = map["notify"] else { return [] }
        guard let items = list as? [Any] else { throw .invalid(name, "notify: must be a list of endpoints") }
        var out: [NotifyEndpoint] = []
        for (n, item) in items.enumerated() {
            let at = "notify[\(n)]"
            guard let e = item as? [String: Any] else { throw .invalid(name, "\(at) must be a map with url, format, events, secret") }
            if let unknown = e.keys.first(where: { !["url", "format", "events", "secret", "secret_env"].contains($0) }) {
                throw .invalid(name, "\(at) has an unknown key '\(unknown)' (url, format, events, secret, secret_env)")
            }
            guard let url = e["url"] as? String else { throw .invalid(name, "\(at) needs url: https://…") }
            let formatText = (e["format"] as? String) ?? "json"
            guard let format = Format(rawValue: formatText) else {
                throw .invalid(name, "\(at).format is json or slack, not '\(formatText)'")
            }
            var events: Set<NotifyKind>?
            if let raw = e["events"] {
                guard let names = raw as? [String] else { throw .invalid(name, "\(at).events must be a list") }
                var kinds = Set<NotifyKind>()
                for k in names {
                    guard let kind = NotifyKind(rawValue: k) else {
                        throw .invalid(
                            name, "\(at).events: unknown event '\(k)'; use \(NotifyKind.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    kinds.insert(kind)
                }
                events = kinds
            }
            var secret = e["secret"] as? String
            if let variable = e["secret_env"] as? String {
                guard let value = environment[variable] else { throw .invalid(name, "\(at).secret_env: \(variable) is not set") }
                secret = value
            }
            do {
                out.append(try NotifyEndpoint(url: url, format: format, events: events, secret: secret))
            } catch {
                throw .invalid(name, "\(at): \(error)")
            }
        }
        return out
    }
}

public enum NotifyConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case badURL(String)
    case shortSecret(String)
    case unreadable(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .badURL(let u): "the notification endpoint \(u) is not an http:// or https:// URL with a host"
        case .shortSecret(let u):
            "the secret of the notification endpoint \(u) is shorter than 16 characters: use `openssl rand -hex 24`"
        case .unreadable(let path): "cannot read the policy file \(path) for its notify: list; check the path"
        case .invalid(let name, let why): "\(name): \(why)"
        }
    }
}
