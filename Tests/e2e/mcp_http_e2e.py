"""End-to-end: the official Python MCP SDK drives `mend serve` over Streamable HTTP
with a bearer token; requests without the token, or with a wrong one, get 401.

    .venv/bin/python Tests/e2e/mcp_http_e2e.py --mend .build/debug/mend
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client  # noqa: E402

from mcp_e2e_common import Elicitor, check, main, make_client, parse_args, prepare, scenario, step  # noqa: E402

INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    b'"capabilities":{},"clientInfo":{"name":"intruder","version":"1"}}}'
)


def status_of(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=INITIALIZE, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def start_server(setup, token: str, ingest: str) -> tuple[subprocess.Popen, str]:
    log = open(setup.workdir / "serve.log", "w+")
    # The agent token reaches MCP; the ingest token is another secret that must not.
    env = dict(setup.env, MEND_TOKEN=ingest, MEND_AGENT_TOKEN=token)
    proc = subprocess.Popen(
        [setup.mend, "serve", "--port", "0", "--db", setup.db, "--policy", setup.serve_policy],
        stdout=subprocess.DEVNULL, stderr=log, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        text = (setup.workdir / "serve.log").read_text()
        if m := re.search(r"MCP at (http://\S+/mcp)", text):
            return proc, m.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"mend serve exited {proc.returncode}: {text}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("mend serve did not report its address within 30 s")


async def run() -> None:
    args = parse_args(__doc__ or "")
    setup = prepare(args.mend, args.workdir)
    token = secrets.token_hex(24)
    ingest = secrets.token_hex(24)
    proc, url = start_server(setup, token, ingest)
    try:
        step(f"mend serve at {url} on {setup.db}")
        step("401 without the token, with a wrong one, and on other paths")
        check(status_of(url, {}) == 401, "no token → 401")
        check(status_of(url, {"Authorization": "Bearer " + "0" * 48}) == 401, "wrong token → 401")
        check(status_of(url, {"Authorization": token}) == 401, "token without the Bearer scheme → 401")
        check(status_of(url.replace("/mcp", "/other"), {}) == 401, "other paths → 401 too, nothing revealed")
        check(status_of(url, {"Authorization": "Bearer " + ingest}) == 401, "the ingest token → 401")
        setup.actor = "mcp:agent"

        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        elicitor = Elicitor()
        async with http, make_client(streamable_http_client(url, http_client=http), elicitor) as client:
            info = client.server_info
            check(info is not None and info.name == "mend", f"server info after initialize: {info}")
            await scenario(client, elicitor, setup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main(run)
