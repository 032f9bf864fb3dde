"""End-to-end: which MCP protocol revisions Mend serves (docs/mcp.md, "Protocol revisions").

1. Raw JSON-RPC over stdio: `initialize` at each revision. The handshake revisions
   2024-11-05 … 2025-11-25 are answered with the same revision; 2026-07-28 (which
   has no handshake) is answered with 2025-11-25, the newest Mend speaks. At every
   revision tools/list declares output schemas and tools/call returns structuredContent
   and the same JSON as text (what clients of revisions before 2025-06-18 read).
   `server/discover` (the 2026-07-28 probe) is "method not found".
2. The official Python SDK in its default mode ("auto"): it probes server/discover at
   2026-07-28, falls back to the initialize handshake, and negotiates 2025-11-25, over
   stdio and over Streamable HTTP; its results validate against the declared schemas.

    .venv/bin/python Tests/e2e/mcp_revisions_e2e.py --mend .build/debug/mend
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mcp_types as types  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client  # noqa: E402

from mcp_e2e_common import CLIENT_NAME, SchemaCheck, Setup, check, main, parse_args, prepare, step, structured  # noqa: E402
from mcp_http_e2e import start_server  # noqa: E402

HANDSHAKE = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
NEWEST_SERVED = "2025-11-25"


class RawStdio:
    """`mend mcp` driven by hand: one JSON-RPC message per line, as the stdio transport frames them."""

    def __init__(self, setup: Setup) -> None:
        self.proc = subprocess.Popen(
            [setup.mend, "mcp", "--db", setup.db, "--policy", setup.serve_policy],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=setup.env)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            check(line != "", f"mend mcp closed its output while {method} waited (exit {self.proc.poll()})")
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def raw_revisions(setup: Setup) -> None:
    for requested in [*HANDSHAKE, "2026-07-28"]:
        expected = requested if requested in HANDSHAKE else NEWEST_SERVED
        step(f"initialize at {requested} → {expected}")
        raw = RawStdio(setup)
        try:
            if requested == "2026-07-28":
                probe = raw.request("server/discover", {"_meta": {"io.modelcontextprotocol/protocolVersion": requested}})
                check(probe.get("error", {}).get("code") == -32601, f"server/discover is method-not-found: {probe}")
            init = raw.request("initialize", {
                "protocolVersion": requested, "capabilities": {}, "clientInfo": {"name": "raw-client", "version": "1"}})
            check("result" in init, f"initialize at {requested}: {init}")
            check(init["result"]["protocolVersion"] == expected, f"negotiated {init['result']['protocolVersion']}, expected {expected}")
            raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            tools = raw.request("tools/list")["result"]["tools"]
            check(all(t.get("outputSchema", {}).get("type") == "object" for t in tools), f"output schemas at {requested}")
            call = raw.request("tools/call", {"name": "list_incidents", "arguments": {}})["result"]
            check(call.get("isError") is not True and isinstance(call.get("structuredContent"), dict), f"structured at {requested}: {call}")
            check(json.loads(call["content"][-1]["text"]) == call["structuredContent"], "the same JSON as text, for older clients")
            check(call["content"][0]["text"].startswith("3 incident(s)"), f"a short summary first: {call['content'][0]}")
        finally:
            raw.close()


def auto_client(server: Any) -> Client:
    # mode="auto" is the SDK's default: discover first, then the handshake.
    return Client(server, mode="auto", client_info=types.Implementation(name=CLIENT_NAME, version="1.0"),
                  read_timeout_seconds=60, cache=None)


async def session_checks(client: Client, how: str) -> None:
    check(client.protocol_version == NEWEST_SERVED, f"{how}: negotiated {client.protocol_version}")
    checked = SchemaCheck(client)
    await checked.load()
    listed = structured(await checked.call("list_incidents", {}))
    check(listed["count"] == 3, f"{how}: {listed}")
    detail = structured(await checked.call("get_incident", {"incident_id": 1}))
    check(detail["incident"]["table"] == "events", f"{how}: {detail['incident']}")
    failed = await checked.call("get_incident", {"incident_id": 99})
    check(failed.is_error is True and "no incident 99" in failed.structured_content["error"], f"{how}: {failed}")


async def run() -> None:
    args = parse_args(__doc__ or "")
    setup = prepare(args.mend, args.workdir)
    raw_revisions(setup)

    step("the Python SDK's default mode over stdio: discover fails, the handshake negotiates 2025-11-25")
    server = StdioServerParameters(command=setup.mend, args=["mcp", "--db", setup.db, "--policy", setup.serve_policy], env=setup.env)
    async with auto_client(server) as client:
        await session_checks(client, "stdio")

    step("the Python SDK's default mode over Streamable HTTP")
    token = secrets.token_hex(24)
    proc, url = start_server(setup, token, secrets.token_hex(24))
    try:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, auto_client(streamable_http_client(url, http_client=http)) as client:
            await session_checks(client, "http")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main(run)
