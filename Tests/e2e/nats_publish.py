#!/usr/bin/env python3
"""Publishes test records to a NATS JetStream stream with nats-py, a client independent of Mend.

  nats_publish.py --url URL create --stream S --subjects 'events.>'       (re)creates the stream
  nats_publish.py --url URL events --subject events.orders --count N [--start 1]
                  [--poison-every K] [--drift-every K] [--new-field-from K] [--stream S]
                                                                           records with ids start..start+N-1
  nats_publish.py --url URL lines --subject events.x FILE...                 each non-blank line is one message
  nats_publish.py --url URL info --stream S [--consumer C]                   JSON: stream and consumer state

`events` prints one JSON line: how many were published, how many of them are poison
(not a JSON object: quarantined by Mend) and how many drift (a string where the table has
a number: parked by Mend). Every record carries a distinct integer "id".
"""
import argparse
import asyncio
import json
import sys

import nats
from nats.js.api import RetentionPolicy, StorageType, StreamConfig


async def wait_stored(js, stream, want, timeout=120.0):
    """Core publishes are not acknowledged one by one: wait until the stream holds them all."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await js.stream_info(stream)
        if info.state.messages >= want:
            return info.state.messages
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"stream {stream} holds {info.state.messages} messages, expected {want}")
        await asyncio.sleep(0.05)


async def publish_all(nc, js, stream, subject, payloads):
    before = (await js.stream_info(stream)).state.messages if stream else 0
    for i, p in enumerate(payloads):
        await nc.publish(subject, p)
        if i % 5000 == 4999:
            await nc.flush()
    await nc.flush()
    if stream:
        await wait_stored(js, stream, before + len(payloads))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--stream", required=True)
    c.add_argument("--subjects", required=True, help="comma-separated subjects")
    e = sub.add_parser("events")
    e.add_argument("--stream", default="", help="wait until the stream stores them")
    e.add_argument("--subject", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--start", type=int, default=1)
    e.add_argument("--poison-every", type=int, default=0)
    e.add_argument("--drift-every", type=int, default=0)
    e.add_argument("--new-field-from", type=int, default=0, help='records from this one on carry "channel": "web"')
    l = sub.add_parser("lines")
    l.add_argument("--stream", default="")
    l.add_argument("--subject", required=True)
    l.add_argument("files", nargs="+")
    i = sub.add_parser("info")
    i.add_argument("--stream", required=True)
    i.add_argument("--consumer", default="")
    a = ap.parse_args()

    nc = await nats.connect(a.url, max_reconnect_attempts=3)
    js = nc.jetstream()
    try:
        if a.cmd == "create":
            try:
                await js.delete_stream(a.stream)
            except Exception:
                pass
            await js.add_stream(
                StreamConfig(
                    name=a.stream,
                    subjects=a.subjects.split(","),
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                )
            )
            print(json.dumps({"stream": a.stream}))
        elif a.cmd == "events":
            payloads, poison, drift = [], 0, 0
            for n in range(a.start, a.start + a.count):
                k = n - a.start + 1
                if a.poison_every and k % a.poison_every == 0:
                    poison += 1
                    # Alternate the two kinds of poison: not JSON, and JSON that is not an object.
                    payloads.append(b"not json {" + str(n).encode() if poison % 2 else b"[1, 2, 3]")
                    continue
                amount = 1.5
                if a.drift_every and k % a.drift_every == 0:
                    drift += 1
                    amount = "lots"  # a string in a numeric column: parked, never coerced
                rec = {"id": n, "user_id": n % 97, "kind": "click", "amount": amount, "ts": "2026-03-01T10:00:01Z"}
                if a.new_field_from and k >= a.new_field_from:
                    rec["channel"] = "web"  # a new nullable column: healed on its own
                payloads.append(json.dumps(rec).encode())
            await publish_all(nc, js, a.stream, a.subject, payloads)
            print(json.dumps({"published": len(payloads), "poison": poison, "drift": drift}))
        elif a.cmd == "lines":
            payloads = []
            for f in a.files:
                with open(f, "rb") as fh:
                    payloads += [line.rstrip(b"\r\n") for line in fh if line.strip()]
            await publish_all(nc, js, a.stream, a.subject, payloads)
            print(json.dumps({"published": len(payloads)}))
        elif a.cmd == "info":
            s = await js.stream_info(a.stream)
            out = {"messages": s.state.messages, "last_seq": s.state.last_seq}
            if a.consumer:
                ci = await js.consumer_info(a.stream, a.consumer)
                out.update(
                    {
                        "num_pending": ci.num_pending,
                        "num_ack_pending": ci.num_ack_pending,
                        "num_redelivered": ci.num_redelivered,
                        "ack_floor": ci.ack_floor.stream_seq if ci.ack_floor else 0,
                        "delivered": ci.delivered.stream_seq if ci.delivered else 0,
                    }
                )
            print(json.dumps(out))
    finally:
        await nc.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
