#!/usr/bin/env python3
"""Writes the benchmark input: N flat event records as JSON Lines and the same rows as CSV.

    scripts/gen_bench_data.py [--n N] [--out DIR]      (N defaults to $BENCH_N or 1,000,000)

Produces DIR/bench.jsonl, DIR/bench.csv (with a header, same column order as the JSONL keys)
and DIR/bench.meta. The output is deterministic (fixed seed), and generation is skipped when
DIR/bench.meta says the files already hold N records from this generator version.

With --drift it writes DIR/bench-drift.jsonl instead: the same records, but after the first
10,000, 1 % carry a lossy type conflict (a string user id such as "u-4821", which parks) and
0.1 % carry one of 20 new fields whose values mix integers, decimals, strings and booleans
(new columns, widenings and more parking). It is the drift workload of scripts/bench_drift.sh.

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


NEW_FIELDS = [f"extra_{i:02d}" for i in range(20)]


def drifting(rows_iter):
    """The clean records with drift mixed in after the first 10,000 (a second seeded stream,
    so the clean columns stay identical to bench.jsonl)."""
    rnd = random.Random(SEED + 1)
    for r in rows_iter:
        if r["id"] > 10_000:
            x = rnd.random()
            if x < 0.01:
                r["user_id"] = f"u-{r['user_id']}"
            elif x < 0.011:
                k = NEW_FIELDS[rnd.randrange(len(NEW_FIELDS))]
                t = rnd.random()
                if t < 0.4:
                    r[k] = rnd.randrange(0, 10_000)
                elif t < 0.7:
                    r[k] = round(rnd.uniform(0, 1000), 2)
                elif t < 0.9:
                    r[k] = "%08x" % rnd.getrandbits(32)
                else:
                    r[k] = rnd.random() < 0.5
        yield r


def main_drift(a):
    path, meta = os.path.join(a.out, "bench-drift.jsonl"), os.path.join(a.out, "bench-drift.meta")
    want = f"version={VERSION} seed={SEED} n={a.n} drift=1\n"
    if os.path.exists(path) and os.path.exists(meta) and open(meta).read() == want:
        print(f"reusing {path} ({a.n} records)", file=sys.stderr)
        return
    if os.path.exists(meta):
        os.remove(meta)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with open(path + ".tmp", "w", newline="\n") as fj:
        for r in drifting(rows(a.n)):
            fj.write(dumps(r))
            fj.write("\n")
    os.replace(path + ".tmp", path)
    with open(meta, "w") as f:
        f.write(want)
    print(f"wrote {path} ({a.n} records)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "1000000")))
    ap.add_argument("--out", default="bench-data")
    ap.add_argument("--drift", action="store_true", help="write bench-drift.jsonl (the drift workload)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.drift:
        return main_drift(a)
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
