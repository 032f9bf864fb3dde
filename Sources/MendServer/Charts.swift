import Foundation

/// The dashboard's plots as inline SVG: a value in, an SVG string out, no I/O. Every text
/// that reaches the SVG (table names, planner names, labels) goes through `h`, like the
/// pages. Colours are the Okabe–Ito palette, which stays apart under the common kinds of
/// colour blindness; series also differ in lightness and every mark has a text legend.
enum Charts {
    /// Loaded, parked, quarantined: blue, orange, reddish purple.
    static let loadedColor = "#0072B2"
    static let parkedColor = "#E69F00"
    static let quarantinedColor = "#CC79A7"
    static let markerColor = "#D55E00"
    /// Text and percentile ticks.
    static let ink = "#1d2330"

    struct Stack: Sendable, Equatable {
        var loaded: Int64 = 0
        var parked: Int64 = 0
        var quarantined: Int64 = 0
        var total: Int64 { loaded + parked + quarantined }
    }

    /// An incident opened inside a plot's window.
    struct Marker: Sendable, Equatable {
        var at: Double
        var label: String
        var href: String
    }

    /// Stacked bars, one per bucket of `bucketSeconds` from `start` (epoch seconds).
    struct Throughput: Sendable, Equatable {
        var id: String
        var title: String
        /// What one bar counts, for the y axis: "records per minute".
        var unit: String
        var start: Double
        var bucketSeconds: Double
        var buckets: [Stack]
        var markers: [Marker]
        /// Seconds between labels on the time axis.
        var labelEvery: Double
        var width = 560.0
        var height = 200.0
    }

    /// Formats counts for axes and tooltips: 1200 → "1.2k".
    static func short(_ n: Int64) -> String {
        if n >= 1_000_000 { return trim(Double(n) / 1_000_000) + "M" }
        if n >= 10_000 { return String(n / 1000) + "k" }
        if n >= 1000 { return trim(Double(n) / 1000) + "k" }
        return String(n)
    }

    static func trim(_ x: Double) -> String {
        let s = String(format: "%.1f", x)
        return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
    }

    /// Numbers in SVG attributes: two decimals at most, no locale.
    static func f(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    /// A round axis top at or above `n`, with its tick step: 1, 2 or 5 times a power of ten.
    static func niceScale(_ n: Int64) -> (top: Int64, step: Int64) {
        guard n > 0 else { return (4, 1) }
        var step: Int64 = 1
        while true {
            for m: Int64 in [1, 2, 5] {
                let s = step * m
                if s * 4 >= n { return ((n + s - 1) / s * s, s) }
            }
            step *= 10
        }
    }

    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        return c
    }()

    /// "08:15" in UTC.
    static func clock(_ t: Double) -> String {
        let d = utc.dateComponents([.hour, .minute], from: Date(timeIntervalSince1970: t))
        return String(format: "%02d:%02d", d.hour ?? 0, d.minute ?? 0)
    }

    static func legend(_ items: [(String, String)], x: Double, y: Double) -> String {
        var out = ""
        var at = x
        for (color, label) in items {
            out += #"<rect x="\#(f(at))" y="\#(f(y - 9))" width="10" height="10" fill="\#(color)"/>"#
            out += #"<text x="\#(f(at + 14))" y="\#(f(y))" class="legend">\#(h(label))</text>"#
            at += 22 + Double(label.count) * 6.5
        }
        return out
    }

