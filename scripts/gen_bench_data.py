#!/usr/bin/env python3
"""Writes the benchmark input: N flat event records as JSON Lines and the same rows as CSV.

    scripts/gen_bench_data.py [--n N] [--out DIR]      (N defaults to $BENCH_N or 1,000,000)

Produces DIR/bench.jsonl, DIR/bench.csv (with a header, same column order as the JSONL keys)
and DIR/bench.meta. The output is deterministic (fixed seed), and generation is skipped when
DIR/bench.meta says the files already hold N records from this generator version.

Columns, in order: id BIGINT, user_id BIGINT, session TEXT, kind TEXT, url TEXT,
amount DOUBLE PRECISION, ok BOOLEAN, ts TIMESTAMPTZ (ISO-8601, Z), country TEXT, score BIGINT.
In the CSV, booleans are written as true/false, which both PostgreSQL's COPY and the
sqlite3 shell accept.
"""
import argparse
import csv
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone

VERSION = 1
SEED = 20240611
COLUMNS = ["id", "user_id", "session", "kind", "url", "amount", "ok", "ts", "country", "score"]
KINDS = ["view", "click", "purchase", "signup", "logout", "search"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "SE", "JP", "BR", "IN", "CA", "AU", "ES", "IT", "PL", "MX"]
PATHS = ["/", "/home", "/search", "/cart", "/checkout", "/product", "/account", "/help", "/blog", "/pricing"]
HOSTS = ["shop.example.com", "www.example.com", "m.example.com"]
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def rows(n):
    rnd = random.Random(SEED)
    for i in range(1, n + 1):
        kind = KINDS[rnd.randrange(len(KINDS))]
        path = PATHS[rnd.randrange(len(PATHS))]
        url = f"https://{HOSTS[rnd.randrange(3)]}{path}?ref={rnd.randrange(100000)}"
        ts = (EPOCH + timedelta(seconds=rnd.randrange(366 * 86400), milliseconds=rnd.randrange(1000)))
        yield {
            "id": i,
            "user_id": rnd.randrange(1, 200_000),
            "session": "%016x" % rnd.getrandbits(64),
            "kind": kind,
            "url": url,
            "amount": round(rnd.uniform(0.01, 500), 3),
            "ok": rnd.random() < 0.9,
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000),
            "country": COUNTRIES[rnd.randrange(len(COUNTRIES))],
            "score": rnd.randrange(-1000, 1000),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "1000000")))
    ap.add_argument("--out", default="bench-data")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    jsonl, csvp, meta = (os.path.join(a.out, f) for f in ("bench.jsonl", "bench.csv", "bench.meta"))
    want = f"version={VERSION} seed={SEED} n={a.n}\n"
    if os.path.exists(jsonl) and os.path.exists(csvp) and os.path.exists(meta):
        with open(meta) as f:
            if f.read() == want:
                print(f"reusing {jsonl} and {csvp} ({a.n} records)", file=sys.stderr)
                return
    if os.path.exists(meta):
        os.remove(meta)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with open(jsonl + ".tmp", "w", newline="\n") as fj, open(csvp + ".tmp", "w", newline="") as fc:
        w = csv.writer(fc, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows(a.n):
            fj.write(dumps(r))
            fj.write("\n")
            w.writerow([r["id"], r["user_id"], r["session"], r["kind"], r["url"], repr(r["amount"]),
                        "true" if r["ok"] else "false", r["ts"], r["country"], r["score"]])
    os.replace(jsonl + ".tmp", jsonl)
    os.replace(csvp + ".tmp", csvp)
    with open(meta, "w") as f:
        f.write(want)
    print(f"wrote {jsonl} and {csvp} ({a.n} records)", file=sys.stderr)


if __name__ == "__main__":
    main()
