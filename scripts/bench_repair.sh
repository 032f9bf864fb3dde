#!/usr/bin/env bash
# Time to repair: from the first parked record to the last replayed one, as `mend stats`
# reports it per incident, with the rules planner and the default (auto) policy for a
# new nullable column. Runs N fresh databases per backend and prints the median.
# Usage: scripts/bench_repair.sh [N]   (PostgreSQL part needs MEND_TEST_PG, e.g. under
# scripts/with-postgres.sh; it is skipped otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
MEND=${MEND_BIN:-$(swift build -c release --show-bin-path)/mend}
tmp=$(mktemp -d /tmp/mend-repair.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" <<'PY'
import sys, json
d = sys.argv[1]
with open(f"{d}/base.jsonl", "w") as f:
    for i in range(1, 1001):
        f.write(json.dumps({"id": i, "user_id": i % 97, "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z"}) + "\n")
with open(f"{d}/drift.jsonl", "w") as f:
    for i in range(2001, 3001):
        f.write(json.dumps({"id": i, "user_id": i % 97, "kind": "buy", "amount": 2.0, "ts": "2026-03-02T00:00:00Z",
                            "coupon": "SPRING", "is_vip": i % 2 == 0}) + "\n")
PY

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(f"{statistics.median(v):.3f} s median, min {min(v):.3f}, max {max(v):.3f}, n={len(v)}")'; }

run() {  # $1 = db url
  "$MEND" ingest "$tmp/base.jsonl" --table events --db "$1" --quiet
  "$MEND" ingest "$tmp/drift.jsonl" --table events --db "$1" --quiet
  "$MEND" stats --json --db "$1" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(" ".join(str(v) for v in d["repair_seconds"].values()))'
}

: > "$tmp/sqlite.txt"
for i in $(seq "$N"); do run "sqlite:$tmp/r$i.db" >> "$tmp/sqlite.txt"; done
echo "SQLite     time to repair (1,000 parked records, 2 new columns): $(median < "$tmp/sqlite.txt")"

if [ -n "${MEND_TEST_PG:-}" ]; then
  : > "$tmp/pg.txt"
  for i in $(seq "$N"); do
    # A fresh target each run, also on a cluster that outlives the script.
    PGOPTIONS="-c client_min_messages=warning" psql "$MEND_TEST_PG" -X -q \
      -c "DROP SCHEMA IF EXISTS repair_$i CASCADE" -c "DROP SCHEMA IF EXISTS repair_${i}_mend CASCADE"
    run "$MEND_TEST_PG?schema=repair_$i&state_schema=repair_${i}_mend" >> "$tmp/pg.txt"
  done
  echo "PostgreSQL time to repair (1,000 parked records, 2 new columns): $(median < "$tmp/pg.txt")"
fi
