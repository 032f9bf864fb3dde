"""End-to-end: the official Python MCP SDK drives `mend mcp` over stdio, as a desktop
client would (command + args + env).

    .venv/bin/python Tests/e2e/mcp_stdio_e2e.py --mend .build/debug/mend
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp import StdioServerParameters  # noqa: E402

from mcp_e2e_common import Elicitor, main, make_client, parse_args, prepare, scenario, step  # noqa: E402


async def run() -> None:
    args = parse_args(__doc__ or "")
    setup = prepare(args.mend, args.workdir)
    step(f"mend mcp over stdio on {setup.db}")
    server = StdioServerParameters(
        command=setup.mend, args=["mcp", "--db", setup.db, "--policy", setup.serve_policy], env=setup.env)
    elicitor = Elicitor()
    async with make_client(server, elicitor) as client:
        info = client.server_info
        if info is None or info.name != "mend":
            raise AssertionError(f"server info after initialize: {info}")
        await scenario(client, elicitor, setup)


if __name__ == "__main__":
    main(run)
