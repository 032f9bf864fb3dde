#!/usr/bin/env bash
# Load check for `mend serve`: a release server on a fresh SQLite file, and the
# bench_http.py client posting the benchmark's JSONL from a second process.
set -euo pipefail
cd "$(dirname "$0")/.."
MEND=${MEND_BIN:-$(swift build -c release --show-bin-path)/mend}
N=${BENCH_HTTP_N:-1000000}
BATCH=${BENCH_HTTP_BATCH:-1000}
[ -f bench-data/bench.jsonl ] || python3 scripts/gen_bench_data.py
tmp=$(mktemp -d /tmp/mend-http.XXXXXX)
head -n "$N" bench-data/bench.jsonl > "$tmp/in.jsonl"
export MEND_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
"$MEND" serve --db "sqlite:$tmp/serve.db" --port 0 2> "$tmp/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do grep -q "http://" "$tmp/serve.log" && break; sleep 0.1; done
url=$(grep -o "http://127.0.0.1:[0-9]*" "$tmp/serve.log" | head -1)
python3 scripts/bench_http.py "$url/v1/ingest/events" "$MEND_TOKEN" "$tmp/in.jsonl" "$BATCH"
"$MEND" stats --db "sqlite:$tmp/serve.db" | head -2