    static func throughput(_ c: Throughput) -> String {
        let left = 46.0, right = 10.0, top = 34.0, bottom = 30.0
        let w = c.width - left - right, plotH = c.height - top - bottom
        let n = max(1, c.buckets.count)
        let barW = w / Double(n)
        let (yTop, yStep) = niceScale(c.buckets.map(\.total).max() ?? 0)
        func y(_ v: Int64) -> Double { top + plotH - plotH * Double(v) / Double(yTop) }
        let end = c.start + Double(n) * c.bucketSeconds
        func x(_ t: Double) -> Double { left + w * (t - c.start) / (end - c.start) }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" id="\(h(c.id))" viewBox="0 0 \(f(c.width)) \(f(c.height))" \
            width="\(f(c.width))" height="\(f(c.height))" role="img" aria-label="\(h(c.title))">
            """
        s += "<title>\(h(c.title))</title>"
        s += #"<text x="\#(f(left))" y="14" class="chart-title">\#(h(c.title))</text>"#
        s += legend([(loadedColor, "loaded"), (parkedColor, "parked"), (quarantinedColor, "quarantined")], x: left, y: 29)
        // Grid and the y axis, in the unit of one bar.
        var v: Int64 = 0
        while v <= yTop {
            s += #"<line x1="\#(f(left))" x2="\#(f(left + w))" y1="\#(f(y(v)))" y2="\#(f(y(v)))" class="grid"/>"#
            s += #"<text x="\#(f(left - 4))" y="\#(f(y(v) + 4))" class="tick" text-anchor="end">\#(short(v))</text>"#
            v += yStep
        }
        s += """
            <text class="unit" transform="translate(11 \(f(top + plotH / 2))) rotate(-90)" text-anchor="middle">\(h(c.unit))</text>
            """
        for (i, b) in c.buckets.enumerated() where b.total > 0 {
            let t = c.start + Double(i) * c.bucketSeconds
            let bx = left + Double(i) * barW + (barW > 4 ? 0.5 : 0)
            let bw = max(1, barW - (barW > 4 ? 1 : 0))
            s += #"<g class="bucket" data-start="\#(Int64(t))">"#
            s += "<title>\(clock(t)) UTC: \(b.loaded) loaded, \(b.parked) parked, \(b.quarantined) quarantined</title>"
            var base: Int64 = 0
            for (name, value, color) in [
                ("loaded", b.loaded, loadedColor), ("parked", b.parked, parkedColor), ("quarantined", b.quarantined, quarantinedColor),
            ] where value > 0 {
                let y0 = y(base), y1 = y(base + value)
                s += """
                    <rect class="bar \(name)" data-series="\(name)" data-value="\(value)" x="\(f(bx))" y="\(f(y1))" \
                    width="\(f(bw))" height="\(f(max(0.5, y0 - y1)))" fill="\(color)"/>
                    """
                base += value
            }
            s += "</g>"
        }
        if c.buckets.allSatisfy({ $0.total == 0 }) {
            s +=
                #"<text x="\#(f(left + w / 2))" y="\#(f(top + plotH / 2))" class="empty" text-anchor="middle">no records in this window</text>"#
        }
        // The time axis: labels on round clock times, UTC.
        s += #"<line x1="\#(f(left))" x2="\#(f(left + w))" y1="\#(f(top + plotH))" y2="\#(f(top + plotH))" class="axis"/>"#
        var t = (c.start / c.labelEvery).rounded(.up) * c.labelEvery
        while t <= end {
            s += #"<line x1="\#(f(x(t)))" x2="\#(f(x(t)))" y1="\#(f(top + plotH))" y2="\#(f(top + plotH + 4))" class="axis"/>"#
            s += #"<text x="\#(f(x(t)))" y="\#(f(top + plotH + 16))" class="tick" text-anchor="middle">\#(clock(t))</text>"#
            t += c.labelEvery
        }
        s += #"<text x="\#(f(left + w))" y="\#(f(c.height - 2))" class="tick" text-anchor="end">UTC</text>"#
        for m in c.markers where m.at >= c.start && m.at <= end {
            let mx = x(m.at)
            s += """
                <a href="\(h(m.href))" class="marker"><title>\(h(m.label)) opened at \(clock(m.at)) UTC</title>\
                <line x1="\(f(mx))" x2="\(f(mx))" y1="\(f(top))" y2="\(f(top + plotH))" stroke="\(markerColor)" stroke-dasharray="3 2"/>\
                <path d="M\(f(mx - 4)) \(f(top - 1)) L\(f(mx + 4)) \(f(top - 1)) L\(f(mx)) \(f(top + 6)) Z" fill="\(markerColor)"/></a>
                """
        }
        return s + "</svg>"
    }

    // MARK: - The incident timeline

    enum Step: String, Sendable, CaseIterable {
        case opened, approved, applied, replayed
        var color: String {
            switch self {
            case .opened: markerColor
            case .approved: "#56B4E9"
            case .applied: "#009E73"
            case .replayed: loadedColor
            }
        }
        /// A shape per step, so the legend holds without colour.
        func mark(x: Double, y: Double) -> String {
            switch self {
            case .opened: #"<circle cx="\#(f(x))" cy="\#(f(y))" r="5" fill="\#(color)"/>"#
            case .approved:
                #"<path d="M\#(f(x)) \#(f(y - 6)) L\#(f(x + 6)) \#(f(y)) L\#(f(x)) \#(f(y + 6)) L\#(f(x - 6)) \#(f(y)) Z" fill="\#(color)"/>"#
            case .applied: #"<rect x="\#(f(x - 5))" y="\#(f(y - 5))" width="10" height="10" fill="\#(color)"/>"#
            case .replayed: #"<path d="M\#(f(x - 6)) \#(f(y + 5)) L\#(f(x + 6)) \#(f(y + 5)) L\#(f(x)) \#(f(y - 6)) Z" fill="\#(color)"/>"#
            }
        }
    }

    struct TimelineRow: Sendable, Equatable {
        var label: String
        var href: String
        var status: String
        var steps: [(Step, Double)]
        static func == (a: Self, b: Self) -> Bool {
            a.label == b.label && a.href == b.href && a.status == b.status && a.steps.map(\.0) == b.steps.map(\.0)
                && a.steps.map(\.1) == b.steps.map(\.1)
        }
    }

    /// One row per incident, opened → approved → applied → replayed on a shared time axis.
    static func timeline(id: String, title: String, rows: [TimelineRow], now: Double, width: Double = 1100) -> String {
        // Room for "#123 orders_archive" and "pending_approval" side by side.
        let left = 280.0, right = 20.0, top = 36.0, rowH = 24.0, bottom = 28.0
        let height = top + rowH * Double(max(1, rows.count)) + bottom
        let w = width - left - right
        let times = rows.flatMap { $0.steps.map(\.1) }
        var start = times.min() ?? now - 3600
        var end = max(times.max() ?? now, now)
        if end - start < 120 { start = end - 120 }
        let pad = (end - start) * 0.03
        start -= pad
        end += pad
        func x(_ t: Double) -> Double { left + w * (t - start) / (end - start) }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" id="\(h(id))" viewBox="0 0 \(f(width)) \(f(height))" \
            width="\(f(width))" height="\(f(height))" role="img" aria-label="\(h(title))"><title>\(h(title))</title>
            """
        s += #"<text x="4" y="14" class="chart-title">\#(h(title))</text>"#
        s += legend(Step.allCases.map { ($0.color, $0.rawValue) }, x: left, y: 29).replacingOccurrences(of: "<rect", with: "<rect rx=\"2\"")
        if rows.isEmpty {
            s += #"<text x="\#(f(left + w / 2))" y="\#(f(top + rowH / 2 + 4))" class="empty" text-anchor="middle">no incidents yet</text>"#
        }
        for (i, r) in rows.enumerated() {
            let cy = top + rowH * Double(i) + rowH / 2
            if i % 2 == 0 {
                s += #"<rect x="0" y="\#(f(top + rowH * Double(i)))" width="\#(f(width))" height="\#(f(rowH))" class="band"/>"#
            }
            s += """
                <a href="\(h(r.href))"><text x="4" y="\(f(cy + 4))" class="row-label">\(h(r.label))</text></a>\
                <text x="\(f(left - 6))" y="\(f(cy + 4))" class="tick" text-anchor="end">\(h(r.status))</text>
                """
            let xs = r.steps.map { x($0.1) }
            if let a = xs.min(), let b = xs.max(), b > a {
                s += #"<line x1="\#(f(a))" x2="\#(f(b))" y1="\#(f(cy))" y2="\#(f(cy))" class="span"/>"#
            }
            s += #"<g class="incident-steps" data-label="\#(h(r.label))">"#
            for (step, t) in r.steps {
                s +=
                    #"<g class="step \#(step.rawValue)" data-step="\#(step.rawValue)" data-at="\#(Int64(t))"><title>\#(h(r.label)) \#(step.rawValue) at \#(clock(t)) UTC</title>"#
                s += step.mark(x: x(t), y: cy) + "</g>"
            }
            s += "</g>"
        }
        let axisY = top + rowH * Double(max(1, rows.count))
        s += #"<line x1="\#(f(left))" x2="\#(f(left + w))" y1="\#(f(axisY))" y2="\#(f(axisY))" class="axis"/>"#
        let span = end - start
        let every: Double = [60, 300, 600, 900, 1800, 3600, 7200, 4 * 3600, 6 * 3600, 12 * 3600, 86400].first { span / $0 <= 8 } ?? 86400
        var t = (start / every).rounded(.up) * every
        while t <= end {
            s += #"<line x1="\#(f(x(t)))" x2="\#(f(x(t)))" y1="\#(f(axisY))" y2="\#(f(axisY + 4))" class="axis"/>"#
            s += #"<text x="\#(f(x(t)))" y="\#(f(axisY + 16))" class="tick" text-anchor="middle">\#(clock(t))</text>"#
            t += every
        }
        s += #"<text x="\#(f(left + w))" y="\#(f(height - 2))" class="tick" text-anchor="end">UTC</text>"#
        return s + "</svg>"
    }

