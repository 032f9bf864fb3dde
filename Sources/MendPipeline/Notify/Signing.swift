import Crypto
public import Foundation
import MendCore

/// The body signature a receiver checks: `Mend-Signature: t=UNIX,v1=HEX`, where HEX is
/// HMAC-SHA256 of `"\(t).\(body)"` under the endpoint's secret. The timestamp is inside
/// the MAC, so a captured request cannot be replayed later with a fresh time.
public enum WebhookSignature {
    public static let header = "Mend-Signature"
    /// How far a receiver should let the timestamp be from its clock.
    public static let tolerance: TimeInterval = 300

    public static func sign(body: Data, secret: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(mac(body: body, secret: secret, timestamp: timestamp))"
    }

    static func mac(body: Data, secret: String, timestamp: Int64) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// What a receiver does: parse the header, refuse an old timestamp, compare in constant time.
    public static func verify(header value: String, body: Data, secret: String, now: Date = Date()) -> Bool {
        var t: Int64?
        var v1: [String] = []
        for part in value.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { continue }
            if kv[0] == "t" { t = Int64(kv[1]) }
            if kv[0] == "v1" { v1.append(kv[1]) }
        }
        guard let t, abs(now.timeIntervalSince1970 - Double(t)) <= tolerance else { return false }
        let expected = mac(body: body, secret: secret, timestamp: t)
        return v1.contains { constantTimeEquals($0, expected) }
    }
}

/// Links to the dashboard's incident page. A signed link (`?plan=P&exp=T&sig=HEX`) is
/// bound to the incident and the plan it was sent for, and expires: the page it opens says
/// when the plan has changed or the link is old, and then offers nothing to approve. The
/// link is not a credential; the person still logs in (docs/security.md).
public struct ApprovalLinks: Sendable {
    /// Where people reach the dashboard, e.g. https://mend.example.com (no trailing slash).
    public let publicURL: String
    /// The HMAC key, as bytes (SymmetricKey is not Sendable); nil: plain links only.
    let key: [UInt8]?
    public let lifetime: TimeInterval
    public static let defaultLifetime: TimeInterval = 7 * 24 * 3600
    public static let minimumKeyLength = 16

    public init(publicURL: String, key: String?, lifetime: TimeInterval = ApprovalLinks.defaultLifetime) {
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        self.publicURL = base
        self.key = key.map { Array($0.utf8) }
        self.lifetime = lifetime
    }

    /// A link key made for this process only: links die with it.
    public static func randomKey() -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    public var canSign: Bool { key != nil }

    public func page(incident: Int64) -> String { "\(publicURL)/incidents/\(incident)" }

    public func signed(incident: Int64, plan: Int64, now: Date = Date()) -> (String, Date) {
        let expires = Int64((now.timeIntervalSince1970 + lifetime).rounded(.down))
        let sig = signature(incident: incident, plan: plan, expires: expires)
        return ("\(page(incident: incident))?plan=\(plan)&exp=\(expires)&sig=\(sig)", Date(timeIntervalSince1970: Double(expires)))
    }

    func signature(incident: Int64, plan: Int64, expires: Int64) -> String {
        let message = Data("mend-approval-link-v1\n\(incident)\n\(plan)\n\(expires)".utf8)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key ?? []))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    public enum Check: Sendable, Equatable {
        /// Genuine and unexpired: it was sent for this plan.
        case valid(plan: Int64, expires: Date)
        case expired(plan: Int64, at: Date)
        /// Not made with this server's key (edited, or from another key).
        case forged
        /// The query has no link in it (a plain visit).
        case none
    }

    /// Checks the link parameters of a request for incident `incident`.
    public func check(incident: Int64, query: [String: String], now: Date = Date()) -> Check {
        guard let p = query["plan"], let e = query["exp"], let s = query["sig"] else {
            return query["sig"] == nil && query["plan"] == nil ? .none : .forged
        }
        guard key != nil, let plan = Int64(p), let expires = Int64(e),
            constantTimeEquals(s, signature(incident: incident, plan: plan, expires: expires))
        else { return .forged }
        let at = Date(timeIntervalSince1970: Double(expires))
        return now > at ? .expired(plan: plan, at: at) : .valid(plan: plan, expires: at)
    }
}
