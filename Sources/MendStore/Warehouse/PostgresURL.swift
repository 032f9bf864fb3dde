public import Foundation
import MendCore

/// Connection settings parsed from
/// `postgres://USER:PASSWORD@HOST:PORT/DB?schema=NAME&sslmode=MODE&sslrootcert=PATH`.
///
/// Its `description` (and `debugDescription`, `dump`) never show a password: print
/// `PostgresURL.redacted(url)` or this value, never the URL text itself.
public struct PostgresURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// Schema of the target tables.
    public var schema: String
    /// Schema of Mend's own state (`_mend` unless `state_schema=` says otherwise).
    public var stateSchema: String
    /// Optional repair role: `repair_user=` / `repair_password=` (see `mend setup-roles`).
    public var repairUser: String?
    public var repairPassword: String?
    public var lockTimeoutMS: Int
    public var statementTimeoutMS: Int
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey` with libpq's meanings.
    public var tls: PostgresTLSSettings

    public init(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        let display = Self.redacted(url)
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw StoreError.badURL(display, "not a postgres:// URL (percent-encode @ : / ? # in the password)")
        }
        guard let host = c.host, !host.isEmpty else { throw StoreError.badURL(display, "the host is missing") }
        self.host = host
        port = c.port ?? 5432
        user = c.user ?? environment["PGUSER"] ?? "postgres"
        password = c.password ?? environment["PGPASSWORD"]
        let db = c.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        database = db.isEmpty ? user : db
        let q = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        schema = q["schema"] ?? "public"
        stateSchema = q["state_schema"] ?? "_mend"
        repairUser = q["repair_user"]
        repairPassword = q["repair_password"] ?? environment["MEND_REPAIR_PASSWORD"]
        lockTimeoutMS = Int(q["lock_timeout_ms"] ?? "") ?? 5_000
        statementTimeoutMS = Int(q["statement_timeout_ms"] ?? "") ?? 60_000
        for (name, value) in [("schema", schema), ("state_schema", stateSchema)] where !Identifier.isWellFormed(value) {
            throw StoreError.badURL(display, "\(name) '\(value)' must be a lowercase snake_case name")
        }
        do {
            tls = try PostgresTLSSettings(query: q, environment: environment)
        } catch {
            throw StoreError.badURL(display, error.why)
        }
    }

    /// The URL as it may be shown: `postgres://user:***@host:port/db?...`. Also this
    /// value's `description`.
    public var shown: String {
        var s = "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?schema=\(schema)"
        s += "&sslmode=\(tls.mode.rawValue)"
        return s
    }

    // MARK: redaction

    /// The one redaction function: `text` with every password a database URL can carry
    /// replaced by `***` (the user info after the first `:`, and the values of
    /// `password=`, `repair_password=`, `sslpassword=`). It works on text that is not a
    /// valid URL too, because a URL that fails to parse is the one an error message
    /// shows. When in doubt it hides more: everything up to the last `@` after `://`.
    public static func redacted(_ text: String) -> String {
        var out = text
        if let schemeEnd = out.range(of: "://") {
            let rest = out[schemeEnd.upperBound...]
            // The last @ of the whole text: a password with an unencoded `/`, `?` or `#`
            // still ends there, and a stray @ later only hides more.
            if let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                out.replaceSubrange(out.index(after: colon)..<at, with: "***")
            }
        } else if let at = out.lastIndex(of: "@"), let colon = out[..<at].firstIndex(of: ":") {
            // `postgres:user:pw@host` and other shapes without `//`: hide what follows the
            // second colon before the @ (the first one ends the scheme).
            let afterScheme = out[out.index(after: colon)..<at]
            if let second = afterScheme.firstIndex(of: ":") {
                out.replaceSubrange(out.index(after: second)..<at, with: "***")
            }
        }
        for name in ["password", "repair_password", "sslpassword"] {
            out = hideParameter(name, in: out)
        }
        return out
    }

    /// `name=value` (after `?`, `&` or `;`) becomes `name=***`.
    private static func hideParameter(_ name: String, in text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: name + "=") {
            let before = rest[..<r.lowerBound]
            let boundary = before.last.map { "?&; ".contains($0) } ?? false
            out += before + (name + "=")
            rest = rest[r.upperBound...]
            guard boundary else { continue }
            let end = rest.firstIndex(where: { $0 == "&" || $0 == "#" || $0 == " " || $0 == "'" || $0 == "\"" }) ?? rest.endIndex
            if end > rest.startIndex { out += "***" }
            rest = rest[end...]
        }
        return out + rest
    }

    /// `text` with each of `secrets` (non-empty) replaced by `***`: the last line of
    /// defence for messages from libraries, which Mend does not write itself.
    static func scrub(_ text: String, secrets: [String?]) -> String {
        var out = text
        for case let secret? in secrets where !secret.isEmpty {
            out = out.replacingOccurrences(of: secret, with: "***")
            let encoded = secret.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? secret
            if encoded != secret { out = out.replacingOccurrences(of: encoded, with: "***") }
        }
        return out
    }
}

extension PostgresURL: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { shown }
    public var debugDescription: String { shown }
    // `dump(config)` and `\(reflecting:)` walk the mirror: give them no password either.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "user": user, "password": password == nil ? "nil" : "***",
                "database": database, "schema": schema, "stateSchema": stateSchema,
                "repairUser": repairUser ?? "nil", "repairPassword": repairPassword == nil ? "nil" : "***",
                "tls": tls,
            ])
    }
}
