#!/usr/bin/env bash
# Runs a command with a throwaway nats-server (JetStream on) on a random loopback port,
# storing in a temporary directory, and stops it afterwards whatever the command's outcome.
#
# Exports for the tests:
#   MEND_TEST_NATS   nats://127.0.0.1:PORT
set -euo pipefail

command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || {
  echo "nats-server not found (apt-get install nats-server)"; exit 1; }
server=$(command -v nats-server || echo /usr/sbin/nats-server)

tmp=$(mktemp -d /tmp/mend-nats.XXXXXX)
pid=""
stop() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap stop EXIT

# A few tries: a random port may be taken.
for _ in 1 2 3 4 5; do
  port=${MEND_NATS_PORT:-$((40000 + RANDOM % 20000))}
  "$server" -js -sd "$tmp/js" -a 127.0.0.1 -p "$port" >"$tmp/nats.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    if grep -q "Server is ready" "$tmp/nats.log"; then break 2; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
[ -n "$pid" ] || { echo "nats-server did not start:"; cat "$tmp/nats.log"; exit 1; }
echo "throwaway nats-server (JetStream) on 127.0.0.1:$port"

export MEND_TEST_NATS="nats://127.0.0.1:$port"
set +e
"$@"
status=$?
set -e
exit $status
