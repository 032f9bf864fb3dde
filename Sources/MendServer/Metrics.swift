import CoreMetrics
import Foundation
public import MendCore
public import MendPipeline
import MendStore
import Metrics
public import Prometheus

/// `/metrics`: swift-metrics instruments on a per-server Prometheus registry (not the
/// global MetricsSystem, so several servers in one test process do not share counts).
///
/// Pipeline totals come from Mend's state at scrape time, because `mend ingest` and
/// `mend approve` in other processes change the same database; counters advance by the
/// difference since the last scrape. Planner latency and HTTP requests are measured here.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let plannerLatency: CoreMetrics.Timer
    let httpRequests: @Sendable (String, Int) -> Void
    private let state = Tracker()

    static let repairBuckets: [Double] = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600]

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.valueHistogramBuckets["mend_time_to_repair_seconds"] = Self.repairBuckets
        f.durationHistogramBuckets["mend_planner_latency_seconds"] = [
            .milliseconds(1), .milliseconds(10), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15),
            .seconds(60),
        ]
        factory = f
        plannerLatency = CoreMetrics.Timer(label: "mend_planner_latency_seconds", factory: f)
        let factoryCopy = f
        httpRequests = { route, status in
            Counter(label: "mend_http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factoryCopy)
                .increment()
        }
    }

    /// Brings the pipeline instruments up to date with the database, then renders.
    /// While the database is away the pipeline figures cannot be read: the database's own
    /// gauges and counters are still exported, so the outage shows in the scrape.
    public func render(engine: Engine) async throws -> String {
        let health = engine.warehouse.health.snapshot
        Gauge(label: "mend_database_up", factory: factory).record(health.up ? 1 : 0)
        await state.advance("mend_database_reconnects_total", [], to: Int64(health.reconnects), factory: factory)
        await state.advance("mend_retries_total", [], to: Int64(health.retries), factory: factory)
        do {
            let snap = try await engine.metricsSnapshot()
            await state.update(snap, factory: factory)
        } catch let e as StoreError where e.isOutage {
            Gauge(label: "mend_database_up", factory: factory).record(0)
        }
        return registry.emitToString()
    }

    /// Remembers what has been exported, so counters only move forward by new work.
    actor Tracker {
        var seen: [String: Int64] = [:]
        var seenCost: [String: Double] = [:]
        var observedRepairs: Set<Int64> = []

        func advance(_ label: String, _ dims: [(String, String)], to total: Int64, factory: PrometheusMetricsFactory) {
            let key = label + dims.map { "|\($0.0)=\($0.1)" }.joined()
            let delta = total - seen[key, default: 0]
            let c = Counter(label: label, dimensions: dims, factory: factory)
            if delta > 0 {
                c.increment(by: delta)
                seen[key] = total
            }
        }

        func update(_ s: MetricsSnapshot, factory: PrometheusMetricsFactory) {
            advance("mend_records_input_total", [], to: s.input, factory: factory)
            // Loaded + parked + quarantined: moves both ways (a record deleted outside Mend), so a gauge.
            Gauge(label: "mend_records_accounted", factory: factory).record(s.accounted)
            advance("mend_records_loaded_total", [], to: s.loaded, factory: factory)
            advance("mend_records_quarantined_total", [], to: s.quarantined, factory: factory)
            advance("mend_incidents_opened_total", [], to: s.incidentsOpened, factory: factory)
            advance("mend_incidents_resolved_total", [], to: s.incidentsResolved, factory: factory)
            // Parked records leave when replayed: a gauge of what is parked now.
            Gauge(label: "mend_records_parked", factory: factory).record(s.parked)
            Gauge(label: "mend_incidents_open", factory: factory).record(s.openIncidents)
            for risk in Risk.allCases {
                advance("mend_repairs_applied_total", [("risk", risk.rawValue)], to: s.repairsByRisk[risk.rawValue] ?? 0, factory: factory)
            }
            let histogram = Recorder(label: "mend_time_to_repair_seconds", aggregate: true, factory: factory)
            for (id, seconds) in s.repairTimes where !observedRepairs.contains(id) {
                histogram.record(seconds)
                observedRepairs.insert(id)
            }
            for u in s.usage {
                let model = u.model.isEmpty ? "unknown" : u.model
                advance("mend_llm_tokens_total", [("model", model), ("direction", "in")], to: u.tokensIn, factory: factory)
                advance("mend_llm_tokens_total", [("model", model), ("direction", "out")], to: u.tokensOut, factory: factory)
                let delta = u.cost - seenCost[model, default: 0]
                if delta > 0 {
                    FloatingPointCounter(label: "mend_llm_cost_usd_total", dimensions: [("model", model)], factory: factory).increment(
                        by: delta)
                    seenCost[model] = u.cost
                }
            }
        }
    }
}

/// Times every planning attempt for `mend_planner_latency_seconds`, and passes token
/// usage through so the Engine still records what a metered planner spent.
public struct TimedPlanner: MeteredPlanner {
    public let inner: any Planner
    let timer: CoreMetrics.Timer

    public init(inner: any Planner, metrics: ServerMetrics) {
        self.inner = inner
        self.timer = metrics.plannerLatency
    }

    public var name: String { inner.name }

    public var readsRenameEvidence: Bool { inner.readsRenameEvidence }

    public func meteredPlan(incident: Incident, schema: TableSchema?) async -> (result: Result<Plan, any Error>, usage: PlannerUsage?) {
        await meteredPlan(incident: incident, schema: schema, renames: [:])
    }

    public func meteredPlan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async
        -> (result: Result<Plan, any Error>, usage: PlannerUsage?)
    {
        let clock = ContinuousClock()
        let start = clock.now
        defer {
            let d = clock.now - start
            timer.recordSeconds(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        if let metered = inner as? any MeteredPlanner {
            return await metered.meteredPlan(incident: incident, schema: schema, renames: renames)
        }
        do {
            return (.success(try await inner.plan(incident: incident, schema: schema, renames: renames)), nil)
        } catch {
            return (.failure(error), nil)
        }
    }
}
