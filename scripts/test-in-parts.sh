#!/usr/bin/env bash
# Runs the whole suite in three parts, one after the other (make test, inside the throwaway
# servers of scripts/with-*.sh). Each part runs its tests in parallel, but the parts that start
# and restart real servers (Kafka; NATS and the fault tests) do not share CI's two cores with
# the rest: their time bounds, which make a hang fail, were missed on a loaded CI machine when
# the whole suite ran at once. Every part runs even when one fails; the exit status is 1 if any did.
set -uo pipefail
swift=${SWIFT:-swift}
status=0
part() {
  local name=$1; shift
  echo "== make test, part: $name"
  local started=$SECONDS
  "$swift" test --skip-build "$@" || status=1
  echo "== part '$name' took $((SECONDS - started)) s"
}
part "Kafka" --filter 'MendKafkaTests\.'
part "NATS and faults" --filter 'MendNATSTests\.|FaultTests'
part "the rest" --skip 'MendKafkaTests\.|MendNATSTests\.|FaultTests'
exit $status
