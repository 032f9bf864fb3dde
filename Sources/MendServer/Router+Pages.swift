import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore

/// The dashboard pages (server-rendered and escaped; the live view's one script is optional).
extension MendRouter {

    func csrf(_ who: Principal) -> String? {
        if case .person(let p) = who { return p.csrf }
        return nil
    }

    func user(_ who: Principal) -> String? {
        if case .person(let p) = who { return p.name }
        return nil
    }

    /// The navigation bar's count of plans waiting for a person; nil for callers who are not
    /// people (they see no navigation bar worth counting for).
    func pendingCount(_ who: Principal) async throws -> Int? {
        guard case .person = who else { return nil }
        return try await engine.liveSummary().pendingApprovals
    }

    func overview(_ who: Principal) async throws -> ServerResponse {
        let now = Date().timeIntervalSince1970
        let data = try await engine.dashboard(now: now)
        return .html(200, Pages.overview(data, now: now, user: user(who), csrf: csrf(who)))
    }

    func incidentPage(_ id: Int64, _ who: Principal, query: [String: String] = [:]) async throws -> ServerResponse {
        let (incident, samples, plans) = try await engine.incidentDetail(id, samples: 5)
        let notice = await linkNotice(incident: id, query: query, current: plans.last)
        let times = try await engine.incidentTimes(id)
        let schema = try await engine.schema(table: incident.table)?.0
        return .html(
            200,
            Pages.incident(
                incident, samples: samples, plans: plans, user: user(who), csrf: csrf(who), link: notice,
                pending: try await pendingCount(who), times: times, schema: schema))
    }

    static let auditPageSize = 200

    /// One page of the log (`?before=SEQ` for older ones) and the chain verified from the
    /// last checkpoint: the cost of a view is the page plus what was written since the last.
    func auditPage(_ r: ServerRequest, _ who: Principal) async throws -> ServerResponse {
        let before = r.query["before"].flatMap(Int64.init)
        let entries = try await engine.auditPage(before: before, limit: Self.auditPageSize)
        let report = try await engine.verifyAudit()
        return .html(
            200,
            Pages.audit(
                entries: entries, report: report, before: before, user: user(who), csrf: csrf(who), pending: try await pendingCount(who)))
    }

    func schemaPage(_ table: String, _ who: Principal) async throws -> ServerResponse {
        guard let (schema, keys, _) = try await engine.schema(table: table) else {
            return .html(404, Pages.errorPage(status: 404, message: "No table \(table) is managed by Mend."))
        }
        let changes = try await engine.schemaChanges(table: table)
        return .html(
            200,
            Pages.schema(
                schema, sourceKeys: keys, changes: changes, user: user(who), csrf: csrf(who), pending: try await pendingCount(who),
                children: try await engine.childTables(of: table)))
    }
}
