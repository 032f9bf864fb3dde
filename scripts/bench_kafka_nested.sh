#!/usr/bin/env bash
# Nested records through Kafka (issue 31): the nested benchmark's file (scripts/gen_nested_bench.py,
# 100,000 push events) produced once to a 3-partition topic, then, per run, a bare librdkafka
# consumer (kcat: the broker's ceiling here) and `mend consume` with child tables into PostgreSQL,
# timed to its last commit. Several binaries alternate run by run (MEND_BINS, space-separated).
#
#   scripts/with-kafka.sh scripts/with-postgres.sh bash -c \
#     'MEND_TEST_PG=$MEND_TEST_PG_FAULT MEND_BINS="/tmp/before /tmp/after" scripts/bench_kafka_nested.sh'
#
# Settings: NESTED_N (100000), RUNS (3), MEND_BINS (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${NESTED_N:-100000}
runs=${RUNS:-3}
bins=${MEND_BINS:-$(swift build -c release --show-bin-path)/mend}
pg=${MEND_TEST_PG:?run under scripts/with-postgres.sh}
: "${MEND_TEST_KAFKA:?run under scripts/with-kafka.sh}"
PY=.venv/bin/python
mkdir -p bench-data
file=bench-data/nested-$n.jsonl
[ -f "$file" ] || python3 scripts/gen_nested_bench.py "$file" "$n"
printf 'nested_lists: tables\n' > bench-data/nested-policy.yaml
printf 'session.timeout.ms=6000\n' > bench-data/kafka-nested.properties
sep='?'; case "$pg" in *\?*) sep='&';; esac
psql_() { psql "$pg" -qAt -c "$1"; }
topic=nested_$RANDOM
$PY Tests/e2e/kafka_produce.py --brokers "$MEND_TEST_KAFKA_BROKERS" create --topic "$topic" --partitions 3 >/dev/null
$PY Tests/e2e/kafka_produce.py --brokers "$MEND_TEST_KAFKA_BROKERS" lines --topic "$topic" "$file" >/dev/null
for run in $(seq 1 "$runs"); do
    t0=$(date +%s.%N)
    kcat -b "$MEND_TEST_KAFKA_BROKERS" -G "bare-$run-$RANDOM" -X session.timeout.ms=6000 -o beginning -e -q "$topic" >/dev/null 2>&1
    echo "run $run kcat: $(echo "$(date +%s.%N) - $t0" | bc)s"
    for b in $bins; do
        psql_ "DROP SCHEMA IF EXISTS bench_kn CASCADE; DROP SCHEMA IF EXISTS bench_kn_state CASCADE" 2>/dev/null
        psql_ CHECKPOINT
        t0=$(date +%s.%N)
        "$b" consume "$MEND_TEST_KAFKA" --topic "$topic" --group "g-$run-$RANDOM" --table events \
            --db "$pg${sep}schema=bench_kn&state_schema=bench_kn_state" --policy bench-data/nested-policy.yaml \
            --kafka-config bench-data/kafka-nested.properties --stop-when-idle 3 --json > bench-data/kafka-nested.json
        last=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_commit_at"])' bench-data/kafka-nested.json)
        echo "run $run $b: $(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", b - a }')s  rows: events $(psql_ 'SELECT count(*) FROM bench_kn.events'), commits $(psql_ 'SELECT count(*) FROM bench_kn.events__payload__commits')"
    done
done
