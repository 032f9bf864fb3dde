#!/usr/bin/env python3
"""Drives the `mend serve` dashboard in headless Chromium, as a person would.

Logs in with an approver's own token, opens a pending incident, approves it through the
page's form, and checks that the page then shows the plan applied and the audit log
names the approver. Saves a screenshot of each page.

Standard library only: Chromium is driven over --remote-debugging-pipe (the DevTools
protocol as NUL-separated JSON on file descriptors 3 and 4), so no WebDriver and no
websocket package are needed.

usage: dashboard_chromium.py BASE_URL TOKEN INCIDENT_ID USER SCREENSHOT_DIR
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


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


def main():
    base, token, incident, user, shots = sys.argv[1:6]
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
        b.screenshot(os.path.join(shots, "dashboard-overview.png"))

        b.goto(f"{base}/incidents/{incident}")
        assert b.js("document.getElementById('plan-status').innerText") == "pending_approval"
        b.js("document.getElementById('approve-reason').value = 'checked in the browser test'")
        b.screenshot(os.path.join(shots, "dashboard-incident-pending.png"))
        b.js("document.getElementById('approve').click()")
        b.wait("document.readyState === 'complete' && document.getElementById('plan-status') && "
               "document.getElementById('plan-status').innerText === 'applied'", "the plan to show applied")
        decided = b.js("document.querySelector('.decided-by').innerText")
        assert decided == f"{user} (dashboard)", decided
        b.screenshot(os.path.join(shots, "dashboard-incident-applied.png"))

        b.goto(base + "/audit")
        assert b.js("document.getElementById('audit-verify').innerText.startsWith('Chain verified')")
        actors = b.js("[...document.querySelectorAll('td.actor')].map(e => e.innerText)")
        assert f"{user} (dashboard)" in actors, actors
        b.screenshot(os.path.join(shots, "dashboard-audit.png"))

        table = b.js("document.querySelector('a[href^=\"/tables/\"]') && "
                     "document.querySelector('a[href^=\"/tables/\"]').getAttribute('href')")
        b.goto(base + (table or "/tables/events"))
        b.screenshot(os.path.join(shots, "dashboard-schema.png"))
        print(json.dumps({"ok": True, "approver": decided}))
    finally:
        b.close()


if __name__ == "__main__":
    main()
