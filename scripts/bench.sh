#!/usr/bin/env bash
# Throughput benchmark: Mend against the bulk loaders of its targets, on one machine in one run.
#
#   make bench                  (builds release, then runs this)
#   scripts/bench.sh            (uses the release binary already built)
#
# SQLite:     mend ingest  vs  sqlite3 `.import` of the same rows as CSV (the ceiling).
# PostgreSQL: mend ingest  vs  psql `\copy` of the CSV (the ceiling)  vs  dlt (a Python peer),
#             on a throwaway cluster that scripts/bench_pg.sh starts and stops (PostgreSQL defaults: fsync on).
# Both:       mend consume of the same records from a local JetStream stream (published once with
#             nats-py), with 1 and 2 workers on one durable consumer, beside mend ingest of the file;
#             a throwaway nats-server from scripts/with-nats.sh. Timed to the last batch's commit
#             (the summary's lastCommitAt), not to the --stop-when-idle exit.
# Mend and the ceiling run BENCH_RUNS times each, alternating; the median is reported.
# dlt runs BENCH_DLT_RUNS times (default once) on the first BENCH_DLT_N records (default all).
#
# Environment: BENCH_N (records, default 1000000), BENCH_RUNS (3), BENCH_DLT_N (= BENCH_N),
# BENCH_DLT_RUNS (1), BENCH_DATA (bench-data), BENCH_SKIP_PG=1, BENCH_SKIP_DLT=1, BENCH_SKIP_NATS=1,
# BENCH_CONSUME_BATCH (messages per fetch, default mend's), MEND_BIN (default: the release build).
# Output: a summary table on stdout, bench-data/results.md (markdown fragment),
# bench-data/results/runs.tsv (every timed run) and per-run logs beside it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${BENCH_N:-1000000}
RUNS=${BENCH_RUNS:-3}
DLT_N=${BENCH_DLT_N:-$N}
DLT_RUNS=${BENCH_DLT_RUNS:-1}
DATA=${BENCH_DATA:-bench-data}
RES=$DATA/results
VENV=.venv-bench
export BENCH_DATA=$DATA BENCH_N=$N BENCH_RUNS=$RUNS BENCH_DLT_N=$DLT_N BENCH_DLT_RUNS=$DLT_RUNS
if [ -z "${MEND_BIN:-}" ]; then
  MEND_BIN="$(swift build -c release --show-bin-path)/mend"
fi
export MEND_BIN
[ -x "$MEND_BIN" ] || { echo "no mend binary at $MEND_BIN: run 'swift build -c release' (or 'make bench')"; exit 1; }
# The whole run inside one throwaway nats-server (the PostgreSQL phase inherits MEND_TEST_NATS).
if [ "${BENCH_SKIP_NATS:-0}" != "1" ] && [ -z "${MEND_TEST_NATS:-}" ]; then
  exec scripts/with-nats.sh "$0" "$@"
fi
# Messages per fetch; unset: mend's default (the engine's batch size, 5,000 SQLite / 20,000 PostgreSQL).
consume_batch=()
[ -n "${BENCH_CONSUME_BATCH:-}" ] && consume_batch=(--batch "$BENCH_CONSUME_BATCH")

COLS_SQL="id BIGINT, user_id BIGINT, session TEXT, kind TEXT, url TEXT, amount DOUBLE PRECISION, ok BOOLEAN, ts TIMESTAMPTZ, country TEXT, score BIGINT"

# timed NAME RUN RECORDS CMD...: runs CMD under /usr/bin/time -v, appends
# "name run seconds peak_rss_kb records" to runs.tsv; stdout/stderr go to $RES/NAME.RUN.{out,err}.
timed() {
  local name=$1 run=$2 records=$3; shift 3
  local log=$RES/$name.$run t0 t1 rss secs
  t0=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>"$log.err"; then
    echo "FAILED ($name run $run): $*" >&2
    tail -n 20 "$log.out" "$log.err" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.time")
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$secs" "$rss" "$records" >>"$RES/runs.tsv"
  printf '  %-12s run %s: %8.2fs  %10.0f records/s  peak RSS %6.1f MB\n' \
    "$name" "$run" "$secs" "$(awk -v n="$records" -v s="$secs" 'BEGIN { print n / s }')" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
}

