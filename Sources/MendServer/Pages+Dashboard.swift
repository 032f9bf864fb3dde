import Foundation
import MendCore
import MendPipeline
import MendStore

/// The overview's plots and the schema diffs: the dashboard's data turned into chart values
/// (Charts.swift draws them) and diff tables.
extension Pages {
    /// Per table, the last hour by minute and the last day by quarter hour, with the table's
    /// incidents marked where they opened.
    static func throughput(_ data: DashboardData, now: Double) -> String {
        let tables = data.stats.map(\.table)
        if tables.isEmpty { return "" }
        let byTable = Dictionary(grouping: data.minutes, by: \.table)
        let nowMinute = StateStore.minute(of: now)
        var out = ""
        for table in tables {
            let minutes = byTable[table] ?? []
            let markers = data.incidents.filter { $0.table == table }.map {
                Charts.Marker(at: $0.openedAt.timeIntervalSince1970, label: "incident #\($0.id)", href: "/incidents/\($0.id)")
            }
            let hourStart = nowMinute - 59
            var hour = [Charts.Stack](repeating: .init(), count: 60)
            let dayBucket: Int64 = 15
            let dayStart = (nowMinute / dayBucket - 95) * dayBucket
            var day = [Charts.Stack](repeating: .init(), count: 96)
            for m in minutes {
                let c = m.counts
                if m.minute >= hourStart && m.minute <= nowMinute {
                    let i = Int(m.minute - hourStart)
                    hour[i].loaded += c.loaded
                    hour[i].parked += c.parked
                    hour[i].quarantined += c.quarantined
                }
                if m.minute >= dayStart {
                    let i = Int((m.minute - dayStart) / dayBucket)
                    if i < day.count {
                        day[i].loaded += c.loaded
                        day[i].parked += c.parked
                        day[i].quarantined += c.quarantined
                    }
                }
            }
            let id = "t-" + table.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            out += "<div class=\"charts\" data-table=\"\(h(table))\">"
            out += Charts.throughput(
                .init(
                    id: id + "-hour", title: "\(table) · last hour", unit: "records per minute", start: Double(hourStart * 60),
                    bucketSeconds: 60, buckets: hour, markers: markers, labelEvery: 900))
            out += Charts.throughput(
                .init(
                    id: id + "-day", title: "\(table) · last 24 hours", unit: "records per 15 min", start: Double(dayStart * 60),
                    bucketSeconds: Double(dayBucket * 60), buckets: day, markers: markers, labelEvery: 4 * 3600))
            out += "</div>"
        }
        return out
    }

    /// The newest incidents' lifecycles on one time axis.
    static func timelineRows(_ times: [IncidentTimes], limit: Int = 12) -> [Charts.TimelineRow] {
        times.suffix(limit).reversed().map { t in
            var steps: [(Charts.Step, Double)] = [(.opened, t.opened)]
            if let a = t.approved { steps.append((.approved, a)) }
            if let a = t.applied { steps.append((.applied, a)) }
            if let r = t.replayed { steps.append((.replayed, r)) }
            return Charts.TimelineRow(
                label: "#\(t.incident) \(t.table)", href: "/incidents/\(t.incident)", status: t.status.rawValue, steps: steps)
        }
    }

    static func repairDistributions(_ repairs: [(planner: String, incident: Int64, seconds: Double)]) -> [Charts.Distribution] {
        Dictionary(grouping: repairs, by: \.planner).map { Charts.Distribution(label: $0.key, seconds: $0.value.map(\.seconds)) }
            .sorted { $0.label < $1.label }
    }

    static let diffStyle = """
        table.diff td.mark{font-weight:600} tr.added{background:#e3f1fb} tr.widened{background:#fdf0d5} tr.mapped{background:#f6e6f0}
        tr.converted{background:#eef1f6} .legend-chip{display:inline-block;padding:0 .4rem;margin-right:.4rem;border:1px solid #d9dde5}
        .pending-link{font-weight:600} .pending-link.has-pending{color:#ffd27a}
        """

    /// A diff as a table: every column after the change, the changed ones marked in words
    /// and by a row colour (the word carries it without colour).
    static func diffTable(_ d: SchemaDiff, id: String) -> String {
        var rows = ""
        for r in d.rows {
            let type = r.before.map { "\(h($0.rawValue)) → \(h(r.type?.rawValue ?? "?"))" } ?? h(r.type?.rawValue ?? "unmanaged")
            let mark = r.mark == .unchanged ? "" : h(r.mark.rawValue)
            rows += """
                <tr class="\(h(r.mark.rawValue))"><td class="mark">\(mark)</td><td>\(h(r.column))</td><td>\(type)</td><td>\(h(r.note))</td></tr>
                """
        }
        if d.rows.isEmpty { rows = #"<tr><td colspan="4">No columns.</td></tr>"# }
        let other = d.other.map { "<li>\(h($0))</li>" }.joined()
        return """
            <table class="diff" id="\(h(id))"><tr><th>change</th><th>column</th><th>type</th><th>what</th></tr>\(rows)</table>\
            \(other.isEmpty ? "" : "<ul>\(other)</ul>")
            """
    }

    /// The schema history: for each version the diff, the DDL, and the incident and person behind it.
    static func schemaChanges(_ changes: [SchemaChange]) -> String {
        if changes.isEmpty { return "<p>No versions recorded.</p>" }
        var out = ""
        for (n, c) in changes.enumerated().reversed() {
            let title = c.version.map { "Version \($0)" } ?? "Mapping (no DDL)"
            var who: [String] = []
            if let i = c.incidentID { who.append(#"incident <a href="/incidents/\#(i)">#\#(i)</a>"#) }
            if let p = c.plannedBy { who.append("planned by \(h(p))") }
            if let a = c.approvedBy { who.append("approved by <b class=\"approved-by\">\(h(a))</b>") }
            if c.incidentID != nil && c.approvedBy == nil { who.append("applied by the policy (no approval needed)") }
            if let at = c.appliedAt { who.append("applied \(date(Date(timeIntervalSince1970: at)))") }
            let changed = c.diff.changed.count
            out += """
                <div class="card schema-change" id="change-\(n)"><h3>\(h(title)) · \(changed) column\(changed == 1 ? "" : "s") changed</h3>\
                <p>\(who.joined(separator: " · "))</p>\
                \(diffTable(c.diff, id: "diff-\(n)"))\
                \(c.ddl.isEmpty ? "" : "<pre class=\"sql\">\(h(c.ddl))</pre>")</div>
                """
        }
        return out
    }
}

extension Pages {
    /// The diff a plan makes (or made) against the table as it stands: shown before anyone approves.
    static func planDiff(_ plan: Plan, schema: TableSchema?) -> String {
        guard let schema else { return "" }
        if plan.status == .applied {
            // Against today's columns an applied plan would only show "already present".
            return
                #"<p id="plan-diff-applied">Applied: its diff, DDL and approver are in <a href="/tables/\#(u(plan.table))#changes">the schema history of \#(h(plan.table))</a>.</p>"#
        }
        let diff = SchemaDiff(table: plan.table, schema: schema, operations: plan.operations)
        return "<h3>What this plan would change in \(h(plan.table))</h3>" + diffTable(diff, id: "plan-diff")
    }
}
