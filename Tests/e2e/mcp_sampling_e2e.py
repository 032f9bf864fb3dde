"""End-to-end: `mend mcp --planner sampling` asks the client's own model for the plan
(MCP sampling, sampling/createMessage). The official Python MCP SDK is the client; its
sampling callback stands in for the model and answers with a scripted plan.

1. A client that declares sampling: propose_plan without a plan runs the engine's
   planner, which samples the client; the plan is the scripted map_field, planned by
   `mcp-sampling:<model>`, and the request carried the incident as fenced data.
2. A client that does not declare sampling: the same call falls back to the rules
   planner, and the audit (planner.fallback) says why.

    .venv/bin/python Tests/e2e/mcp_sampling_e2e.py --mend .build/debug/mend
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mcp_types as types  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from mcp_e2e_common import STRICT_POLICY, SchemaCheck, check, main, parse_args, run_mend, step, structured, text, write_jsonl  # noqa: E402
from mcp_e2e_common import Setup  # noqa: E402

MODEL = "scripted-model-1"
PLAN = {
    "operations": [{"kind": "map_field", "source": "client_id", "column": "customer_id"}],
    "rationale": "client_id carries the values customer_id used to carry: a renamed key",
    "confidence": 0.85,
}


class ScriptedModel:
    """The client's model: records each sampling request and answers with the plan in prose."""

    def __init__(self) -> None:
        self.requests: list[types.CreateMessageRequestParams] = []

    async def __call__(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.requests.append(params)
        reply = "The key was renamed. Plan:\n```json\n" + json.dumps(PLAN) + "\n```"
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=reply), model=MODEL, stop_reason="endTurn")


def prepare(mend: str, workdir: str | None) -> Setup:
    """Incident #1 on `customers`: `customer_id` arrives renamed as `client_id`
    (ingested under a strict policy, so nothing is applied before the MCP session)."""
    import os
    import tempfile

    wd = Path(workdir or tempfile.mkdtemp(prefix="mend-mcp-sampling-"))
    wd.mkdir(parents=True, exist_ok=True)
    strict = wd / "strict.yaml"
    strict.write_text(STRICT_POLICY)
    env = dict(os.environ)
    env.pop("MEND_DB", None)
    env.pop("MEND_PLANNER", None)
    setup = Setup(mend=str(Path(mend).resolve()), workdir=wd, db=f"sqlite:{wd / 'mend.db'}", serve_policy=str(strict), env=env)
    base = [{"id": i, "customer_id": 100 + i, "total": 5} for i in range(1, 6)]
    renamed = [{"id": i, "client_id": 100 + i, "total": 5} for i in range(6, 9)]
    for name, records in [("base", base), ("renamed", renamed)]:
        run_mend(setup, "ingest", write_jsonl(wd / f"{name}.jsonl", records), "--table", "customers", "--policy", str(strict), "--quiet")
    return setup


def client(setup: Setup, sampling: ScriptedModel | None, name: str) -> Client:
    server = StdioServerParameters(command=setup.mend, args=["mcp", "--db", setup.db, "--planner", "sampling"], env=setup.env)
    return Client(
        server,
        mode="legacy",  # Mend speaks the initialize handshake (MCP 2025-11-25 and earlier)
        sampling_callback=sampling,  # None: the client does not declare the sampling capability
        client_info=types.Implementation(name=name, version="1.0"),
        read_timeout_seconds=60,
        cache=None,
    )


def usage_models(setup: Setup) -> list[str]:
    with sqlite3.connect(setup.db.removeprefix("sqlite:")) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%usage%'")]
        check(len(tables) == 1, f"one usage table: {tables}")
        return [r[0] for r in db.execute(f'SELECT model FROM "{tables[0]}"')]


async def run() -> None:
    args = parse_args(__doc__ or "")
    setup = prepare(args.mend, args.workdir)

    step("a client that declares sampling: propose_plan asks the client's model")
    model = ScriptedModel()
    async with client(setup, model, "mend-e2e-sampling") as session:
        c = SchemaCheck(session)  # every result is validated against its tool's output schema
        await c.load()
        incidents = structured(await c.call("list_incidents", {}))["incidents"]
        check(len(incidents) == 1 and incidents[0]["table"] == "customers", f"incidents: {incidents}")
        incident = incidents[0]["id"]
        result = await c.call("propose_plan", {"incident_id": incident})
        check(result.is_error is not True, f"propose_plan: {text(result)}")
        proposal = structured(result)
        plan = proposal["plan"]
        check(plan["planned_by"] == f"mcp-sampling:{MODEL}", f"planned by the client's model: {plan}")
        ops = plan["operations"]
        check(len(ops) == 1 and (ops[0]["kind"], ops[0]["source"], ops[0]["column"]) == ("map_field", "client_id", "customer_id"),
              f"the scripted plan: {ops}")
        check(proposal["problem"] is None, f"a valid plan: {proposal}")

    check(len(model.requests) == 1, f"one sampling request: {len(model.requests)}")
    request = model.requests[0]
    check(request.system_prompt is not None and "repair planner of Mend" in request.system_prompt, "Mend's system prompt")
    check("Reply format" in request.system_prompt and '"operations"' in request.system_prompt,
          "the system prompt asks for submit_plan's JSON as text")
    check(not request.tools, f"no tools are sent: {request.tools}")
    first = request.messages[0]
    body = "\n".join(b.text for b in first.content_as_list if getattr(b, "text", None))
    check(first.role == "user" and '<data source="incident">' in body and "</data>" in body, f"fenced incident data: {body[:400]}")
    check("client_id" in body and '<data source="schema">' in body and "customer_id" in body, f"the drift and the schema: {body[:800]}")
    check("Read-only tools available: none" in body, f"no tools offered in text mode: {body[-300:]}")
    check(f"mcp-sampling:{MODEL}" in usage_models(setup), f"usage recorded under the client's model: {usage_models(setup)}")

    step("a client without sampling: the rules planner stands in, and the audit says why")
    async with client(setup, None, "mend-e2e-no-sampling") as session:
        c = SchemaCheck(session)
        await c.load()
        result = await c.call("propose_plan", {"incident_id": incident})
        check(result.is_error is not True, f"propose_plan: {text(result)}")
        plan = structured(result)["plan"]
        check(not plan["planned_by"].startswith("mcp-sampling:"), f"not the client's model: {plan}")
        check(plan["planned_by"].startswith("rules"), f"the rules planner's plan: {plan}")
        audit = structured(await c.call("query_audit", {"kind": "planner.fallback"}))["entries"]
        check(len(audit) == 1, f"one fallback audited: {audit}")
        reason = audit[0]["detail"]["reason"]
        check(audit[0]["detail"]["fallback"] == "rules", f"fallback: {audit[0]}")
        check("did not declare the sampling capability" in reason and "mend-e2e-no-sampling" in reason, f"reason: {reason}")


if __name__ == "__main__":
    main(run)
