"""Shared scenario for the end-to-end tests of Mend's MCP server with the official
Python MCP SDK (a real third-party client). mcp_stdio_e2e.py and mcp_http_e2e.py
connect differently and then run `scenario` below.

The data is set up with `mend ingest` under a strict policy (every change waits for
approval), and the MCP server runs under a different policy, as after a policy
change: new columns apply on their own, type conflicts need a person, and the
`orders` table's columns are frozen.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import mcp_types as types
from mcp import Client

CLIENT_NAME = "mend-e2e-python"

STRICT_POLICY = """\
autonomy:
  add_column: approve
  add_variant_column: approve
  widen_column: approve
"""

SERVE_POLICY = """\
tables:
  orders:
    contracts:
      columns: freeze
"""


@dataclass
class Setup:
    mend: str
    workdir: Path
    db: str
    serve_policy: str
    env: dict[str, str] = field(default_factory=dict)
    # Who the audit names for tool calls: the client's name over stdio, the agent its token names over HTTP.
    actor: str = f"mcp:{CLIENT_NAME}"


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--mend", default=".build/debug/mend", help="path to the mend executable")
    p.add_argument("--workdir", default=None, help="directory for the database and data files (default: a new temp dir)")
    return p.parse_args()


def step(message: str) -> None:
    print(f"- {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_mend(setup: Setup, *args: str) -> str:
    out = subprocess.run([setup.mend, *args, "--db", setup.db], capture_output=True, text=True, env=setup.env)
    check(out.returncode == 0, f"mend {' '.join(args)} failed ({out.returncode}): {out.stdout}{out.stderr}")
    return out.stdout


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def prepare(mend: str, workdir: str | None) -> Setup:
    """A fresh SQLite database with three open incidents:
    #1 events: new field `coupon`; #2 events: `amount` "ten" in a bigint column;
    #3 orders: new field `gift` (columns frozen by the serving policy)."""
    wd = Path(workdir or tempfile.mkdtemp(prefix="mend-mcp-e2e-"))
    wd.mkdir(parents=True, exist_ok=True)
    strict = wd / "strict.yaml"
    strict.write_text(STRICT_POLICY)
    serve = wd / "serve.yaml"
    serve.write_text(SERVE_POLICY)
    env = dict(os.environ)
    env.pop("MEND_DB", None)
    setup = Setup(mend=str(Path(mend).resolve()), workdir=wd, db=f"sqlite:{wd / 'mend.db'}", serve_policy=str(serve), env=env)
    base = [{"id": i, "kind": "click", "amount": 10} for i in range(1, 6)]
    coupon = [{"id": i, "kind": "click", "amount": 10, "coupon": "SPRING"} for i in range(6, 9)]
    ten = [{"id": i, "kind": "click", "amount": "ten"} for i in range(9, 11)]
    orders = [{"order_id": i, "total": 5} for i in range(1, 4)]
    gift = [{"order_id": 4, "total": 5, "gift": True}]
    for name, table, records in [
        ("base", "events", base), ("coupon", "events", coupon), ("ten", "events", ten),
        ("orders", "orders", orders), ("gift", "orders", gift),
    ]:
        run_mend(setup, "ingest", write_jsonl(wd / f"{name}.jsonl", records), "--table", table, "--policy", str(strict), "--quiet")
    return setup


def structured(result: types.CallToolResult) -> dict[str, Any]:
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[-1].text)


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "text", None))


SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def schema_keys(schema: Any, at: str = "$") -> list[tuple[str, str]]:
    """Every property name a schema defines, with where: the keys an answer may carry
    (keys that are data, such as column names, are `additionalProperties`, not listed)."""
    out: list[tuple[str, str]] = []
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            out.append((name, f"{at}.{name}"))
            out += schema_keys(sub, f"{at}.{name}")
        for key in ("items", "additionalProperties", "not"):
            out += schema_keys(schema.get(key), f"{at}[{key}]")
        for key in ("oneOf", "anyOf", "allOf"):
            for i, sub in enumerate(schema.get(key) or []):
                out += schema_keys(sub, f"{at}[{key}][{i}]")
    return out


