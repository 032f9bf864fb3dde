import Foundation
import MendPipeline
import ServiceLifecycle

/// The live view: `/live` streams server-sent events whenever the pipeline's summary
/// changes, `/live.json` is the same summary for the polling fallback, and
/// `/static/live.js` is the one script the pages load (same origin, so the CSP's
/// `script-src 'self'` admits it and nothing inline runs).
extension MendRouter {
    /// How often an open stream reads the summary.
    static let liveInterval: Duration = .seconds(2)
    /// A stream ends after this long and the browser reconnects (`retry:`), so no
    /// connection is held for ever and a shutdown waits at most this long for one.
    static let liveStreamLifetime: Duration = .seconds(25)

    static func summaryJSON(_ s: LiveSummary) -> Data {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(s)) ?? Data("{}".utf8)
    }

    func liveJSON() async throws -> ServerResponse {
        ServerResponse(
            status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            body: Self.summaryJSON(try await engine.liveSummary()))
    }

    func liveEvents() -> ServerReply {
        let engine = self.engine
        let head = ServerResponse(
            status: 200,
            headers: [
                ("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                ("X-Accel-Buffering", "no"),
            ])
        return .stream(head) { write in
            let clock = ContinuousClock()
            let started = clock.now
            var quietSince = started
            var last: LiveSummary?
            do {
                try await write(Data("retry: 2000\n\n".utf8))
                while clock.now - started < Self.liveStreamLifetime, !Task.isCancelled, !Task.isShuttingDownGracefully {
                    if let s = try? await engine.liveSummary(), s != last {
                        var event = Data("event: summary\ndata: ".utf8)
                        event.append(Self.summaryJSON(s))
                        event.append(Data("\n\n".utf8))
                        try await write(event)
                        last = s
                        quietSince = clock.now
                    } else if clock.now - quietSince > .seconds(15) {
                        try await write(Data(": keep-alive\n\n".utf8))  // proxies close silent streams
                        quietSince = clock.now
                    }
                    try await Task.sleep(for: Self.liveInterval)
                }
            } catch {
                // The client went away, or the server is stopping: the stream just ends.
            }
        }
    }

    static func liveScript() -> ServerResponse {
        ServerResponse(
            status: 200,
            headers: [
                ("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"),
            ], body: Data(liveJS.utf8))
    }

    /// The whole client side of the live view. Plain ES5, no framework: on a changed summary
    /// it updates the pending count in the navigation bar and, on pages marked `data-live`,
    /// fetches the page again and swaps its `<main>` (never while someone is typing in a form).
    static let liveJS = #"""
        // Mend's live view (served by mend serve as /static/live.js).
        (function () {
          "use strict";
          var last = null, failures = 0, polling = null;
          function setCount(n) {
            var el = document.getElementById("pending-count");
            if (!el) return;
            el.textContent = String(n);
            var link = el.closest("a");
            if (link) link.classList.toggle("has-pending", n > 0);
          }
          function busy() {
            var a = document.activeElement;
            if (a && a.closest && a.closest("main form")) return true;
            var fields = document.querySelectorAll("main textarea, main input[type=text]");
            for (var i = 0; i < fields.length; i++) if (fields[i].value) return true;
            return false;
          }
          function refresh() {
            if (!document.body.hasAttribute("data-live") || busy()) return;
            fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
              .then(function (r) { return r.ok ? r.text() : null; })
              .then(function (html) {
                if (!html || busy()) return;
                var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
                var main = document.querySelector("main");
                if (fresh && main) {
                  main.innerHTML = fresh.innerHTML;
                  document.body.setAttribute("data-refreshed", String(Date.now()));
                }
              })
              .catch(function () {});
          }
          function apply(s) {
            setCount(s.pending_approvals);
            var key = JSON.stringify(s);
            if (last !== null && key !== last) refresh();
            last = key;
            document.body.setAttribute("data-live-seen", String((+document.body.getAttribute("data-live-seen") || 0) + 1));
          }
          function poll() {
            if (polling) return;
            document.body.setAttribute("data-live-mode", "polling");
            var tick = function () {
              fetch("/live.json", { credentials: "same-origin" })
                .then(function (r) { return r.ok ? r.json() : null; })
                .then(function (s) { if (s) apply(s); })
                .catch(function () {});
            };
            tick();
            polling = setInterval(tick, 5000);
          }
          if (!window.EventSource || document.body.getAttribute("data-live-mode") === "polling") { poll(); return; }
          var source = new EventSource("/live");
          document.body.setAttribute("data-live-mode", "events");
          source.addEventListener("summary", function (e) { failures = 0; apply(JSON.parse(e.data)); });
          // A stream ends every 25 s by design and reconnects; only repeated failures fall back.
          source.onerror = function () { if (++failures >= 3) { source.close(); poll(); } };
        })();
        """#
}
