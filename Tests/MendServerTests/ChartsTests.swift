import Foundation
import Testing

@testable import MendServer

/// The SVG renderer without I/O: values in, a string out, escaped, with the numbers the
/// browser test reads back.
@Suite struct ChartsTests {
    func throughput(_ buckets: [Charts.Stack], title: String = "events · last hour", markers: [Charts.Marker] = []) -> String {
        Charts.throughput(
            .init(
                id: "t", title: title, unit: "records per minute", start: 1_800_000_000, bucketSeconds: 60, buckets: buckets,
                markers: markers, labelEvery: 900))
    }

    /// The values of one series' bars, read back the way the browser test reads them.
    func values(_ svg: String, _ series: String) -> [Int64] {
        svg.components(separatedBy: "data-series=\"\(series)\" data-value=\"").dropFirst().compactMap {
            Int64($0.prefix { $0.isNumber })
        }
    }

    @Test func barsCarryTheirCountsStackedInOrder() throws {
        var buckets = [Charts.Stack](repeating: .init(), count: 60)
        buckets[3] = .init(loaded: 1200, parked: 30, quarantined: 2)
        buckets[59] = .init(loaded: 7)
        let svg = throughput(buckets)
        #expect(values(svg, "loaded") == [1200, 7])
        #expect(values(svg, "parked") == [30])
        #expect(values(svg, "quarantined") == [2])
        // Empty minutes draw nothing; the y axis tops out on a round number at or above the tallest bar.
        #expect(svg.components(separatedBy: "class=\"bucket\"").count - 1 == 2)
        #expect(svg.contains(">1.5k</text>") || svg.contains(">1.6k</text>") || svg.contains(">2k</text>"))
        #expect(svg.contains("records per minute") && svg.contains("UTC"))
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
    }

    @Test func textFromOutsideIsEscaped() {
        let svg = throughput(
            [.init(loaded: 1)], title: "<script>alert(1)</script>",
            markers: [.init(at: 1_800_000_030, label: "\"><img src=x>", href: "/incidents/1")])
        #expect(!svg.contains("<script>") && svg.contains("&lt;script&gt;"))
        #expect(!svg.contains("\"><img") && svg.contains("&quot;&gt;&lt;img"))
        let tl = Charts.timeline(
            id: "x", title: "t", rows: [.init(label: "#1 <b>", href: "/incidents/1", status: "open", steps: [(.opened, 1_800_000_000)])],
            now: 1_800_000_100)
        #expect(!tl.contains("<b>") && tl.contains("#1 &lt;b&gt;"))
        let rt = Charts.repairTimes(id: "r", title: "t", rows: [.init(label: "llm:<x>", seconds: [3])])
        #expect(!rt.contains("<x>") && rt.contains("llm:&lt;x&gt;"))
    }

    @Test func anEmptyWindowSaysSo() {
        #expect(throughput([Charts.Stack](repeating: .init(), count: 60)).contains("no records in this window"))
        #expect(Charts.timeline(id: "x", title: "t", rows: [], now: 1_800_000_000).contains("no incidents yet"))
        #expect(Charts.repairTimes(id: "r", title: "t", rows: []).contains("no incident resolved yet"))
    }

    @Test func incidentMarkersSitOnTheTimeAxisInsideTheWindow() {
        let inside = Charts.Marker(at: 1_800_000_000 + 30 * 60, label: "incident #4", href: "/incidents/4")
        let outside = Charts.Marker(at: 1_800_000_000 - 600, label: "incident #2", href: "/incidents/2")
        let svg = throughput([Charts.Stack](repeating: .init(loaded: 1), count: 60), markers: [inside, outside])
        #expect(svg.contains("href=\"/incidents/4\""))
        #expect(!svg.contains("href=\"/incidents/2\""))
        // Half way along a 504 px wide plot that starts at x = 46.
        #expect(svg.contains("x1=\"298\""))
    }

    @Test func timelineStepsAndRepairPercentiles() {
        let row = Charts.TimelineRow(
            label: "#7 events", href: "/incidents/7", status: "resolved",
            steps: [(.opened, 1_800_000_000), (.approved, 1_800_000_060), (.applied, 1_800_000_061), (.replayed, 1_800_000_062)])
        let tl = Charts.timeline(id: "x", title: "t", rows: [row], now: 1_800_000_100)
        for step in ["opened", "approved", "applied", "replayed"] { #expect(tl.contains("data-step=\"\(step)\"")) }
        let d = Charts.Distribution(label: "rules", seconds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
        #expect(d.percentile(0.5) == 5 && d.percentile(0.9) == 9)
        let rt = Charts.repairTimes(id: "r", title: "t", rows: [d])
        #expect(rt.contains("data-count=\"10\"") && rt.contains("p50 5.0 s") && rt.contains("max 1.7 min"))
    }

    @Test func niceScales() {
        #expect(Charts.niceScale(0) == (4, 1))
        #expect(Charts.niceScale(7) == (8, 2))
        #expect(Charts.niceScale(1232) == (1500, 500))
        #expect(Charts.short(1500) == "1.5k" && Charts.short(25_000) == "25k" && Charts.short(999) == "999")
    }
}