class SchemaCheck:
    """Validates every tool result against a JSON Schema with the `jsonschema` package (the
    one the MCP SDK uses), independently of the SDK's own check: a result that is not an
    error against the output schema its tool declared, an error against
    mend://schemas/tool-error. Also checks the schemas themselves: valid draft 2020-12,
    strict at the top, snake_case keys, and published as resources with the same value."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.validators: dict[str, jsonschema.protocols.Validator] = {}
        self.error_validator: jsonschema.protocols.Validator | None = None
        self.ok: set[str] = set()
        self.errors: set[str] = set()

    async def load(self) -> dict[str, types.Tool]:
        tools = {t.name: t for t in (await self.client.list_tools()).tools}
        for name, tool in tools.items():
            schema = tool.output_schema
            check(schema is not None, f"{name} declares an outputSchema")
            jsonschema.Draft202012Validator.check_schema(schema)
            check(schema["type"] == "object" and schema.get("additionalProperties") is False, f"{name}: a strict object schema")
            check(schema.get("$id") == f"mend://schemas/tools/{name}", f"{name}: $id {schema.get('$id')}")
            bad = [where for key, where in schema_keys(schema) if not SNAKE_CASE.match(key)]
            check(not bad, f"{name}: keys not in snake_case: {bad}")
            published = json.loads((await self.client.read_resource(f"mend://schemas/tools/{name}")).contents[0].text)
            check(published == schema, f"{name}: the resource mend://schemas/tools/{name} is the declared schema")
            self.validators[name] = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        error = json.loads((await self.client.read_resource("mend://schemas/tool-error")).contents[0].text)
        jsonschema.Draft202012Validator.check_schema(error)
        self.error_validator = jsonschema.Draft202012Validator(error)
        return tools

    def validate(self, name: str, result: types.CallToolResult) -> None:
        content = result.structured_content
        check(content is not None, f"{name} returned structuredContent: {text(result)}")
        check(len(result.content) >= 1 and result.content[0].type == "text" and result.content[0].text, f"{name}: a text summary")
        # Clients of revisions before 2025-06-18 read the same JSON from the last text block.
        check(json.loads(result.content[-1].text) == content, f"{name}: the JSON text block is the structured content")
        if result.is_error:
            assert self.error_validator is not None
            problems = [e.message for e in self.error_validator.iter_errors(content)]
            check(not problems, f"{name} error result against mend://schemas/tool-error: {problems}: {content}")
            check(content["error"] == result.content[0].text, f"{name}: the error is the summary")
            self.errors.add(name)
        else:
            problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in self.validators[name].iter_errors(content)]
            check(not problems, f"{name} result against its output schema: {problems}")
            self.ok.add(name)

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        result = await self.client.call_tool(name, arguments)
        self.validate(name, result)
        return result

    def rejects(self, name: str, content: Any) -> bool:
        """Whether the tool's schema rejects `content` (to show the schemas are not vacuous)."""
        return any(True for _ in self.validators[name].iter_errors(content))


class Elicitor:
    """The person behind the client: answers Mend's approval questions as told."""

    def __init__(self) -> None:
        self.answer = "decline"
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.answer == "accept":
            return types.ElicitResult(action="accept", content={"approver": "alice", "note": "checked the samples"})
        return types.ElicitResult(action=self.answer)


def make_client(server: Any, elicitor: Elicitor) -> Client:
    return Client(
        server,
        mode="legacy",  # Mend speaks the initialize handshake (MCP 2025-11-25 and earlier)
        elicitation_callback=elicitor,
        client_info=types.Implementation(name=CLIENT_NAME, version="1.0"),
        read_timeout_seconds=60,
        cache=None,
    )


