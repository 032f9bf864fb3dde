import Crypto
import Foundation

/// Dashboard sessions, in memory: a restart logs everyone out, which is the safe default.
actor SessionStore {
    struct Session: Sendable {
        let id: String
        /// Who logged in, as they named themselves; it goes into the audit log.
        let user: String
        /// Must come back in every POST form (synchronizer-token CSRF protection).
        let csrf: String
        let expires: Date
    }

    private var sessions: [String: Session] = [:]
    private var throttle = LoginThrottle()
    let lifetime: TimeInterval

    /// Nil when a login may be tried, else the seconds until one may.
    func loginRetryAfter() -> TimeInterval? { throttle.retryAfter(now: Date()) }
    func loginFailed() { throttle.failed(now: Date()) }

    init(lifetime: TimeInterval) { self.lifetime = lifetime }

    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    func create(user: String) -> Session {
        let now = Date()
        sessions = sessions.filter { $0.value.expires > now }
        let s = Session(id: Self.random(), user: user, csrf: Self.random(), expires: now.addingTimeInterval(lifetime))
        sessions[s.id] = s
        return s
    }

    func find(_ id: String?) -> Session? {
        guard let id, let s = sessions[id], s.expires > Date() else { return nil }
        return s
    }

    func remove(_ id: String) { sessions.removeValue(forKey: id) }
}
