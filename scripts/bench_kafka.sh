#!/usr/bin/env bash
# Kafka throughput: `mend consume kafka://…` with 1 worker against a bare librdkafka consumer
# that only polls (kcat in a consumer group, output to /dev/null: the broker's ceiling on this
# machine), and `mend ingest` of the same records from a file, on SQLite and PostgreSQL.
#
#   make bench                   (runs this after scripts/bench.sh)
#   scripts/bench_kafka.sh       (uses the release binary already built)
#
# The broker is Tansu behind its shim (scripts/with-kafka.sh), the database PostgreSQL from
# scripts/with-postgres.sh; both throwaway, on loopback. The records are bench-data/bench.jsonl
# (scripts/gen_bench_data.py), produced once to a 3-partition topic with confluent-kafka.
# Every consumer joins a new group (the same join wait for all: session.timeout.ms=6000); mend is
# timed to its last commit (the summary's lastCommitAt), kcat to its exit at the end of the topic.
#
# Environment: BENCH_N (records, default 1000000), BENCH_RUNS (3), BENCH_DATA (bench-data),
# BENCH_SKIP_PG=1, MEND_BIN (default: the release build).
# Output: a table on stdout and bench-data/results-kafka.md; logs in bench-data/results-kafka/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${BENCH_N:-1000000}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-bench-data}
RES=$DATA/results-kafka
if [ -z "${MEND_BIN:-}" ]; then MEND_BIN="$(swift build -c release --show-bin-path)/mend"; fi
export MEND_BIN BENCH_N=$N BENCH_RUNS=$RUNS BENCH_DATA=$DATA
[ -x "$MEND_BIN" ] || { echo "no mend binary at $MEND_BIN: run 'swift build -c release' (or 'make bench')"; exit 1; }
command -v kcat >/dev/null || { echo "kcat not found: make deps installs it"; exit 1; }
if [ -z "${MEND_TEST_KAFKA:-}" ]; then exec scripts/with-kafka.sh "$0" "$@"; fi
if [ "${BENCH_SKIP_PG:-0}" != "1" ] && [ -z "${MEND_TEST_PG:-}" ]; then exec scripts/with-postgres.sh "$0" "$@"; fi
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run 'make venv' (confluent-kafka)"; exit 1; }

mkdir -p "$RES"
: >"$RES/runs.tsv"
python3 scripts/gen_bench_data.py --n "$N" --out "$DATA" >/dev/null
topic=bench_$RANDOM
$PY Tests/e2e/kafka_produce.py --brokers "$MEND_TEST_KAFKA_BROKERS" create --topic "$topic" --partitions 3 >/dev/null
t0=$(date +%s.%N)
$PY Tests/e2e/kafka_produce.py --brokers "$MEND_TEST_KAFKA_BROKERS" lines --topic "$topic" "$DATA/bench.jsonl" >/dev/null
echo "produced $N records to $topic in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
printf 'session.timeout.ms=6000\n' >"$RES/kafka.properties"

record() { # name run seconds
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES/runs.tsv"
  printf '  %-16s run %s: %8.2fs  %10.0f records/s\n' "$1" "$2" "$3" "$(awk -v n="$N" -v s="$3" 'BEGIN { print n / s }')"
}

bare() { # run
  local t0 t1
  t0=$(date +%s.%N)
  kcat -b "$MEND_TEST_KAFKA_BROKERS" -G "bare-$1-$RANDOM" -X session.timeout.ms=6000 -o beginning -e -q "$topic" >/dev/null 2>"$RES/bare.$1.err"
  t1=$(date +%s.%N)
  record bare_kcat "$1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}

consume() { # name run db
  local t0 out
  out=$RES/$1.$2.json
  t0=$(date +%s.%N)
  "$MEND_BIN" consume "$MEND_TEST_KAFKA" --topic "$topic" --group "$1-$2-$RANDOM" --table events --db "$3" \
    --kafka-config "$RES/kafka.properties" --stop-when-idle 3 --json >"$out" 2>"$RES/$1.$2.err"
  local last msgs
  last=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_commit_at"])' "$out")
  msgs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$out")
  [ "$msgs" = "$N" ] || { echo "FAILED: $1 run $2 read $msgs messages, expected $N" >&2; exit 1; }
  record "$1" "$2" "$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", b - a }')"
}

ingest() { # name run db
  local t0 t1
  t0=$(date +%s.%N)
  "$MEND_BIN" ingest "$DATA/bench.jsonl" --table events --db "$3" >"$RES/$1.$2.out" 2>&1
  t1=$(date +%s.%N)
  record "$1" "$2" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}

for run in $(seq 1 "$RUNS"); do
  bare "$run"
  consume sqlite_consume "$run" "sqlite:$RES/consume.$run.db"
  ingest sqlite_ingest "$run" "sqlite:$RES/ingest.$run.db"
  if [ "${BENCH_SKIP_PG:-0}" != "1" ]; then
    consume pg_consume "$run" "$MEND_TEST_PG?schema=kc$run&state_schema=kc${run}_mend"
    ingest pg_ingest "$run" "$MEND_TEST_PG?schema=ki$run&state_schema=ki${run}_mend"
  fi
  rm -f "$RES"/consume.$run.db* "$RES"/ingest.$run.db*
done

median() { awk -F'\t' -v n="$1" '$1 == n { print $3 }' "$RES/runs.tsv" | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
bare_s=$(median bare_kcat)
{
  echo "Kafka, $N records, median of $RUNS, $(nproc) cores, $(date -u +%Y-%m-%d):"
  echo
  echo "| run | seconds | records/s | share of the bare consumer |"
  echo "| --- | ---: | ---: | ---: |"
  for name in bare_kcat sqlite_consume sqlite_ingest pg_consume pg_ingest; do
    s=$(median "$name")
    [ -n "$s" ] || continue
    awk -v n="$name" -v s="$s" -v r="$N" -v b="$bare_s" 'BEGIN { printf "| %s | %.2f | %.0f | %.0f %% |\n", n, s, r / s, 100 * b / s }'
  done
} | tee "$DATA/results-kafka.md"
