#!/usr/bin/env bash
# Drift benchmark: what a drifting file costs against the same file clean, on one machine in one run.
#
#   make bench                   (runs this after scripts/bench.sh)
#   scripts/bench_drift.sh       (uses the release binary already built)
#
# Input (scripts/gen_bench_data.py): bench.jsonl, N clean records, and bench-drift.jsonl, the same
# records where after the first 10,000, 1 % carry a string user id (a lossy conflict: parked) and
# 0.1 % carry one of 20 new fields with mixed value types (repairs under the default policy).
# Clean and drifting runs alternate, BENCH_RUNS (3) of each, on SQLite and then on PostgreSQL:
# a throwaway cluster with PostgreSQL's default settings (fsync on, scripts/bench_pg.sh), then,
# labelled, one with fsync=off (the figure earlier rounds reported). Reported: the median seconds
# of each, the ratio drifting/clean of the medians, every run's peak RSS (GNU time), and the
# transactions each run committed: pg_stat_database.xact_commit on PostgreSQL (read-only ones
# count too), and on SQLite the count `mend ingest --json` reports (`transactions`).
#
# Environment: BENCH_N (1000000), BENCH_RUNS (3), BENCH_DATA (bench-data), BENCH_SKIP_PG=1,
# BENCH_SKIP_NOFSYNC=1, BENCH_SKIP_SQLITE=1, MEND_BIN (default: the release build).
# Output: a table on stdout and $BENCH_DATA/drift/results.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${BENCH_N:-1000000}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-bench-data}
RES=$DATA/drift
if [ -z "${MEND_BIN:-}" ]; then MEND_BIN="$(swift build -c release --show-bin-path)/mend"; fi
[ -x "$MEND_BIN" ] || { echo "no mend binary at $MEND_BIN: run 'swift build -c release' (or 'make bench')"; exit 1; }
export MEND_BIN BENCH_N=$N BENCH_RUNS=$RUNS BENCH_DATA=$DATA

# commits_now: transactions committed in the cluster's database so far (nothing on SQLite).
commits_now() {
  [ -n "${PG:-}" ] || return 0
  psql "$PG" -X -A -t -q -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

# run NAME RUN DB FILE: one `mend ingest` under GNU time; appends "name run seconds rss_kb commits" to runs.tsv.
run() {
  local name=$1 run=$2 db=$3 file=$4 log=$RES/$1.$2 t0 t1 c0 c1 commits
  c0=$(commits_now)
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$log.time" "$MEND_BIN" ingest "$file" --table events --db "$db" --json >"$log.out" 2>"$log.err" \
    || { echo "FAILED: $name run $run" >&2; tail -n 20 "$log.err" >&2; exit 1; }
  t1=$(date +%s.%N)
  local rss secs
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.time")
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  if [ -n "${PG:-}" ]; then
    # A backend reports its counts when it ends, a moment after mend exits; the reading's own
    # transaction (one) is taken off.
    sleep 1
    c1=$(commits_now)
    commits=$((c1 - c0 - 1))
  else
    commits=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("transactions", "?"))' "$log.out")
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$secs" "$rss" "$commits" >>"$RES/runs.tsv"
  printf '  %-18s run %s: %7.2fs  peak RSS %6.1f MB  commits %s\n' "$name" "$run" "$secs" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$commits"
}

if [ "${1:-}" = "--pg-phase" ]; then
  PG=${MEND_TEST_PG:?run under scripts/bench_pg.sh}
  pre=${2:?pg or pgnofsync}
  url="$PG?schema=bench_drift&state_schema=bench_drift_state"
  reset() { PGOPTIONS="-c client_min_messages=warning" psql "$PG" -X -q -c "DROP SCHEMA IF EXISTS bench_drift CASCADE; DROP SCHEMA IF EXISTS bench_drift_state CASCADE"; }
  for i in $(seq 1 "$RUNS"); do
    reset; run ${pre}_clean "$i" "$url" "$DATA/bench.jsonl"
    reset; run ${pre}_drift "$i" "$url" "$DATA/bench-drift.jsonl"
  done
  reset
  exit 0
fi

python3 scripts/gen_bench_data.py --n "$N" --out "$DATA"
python3 scripts/gen_bench_data.py --n "$N" --out "$DATA" --drift
rm -rf "$RES" && mkdir -p "$RES"
printf 'name\trun\tseconds\tpeak_rss_kb\tcommits\n' >"$RES/runs.tsv"
if [ "${BENCH_SKIP_SQLITE:-0}" != "1" ]; then
  echo "== drift on SQLite: $N records, clean and drifting alternately, $RUNS each"
  for i in $(seq 1 "$RUNS"); do
    for kind in clean drift; do
      rm -f "$RES"/$kind.db*
      file=$DATA/bench.jsonl; [ $kind = drift ] && file=$DATA/bench-drift.jsonl
      run "sqlite_$kind" "$i" "sqlite:$RES/$kind.db" "$file"
    done
  done
fi
if [ "${BENCH_SKIP_PG:-0}" != "1" ]; then
  echo "== drift on PostgreSQL, default settings (fsync on): $N records, clean and drifting alternately, $RUNS each"
  scripts/bench_pg.sh "$0" --pg-phase pg
  if [ "${BENCH_SKIP_NOFSYNC:-0}" != "1" ]; then
    echo "== drift on PostgreSQL with fsync=off (not what users run): $N records, $RUNS each"
    BENCH_PG_FSYNC=off scripts/bench_pg.sh "$0" --pg-phase pgnofsync
  fi
fi
python3 - "$RES" <<'PY'
import csv, os, statistics, sys
res = sys.argv[1]
runs = {}
for r in csv.DictReader(open(os.path.join(res, "runs.tsv")), delimiter="\t"):
    runs.setdefault(r["name"], []).append(r)
lines = ["| database | clean median s | drifting median s | drifting / clean | peak RSS clean MB | peak RSS drifting MB | commits clean | commits drifting |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
for db, pre in (("SQLite", "sqlite"), ("PostgreSQL (defaults, fsync on)", "pg"), ("PostgreSQL (fsync=off)", "pgnofsync")):
    c, d = runs.get(pre + "_clean"), runs.get(pre + "_drift")
    if not c or not d:
        continue
    mc = statistics.median(float(r["seconds"]) for r in c)
    md = statistics.median(float(r["seconds"]) for r in d)
    rss = lambda rs: " / ".join(f"{int(r['peak_rss_kb']) / 1024:.0f}" for r in rs)
    com = lambda rs: " / ".join(r["commits"] for r in rs)
    lines.append(f"| {db} | {mc:.2f} | {md:.2f} | {md / mc:.2f}× | {rss(c)} | {rss(d)} | {com(c)} | {com(d)} |")
out = "\n".join(lines)
open(os.path.join(res, "results.md"), "w").write(out + "\n")
print(out)
PY
