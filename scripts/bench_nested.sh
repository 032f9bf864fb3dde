#!/usr/bin/env bash
# The nested-lists benchmark (issue 31): one file of push-event-like records, loaded into the same
# PostgreSQL by `mend ingest` with child tables, by `mend ingest` with lists as JSON, and by dlt.
# Run under scripts/with-postgres.sh (it exports MEND_TEST_PG):
#   scripts/with-postgres.sh scripts/bench_nested.sh
# Settings: NESTED_N (100000), MEND_BIN (default .build/debug/mend), NESTED_SKIP_DLT=1.
# With PostgreSQL's default settings (fsync on), as users run it: MEND_TEST_PG=$MEND_TEST_PG_FAULT.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${NESTED_N:-100000}
mend=${MEND_BIN:-.build/debug/mend}
pg=${MEND_TEST_PG:?run under scripts/with-postgres.sh}
mkdir -p bench-data
file=bench-data/nested-$n.jsonl
[ -f "$file" ] || python3 scripts/gen_nested_bench.py "$file" "$n"
printf 'nested_lists: tables\n' > bench-data/nested-policy.yaml
sep='?'; case "$pg" in *\?*) sep='&';; esac
psql_() { psql "$pg" -qAt -c "$1"; }

# Each load starts after a CHECKPOINT, so none pays for the WAL the one before it wrote.
t() { local s; psql_ CHECKPOINT; s=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $s" | bc; }

# Each run starts empty: a second ingest of the same file into the same schemas would resume (load nothing).
for s in bench_nested bench_nested_state bench_json bench_json_state; do psql_ "DROP SCHEMA IF EXISTS $s CASCADE"; done

tables=$(t "$mend" ingest "$file" --table events --db "$pg${sep}schema=bench_nested&state_schema=bench_nested_state" \
    --policy bench-data/nested-policy.yaml --quiet)
json=$(t "$mend" ingest "$file" --table events --db "$pg${sep}schema=bench_json&state_schema=bench_json_state" --quiet)
echo "mend, child tables: ${tables}s  rows: events $(psql_ 'SELECT count(*) FROM bench_nested.events'), commits $(psql_ 'SELECT count(*) FROM bench_nested.events__payload__commits')"
echo "mend, lists as json: ${json}s  rows: events $(psql_ 'SELECT count(*) FROM bench_json.events')"
if [ "${NESTED_SKIP_DLT:-0}" != 1 ]; then
    psql_ 'DROP SCHEMA IF EXISTS bench_dlt_nested CASCADE'
    dlt=$(t .venv-bench/bin/python scripts/bench_dlt_nested.py "$file" "$pg")
    echo "dlt $(.venv-bench/bin/python -c 'import dlt; print(dlt.__version__)'), child tables: ${dlt}s  rows: events $(psql_ 'SELECT count(*) FROM bench_dlt_nested.events'), commits $(psql_ 'SELECT count(*) FROM bench_dlt_nested.events__payload__commits')"
    echo "ratio dlt / mend (child tables): $(echo "scale=1; $dlt / $tables" | bc)"
fi
