#!/usr/bin/env python3
"""Drives the `mend serve` dashboard in headless Chromium, as a person would.

Logs in with an approver's own token; checks that the overview's plots hold the numbers
`mend stats --json` prints; opens a pending incident and checks the diff its plan would
make; approves it through the page's form and checks the page then shows the plan
applied; sends a drifting record and waits for the navigation bar's live count of
pending approvals to go up without a reload; checks that the audit log names the
approver and that the schema history shows the change as a diff. Saves a screenshot of
each page.

Standard library only: Chromium is driven over --remote-debugging-pipe (the DevTools
protocol as NUL-separated JSON on file descriptors 3 and 4), so no WebDriver and no
websocket package are needed.

usage: dashboard_chromium.py BASE_URL TOKEN INCIDENT_ID USER SCREENSHOT_DIR
           --mend BIN --db URL --ingest-token T --live-table TABLE --live-body JSON
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


class Browser:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            sys.exit("chromium not found: install Debian's `chromium` package (make test does)")
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="mend-chromium-")

        def fds():
            # Chromium reads commands on fd 3 and writes answers on fd 4. Copy both out
            # of the way first, in case either pipe end already is 3 or 4.
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={self.profile}",
             "--window-size=1280,900", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4),  # kept open by close_fds, which runs after preexec_fn
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + 90  # generous: CI shares 2 cores with the rest of the suite
        while time.time() < deadline:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        raise TimeoutError(method)

    def js(self, expr):
        r = self.call("Runtime.evaluate", session=True, expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.js(expr):
                    return
            except RuntimeError:
                pass  # the page is navigating
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout}s for {what}; page is {self.js('location.href')}")

    def goto(self, url):
        self.call("Page.navigate", session=True, url=url)
        self.wait(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def stats(mend, db):
    """What `mend stats --json` prints: the numbers the plots must show."""
    out = subprocess.run([mend, "stats", "--db", db, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["tables"]


def plotted(b, table, series):
    """The sum of one series' bars in a table's last-hour plot."""
    return b.js(f"[...document.querySelectorAll('svg#t-{table}-hour rect.bar.{series}')]"
                ".reduce((n, r) => n + Number(r.dataset.value), 0)")


def check_overview(b, mend, db):
    b.wait("document.querySelectorAll('svg.chart').length > 0", "the overview's plots")
    tables = stats(mend, db)
    assert tables, "mend stats lists no tables"
    for table, row in tables.items():
        for series in ("loaded", "quarantined"):
            got = plotted(b, table, series)
            assert got == row[series], f"{table} {series}: plot {got}, mend stats {row[series]}"
    parked_now = sum(r["parked"] for r in tables.values())
    parked_plotted = sum(plotted(b, t, "parked") for t in tables)
    # The plot counts records as they were parked; some have been replayed since.
    assert parked_plotted >= parked_now > 0, f"parked: plot {parked_plotted}, still parked {parked_now}"
    incidents = b.js("document.querySelectorAll('#incident-timeline .incident-steps').length")
    assert incidents >= 3, f"timeline rows: {incidents}"
    assert b.js("document.querySelectorAll('#incident-timeline .step.applied').length") >= 1, "an applied step on the timeline"
    assert b.js("document.querySelectorAll('#repair-times .repairs circle').length") >= 1, "repairs on the time-to-repair plot"
    markers = b.js("document.querySelectorAll('svg.chart a.marker').length")
    assert markers >= incidents, f"incident markers on the time axis: {markers}"
    return tables


def main():
    parser = argparse.ArgumentParser()
    for name in ("base", "token", "incident", "user", "shots"):
        parser.add_argument(name)
    parser.add_argument("--mend", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--ingest-token", required=True)
    parser.add_argument("--live-table", required=True)
    parser.add_argument("--live-body", required=True)
    a = parser.parse_args()
    base, token, incident, user, shots = a.base, a.token, a.incident, a.user, a.shots
    os.makedirs(shots, exist_ok=True)
    b = Browser()
    try:
        b.goto(base + "/login")
        b.screenshot(os.path.join(shots, "dashboard-login.png"))
        b.js(f"document.getElementById('token').value = {json.dumps(token)}")
        b.js("document.getElementById('login').click()")
        b.wait(f"location.href === {json.dumps(base + '/')} && document.readyState === 'complete'", "the overview after login")
        assert b.js("document.body.innerText.includes('Open incidents')"), "overview did not render"
        assert b.js(f"!!document.querySelector('a[href=\"/incidents/{incident}\"]')"), "pending incident not listed"
        check_overview(b, a.mend, a.db)
        b.screenshot(os.path.join(shots, "dashboard-overview.png"))

        b.goto(f"{base}/incidents/{incident}")
        assert b.js("document.getElementById('plan-status').innerText") == "pending_approval"
        changed = b.js("[...document.querySelectorAll('#plan-diff tr')].filter(r => r.className && r.className !== 'unchanged')"
                       ".map(r => r.className + ':' + r.cells[1].innerText)")
        assert changed, "the pending plan shows the diff it would make"
        b.js("document.getElementById('approve-reason').value = 'checked in the browser test'")
        b.screenshot(os.path.join(shots, "dashboard-incident-pending.png"))
        b.js("document.getElementById('approve').click()")
        b.wait("document.readyState === 'complete' && document.getElementById('plan-status') && "
               "document.getElementById('plan-status').innerText === 'applied'", "the plan to show applied")
        decided = b.js("document.querySelector('.decided-by').innerText")
        assert decided == f"{user} (dashboard)", decided
        b.screenshot(os.path.join(shots, "dashboard-incident-applied.png"))

        # The live view: a new incident opens while the overview is open; the count follows.
        b.goto(base + "/")
        b.wait("document.body.getAttribute('data-live-seen') !== null", "the live view's first summary")
        count = int(b.js("document.getElementById('pending-count').innerText"))
        links = b.js("document.querySelectorAll('#open-incidents a').length")
        req = urllib.request.Request(f"{base}/v1/ingest/{a.live_table}", data=a.live_body.encode(), method="POST", headers={
            "Authorization": f"Bearer {a.ingest_token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        assert answer.get("pending_approval"), f"the live drift opened no pending incident: {answer}"
        b.wait(f"Number(document.getElementById('pending-count').innerText) === {count + 1}", "the live count to go up", timeout=45)
        b.wait(f"document.querySelectorAll('#open-incidents a').length === {links + 1}", "the new incident on the page", timeout=45)
        mode = b.js("document.body.getAttribute('data-live-mode')")
        assert mode == "events", f"live mode {mode}"
        b.screenshot(os.path.join(shots, "dashboard-live.png"))

        b.goto(base + "/audit")
        assert b.js("document.getElementById('audit-verify').innerText.startsWith('Chain verified')")
        actors = b.js("[...document.querySelectorAll('td.actor')].map(e => e.innerText)")
        assert f"{user} (dashboard)" in actors, actors
        b.screenshot(os.path.join(shots, "dashboard-audit.png"))

        b.goto(f"{base}/incidents/{incident}")
        table = b.js("[...document.querySelectorAll('a[href^=\"/tables/\"]')][0].getAttribute('href')")
        b.goto(base + table)
        versions = b.js("document.querySelectorAll('#history .schema-change').length")
        assert versions >= 3, f"schema history cards: {versions}"
        widened = b.js("document.querySelectorAll('#history tr.widened').length")
        assert widened >= 1, "the approved widening shows in the history as a diff"
        approvers = b.js("[...document.querySelectorAll('#history .approved-by')].map(e => e.innerText)")
        assert f"{user} (dashboard)" in approvers, approvers
        b.screenshot(os.path.join(shots, "dashboard-schema.png"))
        print(json.dumps({"ok": True, "approver": decided, "live_count": count + 1}))
    finally:
        b.close()


if __name__ == "__main__":
    main()
