#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on 127.0.0.1, in a temporary
# directory, and stops it afterwards whatever the command's outcome.
# Exports MEND_TEST_PG (a superuser URL) for the tests.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }

tmp=$(mktemp -d /tmp/mend-pg.XXXXXX)
chmod 755 "$tmp"
port=${MEND_PG_PORT:-$((20000 + RANDOM % 20000))}

# PostgreSQL refuses to run as root: run it as the postgres user then.
run_pg() {
  if [ "$(id -u)" = "0" ]; then
    chown -R postgres:postgres "$tmp"
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

stop() {
  run_pg "'$bindir/pg_ctl' -D '$tmp/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap stop EXIT

run_pg "'$bindir/initdb' -D '$tmp/data' -U postgres -A trust --no-sync" >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log"; exit 1; }
run_pg "'$bindir/pg_ctl' -D '$tmp/data' -l '$tmp/pg.log' -w -o \"-p $port -k '$tmp' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100\" start" >/dev/null \
  || { cat "$tmp/pg.log"; exit 1; }
echo "throwaway PostgreSQL on 127.0.0.1:$port"

export MEND_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
set +e
"$@"
status=$?
set -e
exit $status