# timed_consume NAME RUN RECORDS WORKERS DB: WORKERS `mend consume` processes on a new durable
# consumer of stream BENCH (so each run reads the whole stream); seconds from start to the last
# commit of any worker. Appends to runs.tsv like `timed` (peak RSS: the largest worker's).
timed_consume() {
  local name=$1 run=$2 records=$3 workers=$4 db=$5
  local log=$RES/$name.$run t0 i p last secs rss pids=()
  t0=$(date +%s.%N)
  for i in $(seq 1 "$workers"); do
    /usr/bin/time -v -o "$log.w$i.time" "$MEND_BIN" consume "$MEND_TEST_NATS" --stream BENCH --consumer "$name-$run" \
      --table events --db "$db" "${consume_batch[@]}" --stop-when-idle 2 --json >"$log.w$i.out" 2>"$log.w$i.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || { echo "FAILED ($name run $run): mend consume" >&2; tail -n 20 "$log".w*.err >&2; exit 1; }
  done
  last=$(python3 -c 'import json, sys; print(max(json.load(open(f)).get("last_commit_at", 0) for f in sys.argv[1:]))' "$log".w*.out)
  secs=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", b - a }')
  rss=$(cat "$log".w*.time | awk -F': ' '/Maximum resident set size/ { if ($2 > m) m = $2 } END { print m }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$secs" "$rss" "$records" >>"$RES/runs.tsv"
  printf '  %-12s run %s: %8.2fs  %10.0f records/s  peak RSS %6.1f MB (%s worker(s))\n' \
    "$name" "$run" "$secs" "$(awk -v n="$records" -v s="$secs" 'BEGIN { print n / s }')" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$workers"
}

# expect_count WHAT GOT WANT
expect_count() {
  [ "$2" = "$3" ] || { echo "$1: expected $3 rows, found $2" >&2; exit 1; }
}

# ---------------------------------------------------------------- PostgreSQL phase
# Runs under scripts/bench_pg.sh, which exports MEND_TEST_PG (a superuser URL).
if [ "${1:-}" = "--pg-phase" ]; then
  PG=${MEND_TEST_PG:?run under scripts/bench_pg.sh}
  CSV_ABS=$(realpath "$DATA/bench.csv")
  psql_q() { PGOPTIONS="-c client_min_messages=warning" psql "$PG" -X -q -v ON_ERROR_STOP=1 "$@"; }
  psql_q -c "SELECT version()" -At >"$RES/pg-version.txt"
  mend_url="$PG?schema=bench_mend&state_schema=bench_mend_state"
  for run in $(seq 1 "$RUNS"); do
    psql_q -c "DROP SCHEMA IF EXISTS bench_mend CASCADE; DROP SCHEMA IF EXISTS bench_mend_state CASCADE"
    timed pg_mend "$run" "$N" "$MEND_BIN" ingest "$DATA/bench.jsonl" --table events --db "$mend_url"
    expect_count "mend (postgres)" "$(psql_q -At -c 'SELECT count(*) FROM bench_mend.events')" "$N"

    if [ -n "${MEND_TEST_NATS:-}" ]; then
      for w in 1 2; do
        psql_q -c "DROP SCHEMA IF EXISTS bench_mend CASCADE; DROP SCHEMA IF EXISTS bench_mend_state CASCADE"
        timed_consume "pg_consume$w" "$run" "$N" "$w" "$mend_url"
        expect_count "mend consume x$w (postgres)" "$(psql_q -At -c 'SELECT count(*) FROM bench_mend.events')" "$N"
      done
    fi

    psql_q -c "DROP SCHEMA IF EXISTS bench_copy CASCADE; CREATE SCHEMA bench_copy; CREATE TABLE bench_copy.events ($COLS_SQL)"
    timed pg_copy "$run" "$N" psql "$PG" -X -v ON_ERROR_STOP=1 -c "\\copy bench_copy.events FROM '$CSV_ABS' CSV HEADER"
    expect_count "\\copy" "$(psql_q -At -c 'SELECT count(*) FROM bench_copy.events')" "$N"
  done
  if [ "${BENCH_SKIP_DLT:-0}" != "1" ]; then
    dlt_file=$DATA/bench.jsonl
    if [ "$DLT_N" != "$N" ]; then
      dlt_file=$DATA/bench-$DLT_N.jsonl
      [ -s "$dlt_file" ] || head -n "$DLT_N" "$DATA/bench.jsonl" >"$dlt_file"
    fi
    for run in $(seq 1 "$DLT_RUNS"); do
      psql_q -c "DROP SCHEMA IF EXISTS bench_dlt CASCADE; DROP SCHEMA IF EXISTS bench_dlt_staging CASCADE"
      timed pg_dlt "$run" "$DLT_N" "$VENV/bin/python" scripts/bench_dlt.py "$dlt_file" "$PG" \
        --dataset bench_dlt --pipelines-dir "$DATA/dlt-pipelines"
      expect_count "dlt" "$(psql_q -At -c 'SELECT count(*) FROM bench_dlt.events')" "$DLT_N"
    done
  fi
  # The column types each loader ended up with, for the write-up.
  psql_q -At -F $'\t' -c "SELECT table_schema, column_name, data_type FROM information_schema.columns
    WHERE table_name = 'events' AND table_schema IN ('bench_mend', 'bench_copy', 'bench_dlt')
    ORDER BY table_schema, ordinal_position" >"$RES/pg-columns.tsv"
  exit 0
fi

# ---------------------------------------------------------------- main
for cmd in sqlite3 psql python3; do command -v $cmd >/dev/null || { echo "$cmd not found (make deps)"; exit 1; }; done
if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time for peak RSS"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
fi

python3 scripts/gen_bench_data.py --n "$N" --out "$DATA"
rm -rf "$RES" && mkdir -p "$RES"
printf 'name\trun\tseconds\tpeak_rss_kb\trecords\n' >"$RES/runs.tsv"
date -u +%Y-%m-%dT%H:%M:%SZ >"$RES/started"
if [ -n "${MEND_TEST_NATS:-}" ]; then
  echo "== NATS: publishing $N records to stream BENCH (nats-py)"
  .venv/bin/python -c 'import nats' 2>/dev/null || make -s venv
  pub=(.venv/bin/python Tests/e2e/nats_publish.py --url "$MEND_TEST_NATS")
  "${pub[@]}" create --stream BENCH --subjects 'bench.>' >/dev/null
  "${pub[@]}" lines --stream BENCH --subject bench.events "$DATA/bench.jsonl" >/dev/null
  nats-server --version >"$RES/nats-version.txt" 2>&1 || /usr/sbin/nats-server --version >"$RES/nats-version.txt"
fi
cut -d' ' -f1-3 /proc/loadavg >"$RES/load-start"
echo "tree $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' + uncommitted changes in Sources/'); binary $MEND_BIN, sha256 $(sha256sum "$MEND_BIN" | cut -c1-12), modified $(date -u -r "$MEND_BIN" +%Y-%m-%dT%H:%M:%SZ)" >"$RES/mend-version.txt"

echo "== SQLite: $N records, $RUNS runs each, alternating"
for run in $(seq 1 "$RUNS"); do
  rm -f "$DATA"/mend.db "$DATA"/mend.db-wal "$DATA"/mend.db-shm
  timed sqlite_mend "$run" "$N" "$MEND_BIN" ingest "$DATA/bench.jsonl" --table events --db "sqlite:$DATA/mend.db"
  expect_count "mend (sqlite)" "$(sqlite3 "$DATA/mend.db" 'SELECT count(*) FROM events')" "$N"

  rm -f "$DATA/import.db"
  sqlite3 "$DATA/import.db" "CREATE TABLE events ($COLS_SQL)"
  timed sqlite_import "$run" "$N" sqlite3 "$DATA/import.db" ".mode csv" ".import --skip 1 $DATA/bench.csv events"
  expect_count ".import" "$(sqlite3 "$DATA/import.db" 'SELECT count(*) FROM events')" "$N"

  if [ -n "${MEND_TEST_NATS:-}" ]; then
    for w in 1 2; do
      rm -f "$DATA"/consume.db "$DATA"/consume.db-wal "$DATA"/consume.db-shm
      timed_consume "sqlite_consume$w" "$run" "$N" "$w" "sqlite:$DATA/consume.db"
      expect_count "mend consume x$w (sqlite)" "$(sqlite3 "$DATA/consume.db" 'SELECT count(*) FROM events')" "$N"
    done
  fi
done
sqlite3 "$DATA/mend.db" "SELECT name, type FROM pragma_table_info('events')" >"$RES/sqlite-columns.txt"

if [ "${BENCH_SKIP_PG:-0}" != "1" ]; then
  if [ "${BENCH_SKIP_DLT:-0}" != "1" ]; then
    echo "== dlt: virtualenv $VENV"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -c 'import dlt, psycopg2' 2>/dev/null \
      || "$VENV/bin/pip" install -q --disable-pip-version-check "dlt[postgres]" >/dev/null
    "$VENV/bin/python" -c 'import dlt; print(dlt.__version__)' >"$RES/dlt-version.txt"
  fi
  echo "== PostgreSQL: $N records, $RUNS runs each (mend, \\copy alternating); dlt: $DLT_N records, $DLT_RUNS run(s)"
  scripts/bench_pg.sh "$0" --pg-phase
fi

# ---------------------------------------------------------------- summary
cut -d' ' -f1-3 /proc/loadavg >"$RES/load-end"
python3 - "$RES" "$DATA/results.md" <<'PY'
import csv, os, platform, statistics, subprocess, sys
res, out = sys.argv[1], sys.argv[2]
env = os.environ
runs = {}
for r in csv.DictReader(open(os.path.join(res, "runs.tsv")), delimiter="\t"):
    runs.setdefault(r["name"], []).append(r)

def med(name):
    rs = runs.get(name)
    if not rs: return None
    rates = [int(r["records"]) / float(r["seconds"]) for r in rs]
    return {"rate": statistics.median(rates), "secs": statistics.median(float(r["seconds"]) for r in rs),
            "rss_mb": max(int(r["peak_rss_kb"]) for r in rs) / 1024, "n": len(rs),
            "records": int(rs[0]["records"]), "all": rates}

def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.rstrip()
    except Exception: return "?"

def read(name):
    p = os.path.join(res, name)
    return open(p).read().strip() if os.path.exists(p) else ""

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rows = [("SQLite", "mend ingest", "sqlite_mend"), ("SQLite", "sqlite3 .import (CSV)", "sqlite_import"),
        ("SQLite", "mend consume, 1 worker", "sqlite_consume1"), ("SQLite", "mend consume, 2 workers", "sqlite_consume2"),
        ("PostgreSQL", "mend ingest", "pg_mend"), ("PostgreSQL", "psql \\copy (CSV)", "pg_copy"),
        ("PostgreSQL", "mend consume, 1 worker", "pg_consume1"), ("PostgreSQL", "mend consume, 2 workers", "pg_consume2"),
        ("PostgreSQL", "dlt " + read("dlt-version.txt"), "pg_dlt")]
m = {k: med(k) for _, _, k in rows}

def ratio(a, b):
    return m[a]["rate"] / m[b]["rate"] if m.get(a) and m.get(b) else None

checks = []
r = ratio("sqlite_mend", "sqlite_import")
if r is not None:
    checks.append(("SQLite: Mend ≥ 40% of .import rate", f"{r:.0%}", r >= 0.40))
    rss = m["sqlite_mend"]["rss_mb"]
    checks.append(("SQLite: Mend peak RSS < 150 MB", f"{rss:.1f} MB", rss < 150))
r = ratio("pg_mend", "pg_copy")
if r is not None:
    checks.append(("PostgreSQL: Mend ≥ 40% of \\copy rate", f"{r:.0%}", r >= 0.40))
for db, pre in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
    r = ratio(pre + "_consume1", pre + "_mend")
    if r is not None:
        checks.append((f"{db}: consume, 1 worker ≥ 70% of the file's ingest rate", f"{r:.0%}", r >= 0.70))
r = ratio("pg_mend", "pg_dlt")
if r is not None:
    checks.append(("PostgreSQL: Mend ≥ 20× dlt", f"{r:.1f}×", r >= 20))

table = ["| target | loader | records | runs | median s | median records/s | peak RSS MB |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
for tgt, label, k in rows:
    x = m[k]
    if x:
        table.append(f"| {tgt} | {label} | {x['records']:,} | {x['n']} | {x['secs']:.2f} | {x['rate']:,.0f} | {x['rss_mb']:.1f} |")
ctable = ["| target | measured | met |", "| --- | ---: | --- |"]
ctable += [f"| {c} | {v} | {'yes' if ok else '**no**'} |" for c, v, ok in checks]

n = env.get("BENCH_N"); runs_n = env.get("BENCH_RUNS")
lines = [
    f"### Run of {read('started')}",
    "",
    f"- Machine: {cpu}; `nproc` = {sh('nproc')}; kernel {platform.release()}",
    "- Memory (`free -h`):",
    "",
    "```",
    sh("free -h"),
    "```",
    "",
    f"- Mend: {read('mend-version.txt')} (release build); sqlite3 {sh('sqlite3 --version').split(' ')[0]};"
    f" {read('pg-version.txt').split(' on ')[0] or 'PostgreSQL not run'}; dlt {read('dlt-version.txt') or 'not run'}",
    f"- Data: {int(n):,} flat records, 10 fields (`scripts/gen_bench_data.py`, fixed seed), "
    f"{os.path.getsize(os.path.join(env['BENCH_DATA'], 'bench.jsonl')) / 1e6:.1f} MB JSONL / {os.path.getsize(os.path.join(env['BENCH_DATA'], 'bench.csv')) / 1e6:.1f} MB CSV",
    f"- Method: Mend and the ceiling loader run {runs_n}× each, alternating, into a fresh table each time; "
    "median wall-clock time of the whole process (start-up and connection included); "
    "peak RSS from `/usr/bin/time -v` (the largest over the runs).",
    f"- Load average (1, 5, 15 min) at start: {read('load-start')}; at end: {read('load-end')} "
    "(anything well above 1 means something else competed for the 2 cores).",
    "",
    *table,
    "",
    *ctable,
    "",
    "Commands (`$PG` = the throwaway cluster's superuser URL):",
    "",
    "```sh",
    "mend ingest bench-data/bench.jsonl --table events --db sqlite:bench-data/mend.db   # fresh file each run",
    "sqlite3 bench-data/import.db \"CREATE TABLE events (id BIGINT, user_id BIGINT, session TEXT, kind TEXT, url TEXT, amount DOUBLE PRECISION, ok BOOLEAN, ts TIMESTAMPTZ, country TEXT, score BIGINT)\"",
    "sqlite3 bench-data/import.db '.mode csv' '.import --skip 1 bench-data/bench.csv events'",
    "mend ingest bench-data/bench.jsonl --table events --db \"$PG?schema=bench_mend&state_schema=bench_mend_state\"",
    "psql \"$PG\" -c \"\\copy bench_copy.events FROM 'bench-data/bench.csv' CSV HEADER\"   # same 10 typed columns, pre-created",
    "# mend consume: the records published once to stream BENCH (nats-py); a new durable per run, 1 or 2 of these at once:",
    f"mend consume \"$NATS\" --stream BENCH --consumer NAME --table events --db DB{' --batch ' + env['BENCH_CONSUME_BATCH'] if env.get('BENCH_CONSUME_BATCH') else ''} --stop-when-idle 2 --json",
    f".venv-bench/bin/python scripts/bench_dlt.py bench-data/bench{'' if env.get('BENCH_DLT_N') == n else '-' + env.get('BENCH_DLT_N', '')}.jsonl \"$PG\" --dataset bench_dlt",
    "```",
]
open(out, "w").write("\n".join(lines) + "\n")

print()
print(f"{'target':<11} {'loader':<24} {'records':>9} {'runs':>4} {'median s':>9} {'records/s':>11} {'peak RSS MB':>11}")
for tgt, label, k in rows:
    x = m[k]
    if x:
        print(f"{tgt:<11} {label:<24} {x['records']:>9} {x['n']:>4} {x['secs']:>9.2f} {x['rate']:>11,.0f} {x['rss_mb']:>11.1f}")
print()
for c, v, ok in checks:
    print(f"  {'MET    ' if ok else 'NOT MET'}  {c}: {v}")
print(f"\nwrote {out}")
PY