async def scenario(client: Client, elicitor: Elicitor, setup: Setup) -> None:
    step("list tools, with input and output schemas and honest annotations")
    checked = SchemaCheck(client)
    tools = await checked.load()
    expected = {
        "list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan", "apply_plan",
        "approve_plan", "reject_plan", "replay_incident", "quarantine_records", "query_audit", "pipeline_stats",
    }
    check(expected <= set(tools), f"missing tools: {expected - set(tools)}")
    for name in ["list_incidents", "get_incident", "get_table_schema", "sample_records", "propose_plan", "query_audit", "pipeline_stats"]:
        check(tools[name].annotations is not None and tools[name].annotations.read_only_hint is True, f"{name} is read-only")
    check(tools["apply_plan"].annotations.read_only_hint is False, "apply_plan writes")
    check(tools["apply_plan"].annotations.destructive_hint is True, "apply_plan changes schemas it cannot undo")
    check(tools["replay_incident"].annotations.destructive_hint is False, "replay only adds rows")
    plan_schema = tools["propose_plan"].input_schema["properties"]["plan"]
    check("operations" in plan_schema["properties"], "the plan schema is published in the tool's input schema")

    step("list resources, resource templates and prompts; read a schema resource")
    uris = {r.uri for r in (await client.list_resources()).resources}
    for uri in ["mend://policy", "mend://audit/recent", "mend://schemas/plan", "mend://tables/events/schema", "mend://incidents/1"]:
        check(uri in uris, f"resource {uri} listed (got {sorted(uris)})")
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    check({"mend://tables/{table}/schema", "mend://incidents/{id}"} <= templates, f"templates: {templates}")
    schema = json.loads((await client.read_resource("mend://tables/events/schema")).contents[0].text)
    check(schema["table"] == "events" and {"id", "kind", "amount"} <= {c["name"] for c in schema["columns"]}, f"schema: {schema}")
    policy = json.loads((await client.read_resource("mend://policy")).contents[0].text)
    check(policy["tables"]["orders"]["contracts"]["columns"] == "freeze", f"serving policy: {policy}")
    prompts = {p.name for p in (await client.list_prompts()).prompts}
    check({"diagnose_incident", "review_plan"} <= prompts, f"prompts: {prompts}")
    diagnose = await client.get_prompt("diagnose_incident", {"incident_id": "1"})
    check("coupon" in diagnose.messages[0].content.text, "the diagnosis prompt carries the incident's drift")

    step("find the incidents")
    listed = structured(await checked.call("list_incidents", {}))
    by_id = {i["id"]: i for i in listed["incidents"]}
    check(by_id[1]["table"] == "events" and by_id[1]["status"] == "pending_approval", f"incident 1: {by_id.get(1)}")
    check(by_id[3]["table"] == "orders", f"incident 3: {by_id.get(3)}")
    detail = structured(await checked.call("get_incident", {"incident_id": 1}))
    check(len(detail["samples"]) == 3 and detail["samples"][0]["record"]["coupon"] == "SPRING", f"samples: {detail['samples']}")

    step("an invalid plan is a tool error that says what is wrong")
    bad = await checked.call(
        "propose_plan",
        {"incident_id": 1, "plan": {"operations": [{"kind": "add_column", "column": "Coupon Code", "sql": "DROP TABLE events"}], "rationale": "x"}},
    )
    check(bad.is_error is True, "invalid plan → isError")
    check("raw SQL is never accepted" in text(bad) and "type: required" in text(bad), f"message: {text(bad)}")

    step("drift → agent's plan (dry run, then apply) → replayed records")
    plan = {"operations": [{"kind": "add_column", "column": "coupon", "type": "text"}], "rationale": "coupon is a new optional field", "confidence": 0.9}
    dry = structured(await checked.call("propose_plan", {"incident_id": 1, "plan": plan}))
    check(dry["decision"]["autonomy"] == "auto" and 'ADD COLUMN "coupon"' in dry["statements"][0]["sql"], f"dry run: {dry}")
    check(dry["statements"][0]["risk"] == "low" and dry["statements"][0]["allowed"] is True, f"verdict: {dry['statements']}")
    applied = await checked.call("apply_plan", {"incident_id": 1, "plan": plan})
    check(applied.is_error is not True, f"apply: {text(applied)}")
    out = structured(applied)
    check(out["outcome"] == "applied" and out["incident"]["status"] == "resolved" and out["incident"]["parked"] == 0, f"applied: {out}")
    rows = structured(await checked.call("sample_records", {"table": "events", "limit": 50}))["rows"]
    check(sum(1 for r in rows if r.get("coupon") == "SPRING") == 3, f"replayed rows: {rows}")

    step("a forbidden plan is refused with the reason")
    gift = {"operations": [{"kind": "add_column", "column": "gift", "type": "boolean"}], "rationale": "gift flag", "confidence": 0.9}
    dry = structured(await checked.call("propose_plan", {"incident_id": 3, "plan": gift}))
    check(dry["decision"]["autonomy"] == "deny" and dry["outcome"] == "refused", f"dry run of frozen table: {dry}")
    refused = await checked.call("apply_plan", {"incident_id": 3, "plan": gift})
    check(refused.is_error is True and "contract is freeze" in text(refused), f"refusal: {text(refused)}")
    schema = json.loads((await client.read_resource("mend://tables/orders/schema")).contents[0].text)
    check("gift" not in {c["name"] for c in schema["columns"]}, "nothing was applied to orders")

    step("elicitation: the client's answer is recorded as the client's, and a person approves")
    elicitor.answer = "decline"
    pending = structured(await checked.call("apply_plan", {"incident_id": 2}))
    check(pending["outcome"] == "pending_approval" and "declined" in pending["why"], f"declined: {pending}")
    check(len(elicitor.asked) == 1 and "amount__v_text" in elicitor.asked[0], f"the person was asked about the plan: {elicitor.asked}")
    elicitor.answer = "accept"
    answered = await checked.call("apply_plan", {"incident_id": 2})
    check(answered.is_error is not True, f"answered apply: {text(answered)}")
    out = structured(answered)
    check(out["outcome"] == "pending_approval" and "not a person's approval" in out["why"], f"an accept is not an approval: {out}")
    answers = structured(await checked.call("query_audit", {"kind": "plan.client_answer"}))["entries"]
    check(any(e["actor"] == setup.actor and e["detail"]["action"] == "accept" and e["detail"]["counted_as_approval"] == "false"
              and e["detail"]["name_given"] == "alice" for e in answers), f"client answers: {answers}")
    direct = await checked.call("approve_plan", {"incident_id": 2})
    check(structured(direct)["outcome"] == "pending_approval", f"approve_plan from the client does not approve: {text(direct)}")
    # The person approves with the CLI, authenticated by the operating system as themselves.
    done = subprocess.run([setup.mend, "approve", "2", "--db", setup.db], env=dict(setup.env, USER="carol"),
                          capture_output=True, text=True, timeout=120)
    check(done.returncode == 0, f"mend approve: {done.stdout} {done.stderr}")
    detail = structured(await checked.call("get_incident", {"incident_id": 2}))
    check(detail["incident"]["status"] == "resolved", f"records replayed after the person's approval: {detail['incident']}")

    step("the audit log names the approver and every tool call")
    audit = structured(await checked.call("query_audit", {"kind": "plan.approved", "verify": True}))
    check(any(e["actor"] == "carol" and e["subject"].startswith("plan:") for e in audit["entries"]), f"approval audit: {audit['entries']}")
    check(audit["verification"]["ok"] is True, f"chain: {audit['verification']}")
    calls = structured(await checked.call("query_audit", {"kind": "mcp.tool_call", "limit": 500}))["entries"]
    check(all(e["actor"] == setup.actor for e in calls), f"tool calls carry the client's identity {setup.actor}")
    check(any(e["detail"]["tool"] == "apply_plan" and e["detail"]["result"] == "error" for e in calls), "failed calls are audited")
    check(all(len(e["detail"]["arguments_sha256"]) == 64 for e in calls), "argument digests")

    step("conservation: input = loaded + parked + quarantined")
    stats = structured(await checked.call("pipeline_stats", {}))["tables"]
    check(stats["events"]["input"] == 10 and stats["events"]["loaded"] == 10 and stats["events"]["parked"] == 0, f"events: {stats['events']}")
    check(stats["orders"]["parked"] == 1, f"orders: {stats['orders']}")
    check(all(t["input"] == t["loaded"] + t["parked"] + t["quarantined"] for t in stats.values()), f"stats: {stats}")

    step("the remaining tools: schema, reject, replay, quarantine; and errors in their own schema")
    schema = structured(await checked.call("get_table_schema", {"table": "events"}))
    check(schema["version"] >= 2 and "coupon" in {c["name"] for c in schema["columns"]}, f"events schema: {schema}")
    check(len(schema["history"]) >= 1 and all("ddl" in h for h in schema["history"]), f"history: {schema['history']}")
    rejected = structured(await checked.call("reject_plan", {"incident_id": 3, "reason": "gift is not ours to store"}))
    check(rejected == {"outcome": "rejected", "incident_id": 3}, f"rejected: {rejected}")
    replayed = structured(await checked.call("replay_incident", {"incident_id": 3}))
    check(replayed["loaded"] == 0 and replayed["still_parked"] == 1 and replayed["resolved"] is False, f"replayed: {replayed}")
    quarantined = structured(await checked.call("quarantine_records", {"incident_id": 3, "reason": "gift flag is not collected"}))
    check(quarantined["quarantined"] == 1 and quarantined["resolved"] is True and quarantined["not_found"] == [], f"quarantine: {quarantined}")
    for name, args in [
        ("get_table_schema", {"table": "nope"}), ("sample_records", {"table": "nope"}), ("reject_plan", {"incident_id": 3}),
        ("replay_incident", {"incident_id": 99}), ("quarantine_records", {"incident_id": 99, "reason": "x"}),
        ("list_incidents", {"status": "closed"}), ("query_audit", {"verify": "yes"}),
    ]:
        failed = await checked.call(name, args)
        check(failed.is_error is True, f"{name} {args} is an error: {text(failed)}")

    step("every tool's result was validated against its declared schema, and the schemas are strict")
    check(checked.ok == set(tools), f"validated results of {sorted(checked.ok)}; not of {sorted(set(tools) - checked.ok)}")
    listed = structured(await checked.call("list_incidents", {}))
    missing_key = copy.deepcopy(listed)
    del missing_key["incidents"][0]["status"]
    check(checked.rejects("list_incidents", missing_key), "a missing required key fails the schema")
    camel = copy.deepcopy(listed)
    camel["incidents"][0]["openedAt"] = camel["incidents"][0].pop("opened_at")
    check(checked.rejects("list_incidents", camel), "a key the schema does not name (camelCase) fails it")
    wrong = copy.deepcopy(listed)
    wrong["incidents"][0]["status"] = "closed"
    check(checked.rejects("list_incidents", wrong), "a value outside the enum fails it")


def main(run) -> None:
    """Runs an async entry point and turns failures into exit code 1 with the reason."""
    import anyio

    try:
        anyio.run(run)
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ok", flush=True)
