import Crypto
import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendStore

/// The dashboard pages (server-rendered, escaped, no JavaScript).
extension MendRouter {

    func csrf(_ who: Principal) -> String? {
        if case .person(let p) = who { return p.csrf }
        return nil
    }

    func user(_ who: Principal) -> String? {
        if case .person(let p) = who { return p.name }
        return nil
    }

    func overview(_ who: Principal) async throws -> ServerResponse {
        let stats = try await engine.stats()
        let incidents = try await engine.incidents()
        let times = try await engine.repairTimes().map(\.2)
        return .html(200, Pages.overview(stats: stats, incidents: incidents, repairSeconds: times, user: user(who), csrf: csrf(who)))
    }

    func incidentPage(_ id: Int64, _ who: Principal, query: [String: String] = [:]) async throws -> ServerResponse {
        let (incident, samples, plans) = try await engine.incidentDetail(id, samples: 5)
        let notice = await linkNotice(incident: id, query: query, current: plans.last)
        return .html(200, Pages.incident(incident, samples: samples, plans: plans, user: user(who), csrf: csrf(who), link: notice))
    }

    static let auditPageSize = 200

    /// One page of the log (`?before=SEQ` for older ones) and the chain verified from the
    /// last checkpoint: the cost of a view is the page plus what was written since the last.
    func auditPage(_ r: ServerRequest, _ who: Principal) async throws -> ServerResponse {
        let before = r.query["before"].flatMap(Int64.init)
        let entries = try await engine.auditPage(before: before, limit: Self.auditPageSize)
        let report = try await engine.verifyAudit()
        return .html(200, Pages.audit(entries: entries, report: report, before: before, user: user(who), csrf: csrf(who)))
    }

    func schemaPage(_ table: String, _ who: Principal) async throws -> ServerResponse {
        guard let (schema, keys, history) = try await engine.schema(table: table) else {
            return .html(404, Pages.errorPage(status: 404, message: "No table \(table) is managed by Mend."))
        }
        return .html(200, Pages.schema(schema, sourceKeys: keys, history: history, user: user(who), csrf: csrf(who)))
    }
}
