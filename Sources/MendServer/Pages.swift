import Foundation
import MendCore
import MendPipeline
import MendStore

/// Escapes text for HTML element content and quoted attribute values. Every value
/// that reaches a page goes through it: table names, records and drift reasons are
/// data from outside, and an LLM writes plan rationales.
func h(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Percent-encodes a path segment for links.
func u(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? ""
}

/// Server-rendered pages: plain HTML, inline CSS and SVG, and one same-origin script
/// (the live view, Router+Live.swift); every page works without it.
enum Pages {
    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
        header a{color:#cfe0ff;text-decoration:none} header form{margin-left:auto}
        main{padding:1rem 1.4rem;max-width:1200px}
        table{border-collapse:collapse;background:#fff;margin:.4rem 0 1.2rem;width:100%}
        th,td{border:1px solid #d9dde5;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}
        th{background:#eef1f6} pre{background:#fff;border:1px solid #d9dde5;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
        .ok{color:#11703a;font-weight:600} .bad{color:#b42318;font-weight:600}
        .risk-low{color:#11703a} .risk-medium{color:#9a6700} .risk-high,.risk-forbidden{color:#b42318;font-weight:600}
        .pill{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#e4e8f0;font-size:.85rem}
        textarea,input[type=text],input[type=password]{width:100%;max-width:32rem;padding:.3rem;font:inherit}
        button{padding:.35rem .9rem;font:inherit;cursor:pointer} .approve{background:#11703a;color:#fff;border:0}
        .reject{background:#b42318;color:#fff;border:0} .decide{display:flex;gap:2rem;flex-wrap:wrap}
        .card{background:#fff;border:1px solid #d9dde5;padding:.8rem;margin-bottom:1rem}
        """

    /// The page frame. `pending` is the navigation bar's count of plans waiting for a person
    /// (nil on pages for people not logged in); `live` marks pages the live view refreshes.
    static func layout(_ title: String, user: String?, csrf: String?, pending: Int? = nil, live: Bool = false, _ body: String) -> String {
        var nav = #"<a href="/"><b>Mend</b></a><a href="/">Overview</a><a href="/audit">Audit log</a>"#
        if let pending {
            nav += """
                <a href="/#open-incidents" class="pending-link\(pending > 0 ? " has-pending" : "")">Waiting for approval: \
                <span id="pending-count">\(pending)</span></a>
                """
        }
        if let csrf {
            nav += """
                <form method="post" action="/logout"><input type="hidden" name="csrf" value="\(h(csrf))">\
                <span>\(h(user ?? ""))</span> <button type="submit">Log out</button></form>
                """
        }
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(h(title)) · Mend</title>
            <meta name="viewport" content="width=device-width,initial-scale=1"><style>\(style)\(Charts.style)\(diffStyle)</style>\
            \(pending == nil ? "" : #"<script src="/static/live.js" defer></script>"#)</head>
            <body\(live ? " data-live" : "")><header>\(nav)</header><main><h1>\(h(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    static func login(error: String?, next: String? = nil) -> String {
        let err = error.map { #"<p class="bad">\#(h($0))</p>"# } ?? ""
        let back = next.map { #"<input type="hidden" name="next" value="\#(h($0))">"# } ?? ""
        return layout(
            "Log in", user: nil, csrf: nil,
            """
            \(err)
            <form method="post" action="/login" class="card">\(back)
            <p><label>Your approver token (your own: your decisions are audited under your name)<br><input type="password" name="token" id="token" required></label></p>
            <p><button type="submit" id="login">Log in</button></p>
            </form>
            """)
    }

    static func errorPage(status: Int, message: String) -> String {
        layout("Error \(status)", user: nil, csrf: nil, #"<p class="bad">\#(h(message))</p><p><a href="/">Back to the overview</a></p>"#)
    }

    static func duration(_ s: Double) -> String {
        if s < 1 { return String(format: "%.0f ms", s * 1000) }
        if s < 60 { return String(format: "%.1f s", s) }
        if s < 3600 { return String(format: "%.1f min", s / 60) }
        return String(format: "%.1f h", s / 3600)
    }

    static func date(_ d: Date?) -> String {
        guard let d else { return "" }
        let f = ISO8601DateFormatter()
        return f.string(from: d)
    }

    /// Tables, their throughput over the last hour and day, the open incidents, the incident
    /// timeline and the time to repair per planner.
    static func overview(_ d: DashboardData, now: Double, user: String?, csrf: String?) -> String {
        let stats = d.stats, incidents = d.incidents
        let repairSeconds = d.repairs.map(\.seconds)
        var rows = ""
        for t in stats {
            rows += """
                <tr><td><a href="/tables/\(u(t.table))">\(h(t.table))</a></td><td>\(t.input)</td><td>\(t.loaded)</td><td>\(t.parked)</td>\
                <td>\(t.quarantined)</td><td>\(t.coerced)</td><td>\(t.openIncidents)</td><td>\(t.schemaVersion)</td></tr>
                """
        }
        if stats.isEmpty {
            rows = #"<tr><td colspan="8">No tables yet: POST records to /v1/ingest/TABLE or run <code>mend ingest</code>.</td></tr>"#
        }
        let open = incidents.filter(\.status.isOpen)
        var inc = ""
        for i in open {
            inc += """
                <tr><td><a href="/incidents/\(i.id)">#\(i.id)</a></td><td>\(h(i.table))</td><td>\(h(i.kinds.map(\.rawValue).joined(separator: ", ")))</td>\
                <td><span class="pill">\(h(i.status.rawValue))</span></td><td>\(i.parked)</td><td>\(date(i.openedAt))</td></tr>
                """
        }
        if open.isEmpty { inc = #"<tr><td colspan="6">No open incidents.</td></tr>"# }
        let sorted = repairSeconds.sorted()
        let ttr: String
        if sorted.isEmpty {
            ttr = "<p>No incident resolved yet.</p>"
        } else {
            let all = Charts.Distribution(label: "all", seconds: sorted)
            let p50 = all.percentile(0.5) ?? 0, p90 = all.percentile(0.9) ?? 0
            ttr =
                "<p>\(sorted.count) incidents resolved · median \(duration(p50)) · p90 \(duration(p90)) · longest \(duration(sorted[sorted.count - 1]))</p>"
        }
        let resolved = incidents.filter { !$0.status.isOpen }.suffix(10).reversed()
        var done = ""
        for i in resolved {
            done += """
                <tr><td><a href="/incidents/\(i.id)">#\(i.id)</a></td><td>\(h(i.table))</td><td>\(h(i.status.rawValue))</td><td>\(date(i.resolvedAt))</td></tr>
                """
        }
        let timeline = Charts.timeline(
            id: "incident-timeline", title: "Incidents: opened → approved → applied → replayed",
            rows: timelineRows(d.timelines), now: now)
        let distribution = Charts.repairTimes(
            id: "repair-times", title: "Time to repair, per planner",
            rows: repairDistributions(d.repairs))
        return layout(
            "Pipeline overview", user: user, csrf: csrf, pending: d.pendingApprovals, live: true,
            """
            <h2>Tables</h2>
            <table id="tables"><tr><th>table</th><th>input</th><th>loaded</th><th>parked</th><th>quarantined</th><th>coerced</th><th>open incidents</th><th>schema version</th></tr>\(rows)</table>
            \(throughput(d, now: now))
            <h2>Open incidents</h2>
            <table id="open-incidents"><tr><th>incident</th><th>table</th><th>drift</th><th>status</th><th>parked</th><th>opened</th></tr>\(inc)</table>
            \(timeline)
            <h2>Time to repair</h2>\(ttr)\(distribution)
            \(done.isEmpty ? "" : "<h2>Recently closed</h2><table><tr><th>incident</th><th>table</th><th>status</th><th>closed</th></tr>\(done)</table>")
            """)
    }

    static func incident(
        _ i: Incident, samples: [ParkedRecord], plans: [StoredPlan], user: String?, csrf: String?, link: LinkNotice? = nil,
        pending: Int? = nil, times: IncidentTimes? = nil, schema: TableSchema? = nil, now: Double = Date().timeIntervalSince1970
    ) -> String {
        var drifts = ""
        for d in i.drifts {
            drifts += """
                <tr><td>\(h(d.kind.rawValue))</td><td>\(h(d.column))</td><td>\(h(d.sourceKey))</td>\
                <td>\(h(d.observed.map { "\($0)" } ?? ""))</td><td>\(h(d.expected.map { "\($0)" } ?? ""))</td><td>\(h(d.reason))</td></tr>
                """
        }
        var parked = ""
        for p in samples {
            let view = RecordView(p.record)
            let more =
                view.truncated
                ? #"<p><a href="/parked/\#(p.id)">the whole record (\#(view.bytes) bytes)</a></p>"# : ""
            parked += "<tr><td>\(h(p.source)):\(p.line)</td><td><pre>\(h(view.text))</pre>\(more)</td><td>\(h(p.reason))</td></tr>"
        }
        if samples.isEmpty { parked = #"<tr><td colspan="3">No parked records (replayed or quarantined).</td></tr>"# }
        var planHTML = "<p>No plan yet.</p>"
        if let stored = plans.last {
            let plan = stored.plan
            var ops = ""
            for op in plan.operations {
                ops += "<tr><td>\(h(op.kind.rawValue))</td><td>\(h(op.column ?? ""))</td><td>\(h(op.type.map { "\($0)" } ?? ""))</td></tr>"
            }
            var sql = ""
            for v in stored.verdicts {
                let reasons = v.reasons.map { "<li>\(h($0))</li>" }.joined()
                let safer = v.saferAlternative.map { "<p>Safer alternative: \(h($0))</p>" } ?? ""
                sql += """
                    <div class="card"><pre class="sql">\(h(v.sql))</pre>\
                    <p>Risk: <span class="risk-\(h(v.risk.rawValue))">\(h(v.risk.rawValue))</span> · rule \(h(v.rule)) · \
                    \(v.allowed ? #"<span class="ok">allowed</span>"# : #"<span class="bad">refused</span>"#)</p><ul>\(reasons)</ul>\(safer)</div>
                    """
            }
            let decision =
                stored.decision.map { d in
                    "<p>Policy: <b>\(h(d.autonomy.rawValue))</b></p><ul>\(d.reasons.map { "<li>\(h($0))</li>" }.joined())</ul>"
                } ?? ""
            var decided = ""
            // A waiting plan is decided by nobody yet; an automatic one by the policy, not a person.
            if let by = stored.decidedBy, plan.status != .pendingApproval, plan.status != .proposed {
                decided =
                    stored.decision?.autonomy == .auto && plan.status == .applied
                    ? "<p>Applied on its own by the policy (run by \(h(by)))</p>"
                    : "<p>Decided by <b class=\"decided-by\">\(h(by))</b>\(stored.note.map { ": " + h($0) } ?? "")</p>"
            }
            var forms = ""
            // A link that no longer holds (expired, forged, plan changed) approves nothing.
            if plan.status == .pendingApproval, let csrf, link?.holds ?? true {
                forms = """
                    <div class="decide">
                    <form method="post" action="/incidents/\(i.id)/approve" class="card"><input type="hidden" name="csrf" value="\(h(csrf))">\
                    <input type="hidden" name="plan" value="\(plan.id)">
                    <p><label>Note (optional)<br><textarea name="reason" id="approve-reason" rows="2"></textarea></label></p>
                    <button type="submit" class="approve" id="approve">Approve and apply</button></form>
                    <form method="post" action="/incidents/\(i.id)/reject" class="card"><input type="hidden" name="csrf" value="\(h(csrf))">
                    <p><label>Reason (required)<br><textarea name="reason" id="reject-reason" rows="2" required></textarea></label></p>
                    <button type="submit" class="reject" id="reject">Reject</button></form>
                    </div>
                    """
            }
            planHTML = """
                <p>Plan #\(plan.id) by \(h(plan.plannedBy)) · status <span class="pill" id="plan-status">\(h(plan.status.rawValue))</span> · \
                confidence \(String(format: "%.2f", plan.confidence))</p>
                <p>Rationale: \(h(plan.rationale))</p>
                <table><tr><th>operation</th><th>column</th><th>type</th></tr>\(ops)</table>
                \(renameEvidence(plan.evidence ?? []))
                \(planDiff(plan, schema: schema))
                <h3>SQL and the guard's verdict</h3>\(sql.isEmpty ? "<p>No statements.</p>" : sql)
                \(decision)\(decided)\(forms)
                """
        }
        let timeline =
            times.map {
                Charts.timeline(id: "incident-steps", title: "This incident's steps", rows: timelineRows([$0]), now: now, width: 900)
            } ?? ""
        return layout(
            "Incident #\(i.id) · \(i.table)", user: user, csrf: csrf, pending: pending, live: true,
            """
            \(link.map(\.html) ?? "")
            <p>Status <span class="pill" id="incident-status">\(h(i.status.rawValue))</span> · \(i.parked) records parked · opened \(date(i.openedAt))\
            \(i.resolvedAt.map { " · resolved " + date($0) } ?? "") · <a href="/tables/\(u(i.table))">schema of \(h(i.table))</a></p>
            \(timeline)
            <h2>Drift</h2>
            <table><tr><th>kind</th><th>column</th><th>source key</th><th>observed</th><th>expected</th><th>reason</th></tr>\(drifts)</table>
            <h2>Parked samples</h2>
            <table><tr><th>source</th><th>record</th><th>reason</th></tr>\(parked)</table>
            <h2>Proposed plan</h2>
            \(planHTML)
            """)
    }

    /// Why a mapping is a rename, as the planner measured it: a person approves on this.
    static func renameEvidence(_ evidence: [RenameEvidence]) -> String {
        if evidence.isEmpty { return "" }
        var out = "<h3>Rename evidence</h3>"
        for e in evidence {
            let pairs = e.samples.map { "<tr><td>\(h($0.old))</td><td>\(h($0.new))</td></tr>" }.joined()
            out += """
                <div class="card rename-evidence" data-old="\(h(e.oldColumn))" data-new="\(h(e.newKey))">\
                <p><b>\(h(e.newKey))</b> looks like <b>\(h(e.oldColumn))</b> renamed · score \(e.score) · similarity \(e.similarity)</p>\
                <ul><li>\(h(e.oldColumn)) had a value in \(e.recentWithOld) of the last \(e.recentRows) loaded rows \
                (the newest \(e.trailingWithOld) in a row)</li>\
                <li>\(h(e.newKey)) began at \(h(e.firstNewAt)); \(e.newRecordsWithOld) of its \(e.newRecords) records also carry \(h(e.oldColumn))</li></ul>\
                <table><tr><th>\(h(e.oldColumn)) (recent)</th><th>\(h(e.newKey)) (parked)</th></tr>\(pairs)</table></div>
                """
        }
        return out
    }

    static func audit(
        entries: [AuditEntry], report: AuditVerifier.Report, before: Int64?, user: String?, csrf: String?, pending: Int? = nil
    ) -> String {
        let status =
            report.ok
            ? #"<p class="ok" id="audit-verify">Chain verified: \#(report.entries) entries, head \#(h(String((report.head ?? "").prefix(16))))…</p>"#
            : #"<p class="bad" id="audit-verify">Chain BROKEN at entry \#(report.firstBroken.map(String.init) ?? "?"): \#(h(report.reason ?? ""))</p>"#
        var rows = ""
        for e in entries.reversed() {
            rows += """
                <tr><td>\(e.seq)</td><td>\(h(e.at))</td><td>\(h(e.kind))</td><td>\(h(e.subject))</td><td class="actor">\(h(e.actor))</td>\
                <td><code>\(h(e.detail))</code></td><td><code>\(h(String(e.hash.prefix(12))))</code></td></tr>
                """
        }
        var nav: [String] = []
        if before != nil { nav.append(#"<a href="/audit" id="audit-newest">Newest</a>"#) }
        if let oldest = entries.first?.seq, oldest > 1 {
            nav.append(#"<a href="/audit?before=\#(oldest)" id="audit-older">Older entries</a>"#)
        }
        let navigation = nav.isEmpty ? "" : "<p>" + nav.joined(separator: " · ") + "</p>"
        return layout(
            "Audit log", user: user, csrf: csrf, pending: pending,
            """
            \(status)
            \(navigation)
            <table id="audit"><tr><th>#</th><th>at</th><th>kind</th><th>subject</th><th>actor</th><th>detail</th><th>hash</th></tr>\(rows)</table>
            \(navigation)
            """)
    }

    /// Columns, mapped fields, and the schema history as diffs with their DDL, incident and approver.
    static func schema(
        _ s: TableSchema, sourceKeys: [String: [String]], changes: [SchemaChange], user: String?, csrf: String?, pending: Int? = nil,
        children: [ChildTable] = []
    ) -> String {
        var cols = ""
        // Child tables as a nested list, each linked to its own page.
        let tree = children.map { c in
            let key = c.foreignKeyTo.map { " · foreign key to \(h($0))" } ?? ""
            return #"<li style="margin-left:\#(c.depth - 1)em"><a href="/tables/\#(u(c.table))">\#(h(c.table))</a>\#(key)</li>"#
        }.joined()
        for c in s.columns {
            cols += """
                <tr><td>\(h(c.name))</td><td>\(h(c.type.map { "\($0)" } ?? "unmanaged"))</td><td>\(h(c.declaredType))</td>\
                <td>\(c.nullable ? "yes" : "no")</td><td>\(h((sourceKeys[c.name] ?? []).joined(separator: ", ")))</td></tr>
                """
        }
        let maps = s.mappings.sorted { $0.key < $1.key }.map { "<li>\(h($0.key)) → \(h($0.value))</li>" }.joined()
        return layout(
            "Table \(s.name) · schema v\(s.version)", user: user, csrf: csrf, pending: pending,
            """
            <h2>Columns</h2>
            <table id="columns"><tr><th>column</th><th>type</th><th>declared</th><th>nullable</th><th>source keys</th></tr>\(cols)</table>
            \(maps.isEmpty ? "" : "<h2>Mapped fields</h2><ul>\(maps)</ul>")
            \(tree.isEmpty ? "" : "<h2>Child tables</h2><p>Join a child's _mend_parent_id to its parent's _mend_id.</p><ul id=\"children\">\(tree)</ul>")
            <h2 id="changes">Schema history</h2>
            <p><span class="legend-chip added">added</span><span class="legend-chip widened">widened</span>\
            <span class="legend-chip mapped">mapped</span><span class="legend-chip converted">converted</span> newest first</p>
            <div id="history">\(schemaChanges(changes))</div>
            """)
    }
}
