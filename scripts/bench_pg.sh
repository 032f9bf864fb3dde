#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on 127.0.0.1 for the benchmarks, and
# stops it afterwards whatever the command's outcome. The cluster keeps PostgreSQL's
# default settings (fsync on, synchronous_commit on): what users run, so a commit costs
# what it costs them. BENCH_PG_FSYNC=off gives the old, flattering figure, to be labelled.
#
# Exports MEND_TEST_PG (superuser URL) and BENCH_PG_LABEL ("fsync on" or "fsync off").
# Unlike scripts/with-postgres.sh, no TLS and no second cluster: nothing but the database timed.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }
fsync=${BENCH_PG_FSYNC:-on}
tmp=$(mktemp -d /tmp/mend-bench-pg.XXXXXX)
chmod 755 "$tmp"
port=${MEND_PG_PORT:-$((20000 + RANDOM % 20000))}
as_root=false
[ "$(id -u)" = "0" ] && { as_root=true; chown postgres:postgres "$tmp"; }
# PostgreSQL refuses to run as root: run it as the postgres user then.
run_pg() { if $as_root; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
stop() {
  run_pg "'$bindir/pg_ctl' -D '$tmp/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap stop EXIT

run_pg "'$bindir/initdb' -D '$tmp/data' -U postgres -A trust" >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log"; exit 1; }
# Only what a loopback benchmark needs; everything else (shared_buffers, WAL, checkpoints) is the default.
run_pg "'$bindir/pg_ctl' -D '$tmp/data' -l '$tmp/pg.log' -w -o \"-p $port -k '$tmp' -c listen_addresses=127.0.0.1 -c fsync=$fsync\" start" \
  >/dev/null || { cat "$tmp/pg.log"; exit 1; }
echo "throwaway PostgreSQL on 127.0.0.1:$port (defaults, fsync=$fsync)"
export MEND_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
export BENCH_PG_LABEL="fsync $fsync"
set +e
"$@"
status=$?
set -e
exit $status
