#!/usr/bin/env python3
"""Load check for `mend serve`: posts N records as NDJSON batches from this (second)
process over loopback, one keep-alive connection, and reports records/s and latency
percentiles. Usage: bench_http.py URL TOKEN JSONL [BATCH]"""
import http.client
import statistics
import sys
import time
import urllib.parse

url, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

latencies, records, started = [], 0, time.perf_counter()
with open(path, "rb") as f:
    n = 0
    while True:
        lines = [line for _, line in zip(range(batch), f)]
        if not lines:
            break
        body = b"".join(lines)
        n += 1
        t0 = time.perf_counter()
        conn.request("POST", u.path, body=body, headers={**headers, "Idempotency-Key": f"bench-{n}"})
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status != 200:
            sys.exit(f"request {n}: HTTP {resp.status}")
        records += len(lines)
elapsed = time.perf_counter() - started
q = statistics.quantiles(latencies, n=100)
print(f"{records} records in {len(latencies)} requests of {batch}: {elapsed:.2f} s, {records / elapsed:,.0f} records/s, "
      f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