    // MARK: - Time to repair

    struct Distribution: Sendable, Equatable {
        var label: String
        var seconds: [Double]
        /// The nearest-rank percentile of the sorted values.
        func percentile(_ p: Double) -> Double? {
            let v = seconds.sorted()
            guard !v.isEmpty else { return nil }
            let rank = Int((p * Double(v.count)).rounded(.up)) - 1
            return v[min(v.count - 1, max(0, rank))]
        }
    }

    /// One row per planner on a log time axis: each repair a dot, p50 and p90 ticks, the max.
    static func repairTimes(id: String, title: String, rows: [Distribution], width: Double = 1100) -> String {
        let left = 170.0, right = 310.0, top = 36.0, rowH = 34.0, bottom = 30.0
        let height = top + rowH * Double(max(1, rows.count)) + bottom
        let w = width - left - right
        let longest = rows.flatMap(\.seconds).max() ?? 60
        let ticks: [(Double, String)] = [
            (0.001, "1 ms"), (0.01, "10 ms"), (0.1, "100 ms"), (1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"),
            (6 * 3600, "6 h"), (86400, "1 day"), (7 * 86400, "7 days"),
        ]
        // Three decades at least, so the axis never collapses to one tick.
        let lo = 0.001
        let hi = max(ticks.first { $0.0 >= longest * 1.2 }?.0 ?? max(longest * 1.2, 7 * 86400), 1)
        func x(_ sec: Double) -> Double { left + w * (log10(max(lo, sec)) - log10(lo)) / (log10(hi) - log10(lo)) }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" id="\(h(id))" viewBox="0 0 \(f(width)) \(f(height))" \
            width="\(f(width))" height="\(f(height))" role="img" aria-label="\(h(title))"><title>\(h(title))</title>
            """
        s += #"<text x="4" y="14" class="chart-title">\#(h(title))</text>"#
        s +=
            #"<circle cx="\#(f(left + 5))" cy="25" r="4" fill="\#(loadedColor)" fill-opacity="0.55"/><text x="\#(f(left + 14))" y="29" class="legend">one repair</text>"#
        s +=
            #"<line x1="\#(f(left + 100))" x2="\#(f(left + 100))" y1="18" y2="31" stroke="\#(ink)" stroke-width="2.5"/><text x="\#(f(left + 106))" y="29" class="legend">p50</text>"#
        s +=
            #"<line x1="\#(f(left + 150))" x2="\#(f(left + 150))" y1="18" y2="31" stroke="\#(ink)" stroke-width="1.5" stroke-dasharray="3 2"/><text x="\#(f(left + 156))" y="29" class="legend">p90</text>"#
        s +=
            #"<path d="M\#(f(left + 200)) 19 L\#(f(left + 208)) 25 L\#(f(left + 200)) 31 Z" fill="\#(markerColor)"/><text x="\#(f(left + 212))" y="29" class="legend">max</text>"#
        if rows.isEmpty {
            s +=
                #"<text x="\#(f(left + w / 2))" y="\#(f(top + rowH / 2 + 4))" class="empty" text-anchor="middle">no incident resolved yet</text>"#
        }
        for (i, r) in rows.enumerated() {
            let cy = top + rowH * Double(i) + rowH / 2
            if i % 2 == 0 {
                s += #"<rect x="0" y="\#(f(top + rowH * Double(i)))" width="\#(f(width))" height="\#(f(rowH))" class="band"/>"#
            }
            s += #"<text x="4" y="\#(f(cy + 4))" class="row-label">\#(h(r.label))</text>"#
            s += #"<g class="repairs" data-planner="\#(h(r.label))" data-count="\#(r.seconds.count)">"#
            for (j, sec) in r.seconds.enumerated() {
                // A fixed spread by index, so dots of equal times do not hide each other.
                let dy = Double(j % 5 - 2) * 2.5
                s +=
                    #"<circle cx="\#(f(x(sec)))" cy="\#(f(cy + dy))" r="4" fill="\#(loadedColor)" fill-opacity="0.55" data-seconds="\#(f(sec))"/>"#
            }
            if let p50 = r.percentile(0.5), let p90 = r.percentile(0.9), let mx = r.seconds.max() {
                s +=
                    #"<line x1="\#(f(x(p50)))" x2="\#(f(x(p50)))" y1="\#(f(cy - 11))" y2="\#(f(cy + 11))" stroke="\#(ink)" stroke-width="2.5" class="p50"/>"#
                s +=
                    #"<line x1="\#(f(x(p90)))" x2="\#(f(x(p90)))" y1="\#(f(cy - 11))" y2="\#(f(cy + 11))" stroke="\#(ink)" stroke-width="1.5" stroke-dasharray="3 2" class="p90"/>"#
                s +=
                    #"<path d="M\#(f(x(mx))) \#(f(cy - 6)) L\#(f(x(mx) + 8)) \#(f(cy)) L\#(f(x(mx))) \#(f(cy + 6)) Z" fill="\#(markerColor)"/>"#
                s += """
                    <text x="\(f(left + w + 12))" y="\(f(cy + 4))" class="summary">p50 \(h(Pages.duration(p50))) · p90 \(h(Pages.duration(p90))) · \
                    max \(h(Pages.duration(mx))) · n=\(r.seconds.count)</text>
                    """
            }
            s += "</g>"
        }
        let axisY = top + rowH * Double(max(1, rows.count))
        s += #"<line x1="\#(f(left))" x2="\#(f(left + w))" y1="\#(f(axisY))" y2="\#(f(axisY))" class="axis"/>"#
        for (sec, label) in ticks where sec <= hi {
            s += #"<line x1="\#(f(x(sec)))" x2="\#(f(x(sec)))" y1="\#(f(top))" y2="\#(f(axisY + 4))" class="grid"/>"#
            s += #"<text x="\#(f(x(sec)))" y="\#(f(axisY + 16))" class="tick" text-anchor="middle">\#(label)</text>"#
        }
        s +=
            #"<text x="\#(f(left + w))" y="\#(f(height - 2))" class="tick" text-anchor="end">from first parked record to replay (log scale)</text>"#
        return s + "</svg>"
    }

    /// The CSS the charts use (inline in the page's style element; CSP allows that).
    static let style = """
        svg.chart{background:#fff;border:1px solid #d9dde5;display:block;max-width:100%;height:auto;margin:.3rem 0 .8rem}
        svg.chart text{font-family:system-ui,sans-serif;fill:#1d2330}
        svg.chart .chart-title{font-size:13px;font-weight:600} svg.chart .legend{font-size:12px}
        svg.chart .tick{font-size:11px;fill:#4a5263} svg.chart .unit{font-size:11px;fill:#4a5263}
        svg.chart .grid{stroke:#e6e9ef;stroke-width:1} svg.chart .axis{stroke:#4a5263;stroke-width:1}
        svg.chart .empty{font-size:12px;fill:#6b7385} svg.chart .band{fill:#f6f7f9}
        svg.chart .row-label{font-size:12px;font-weight:600;fill:#1d4f91} svg.chart .span{stroke:#9aa3b5;stroke-width:2}
        svg.chart .summary{font-size:12px}
        .charts{display:flex;gap:1rem;flex-wrap:wrap}
        """
}
