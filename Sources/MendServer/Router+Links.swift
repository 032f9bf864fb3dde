import Foundation
import MendCore
import MendPipeline
import MendStore

/// What the incident page says about the signed link it was opened with (issue 16).
struct LinkNotice: Sendable {
    /// The link still describes the plan waiting for approval; false: the page offers no decision.
    var holds: Bool
    var message: String

    var html: String {
        #"<p class="\#(holds ? "ok" : "bad")" id="link-notice">\#(h(message))</p>"#
    }
}

/// Signed links from notifications: where they land, and what they are still good for.
extension MendRouter {
    /// The login page, remembering where a person was going (a link from a notification).
    static func loginPath(_ route: Route, query: [String: String]) -> String {
        guard case .incident(let id) = route, Int64(id) != nil else { return "/login" }
        var target = "/incidents/\(id)"
        let keys = ["plan", "exp", "sig"].filter { query[$0] != nil }
        if !keys.isEmpty { target += "?" + keys.map { "\($0)=\(u(query[$0] ?? ""))" }.joined(separator: "&") }
        return "/login?next=" + u(target)
    }

    /// A `next` that stays on this site: a path, never `//host` or a scheme (no open redirect).
    static func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
            !next.contains(where: { $0.isNewline || $0 == "\u{0}" }), next.count <= 512
        else { return nil }
        return next
    }

    /// Checks a signed link against the key and the incident's current plan.
    func linkNotice(incident: Int64, query: [String: String], current: StoredPlan?) async -> LinkNotice? {
        guard query["sig"] != nil || query["plan"] != nil else { return nil }
        guard let links = await engine.links, links.canSign else {
            return LinkNotice(
                holds: false,
                message:
                    "This server cannot check approval links (start mend serve with --public-url and MEND_LINK_KEY): the link approves nothing. Review the plan below."
            )
        }
        switch links.check(incident: incident, query: query) {
        case .none: return nil
        case .forged:
            return LinkNotice(
                holds: false, message: "This link is not genuine (edited, or signed with another key): it approves nothing.")
        case .expired(let plan, let at):
            return LinkNotice(
                holds: false,
                message:
                    "This link for plan #\(plan) expired at \(Pages.date(at)): it approves nothing. Open the incident without the link to review its current plan."
            )
        case .valid(let plan, let expires):
            guard let current, current.plan.id == plan, current.plan.status == .pendingApproval else {
                let now = current.map { "plan #\($0.plan.id) is \($0.plan.status.rawValue)" } ?? "it has no plan"
                return LinkNotice(
                    holds: false,
                    message:
                        "This link was sent for plan #\(plan), but the plan has changed since (\(now)): it approves nothing. Review the incident as it is now."
                )
            }
            return LinkNotice(
                holds: true,
                message: "This link is for plan #\(plan), which still waits for approval (link valid until \(Pages.date(expires))).")
        }
    }
}
