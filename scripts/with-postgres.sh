#!/usr/bin/env bash
# Runs a command with throwaway PostgreSQL clusters on 127.0.0.1, in a temporary
# directory, and stops them afterwards whatever the command's outcome.
#
# Exports for the tests:
#   MEND_TEST_PG               superuser URL of the main cluster (trust over TCP, as always; ssl=on)
#   MEND_TEST_PG_CA            the throwaway CA that signed the main cluster's certificate
#                              (CN=localhost, SAN DNS:localhost, IP:127.0.0.1)
#   MEND_TEST_PG_WRONG_CA      an unrelated CA, for the "wrong CA" tests
#   MEND_TEST_PG_CLIENT_CERT   a client certificate (and _KEY) for role mend_cert, which may only
#   MEND_TEST_PG_CLIENT_KEY    log in by certificate (hostssl ... cert)
#   MEND_TEST_PG_PW_URL        URL of role mend_pw with its right password (scram-sha-256)
#   MEND_TEST_PG_ALTHOST       127.0.0.2 when the main cluster also listens there: a loopback
#                              address the certificate does not name, for the host-name check
#   MEND_TEST_PG_NOTLS         superuser URL of a second, tiny cluster with ssl=off
#   MEND_TEST_PG_FAULT         superuser URL of a third cluster with PostgreSQL's default settings
#                              (fsync on), which the fault tests stop, restart and crash
#   MEND_TEST_PG_FAULT_CTL     a script that does it: restart-fast | restart-immediate | stop | start
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }
command -v openssl >/dev/null || { echo "openssl not found (apt-get install openssl)"; exit 1; }

tmp=$(mktemp -d /tmp/mend-pg.XXXXXX)
chmod 755 "$tmp"
port=${MEND_PG_PORT:-$((20000 + RANDOM % 20000))}
notls_port=$((port + 1))
fault_port=$((port + 2))
pki="$tmp/pki"
as_root=false
[ "$(id -u)" = "0" ] && as_root=true

# PostgreSQL refuses to run as root: run it as the postgres user then.
run_pg() {
  if $as_root; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

stop() {
  for d in data data-notls data-fault; do
    [ -d "$tmp/$d" ] && { run_pg "'$bindir/pg_ctl' -D '$tmp/$d' -m immediate stop" >/dev/null 2>&1 || true; }
  done
  rm -rf "$tmp"
}
trap stop EXIT

# Throwaway PKI: a CA, a server certificate it signs, an unrelated CA, and a client
# certificate for role mend_cert. EC P-256 keys: quick to make, and every TLS stack reads them.
mkdir -p "$pki"
new_ca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$pki/$1.key" -out "$pki/$1.crt" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
new_leaf() { # name, CN, extensions
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$2"
  printf '%b' "$3" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -out "$pki/$1.crt" -extfile "$pki/$1.ext"
}
{
  new_ca ca "Mend throwaway test CA"
  new_ca wrong-ca "Unrelated test CA"
  new_leaf server localhost \
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n'
  new_leaf client mend_cert \
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
} >"$tmp/openssl.log" 2>&1 || { cat "$tmp/openssl.log"; exit 1; }
chmod 600 "$pki"/*.key
chmod 644 "$pki"/*.crt

# Who may log in how. mend_cert only by certificate over TLS, mend_pw only by password;
# everyone else by trust, as before. The ssl=off cluster gets no hostssl lines.
cat >"$tmp/hba.conf" <<'HBA'
local   all  all                     trust
hostssl all  mend_cert  127.0.0.0/8  cert
host    all  mend_cert  127.0.0.0/8  reject
host    all  mend_pw    127.0.0.0/8  scram-sha-256
host    all  all        127.0.0.0/8  trust
host    all  all        ::1/128      trust
HBA
grep -v -e hostssl -e mend_cert "$tmp/hba.conf" >"$tmp/hba-notls.conf"

# The server key must belong to the server's user and be 0600, or PostgreSQL refuses it.
# The client key stays the caller's (libpq's and Mend's checks want it 0600 too).
if $as_root; then
  chown postgres:postgres "$tmp" "$pki/server.key"
fi

run_pg "'$bindir/initdb' -D '$tmp/data' -U postgres -A trust --no-sync" >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log"; exit 1; }
# The second cluster is a copy of the first, fresh data directory: no second initdb.
cp -a "$tmp/data" "$tmp/data-notls"
cp -a "$tmp/data" "$tmp/data-fault"

common="-k '$tmp' -c fsync=off"
# The test process keeps every warehouse it opened alive (KeepAlive in MendTestSupport), one
# connection each (two with a repair role): 100 slots ran out at 485 tests.
run_pg "'$bindir/pg_ctl' -D '$tmp/data' -l '$tmp/pg.log' -w -o \"-p $port $common -c max_connections=200 \
  -c listen_addresses=127.0.0.1,127.0.0.2 -c hba_file='$tmp/hba.conf' \
  -c ssl=on -c ssl_cert_file='$pki/server.crt' -c ssl_key_file='$pki/server.key' -c ssl_ca_file='$pki/ca.crt'\" start" \
  >/dev/null || { cat "$tmp/pg.log"; exit 1; }
run_pg "'$bindir/pg_ctl' -D '$tmp/data-notls' -l '$tmp/pg-notls.log' -w -o \"-p $notls_port $common -c max_connections=20 \
  -c shared_buffers=16MB -c listen_addresses=127.0.0.1 -c hba_file='$tmp/hba-notls.conf' -c ssl=off\" start" \
  >/dev/null || { cat "$tmp/pg-notls.log"; exit 1; }

# The fault cluster keeps PostgreSQL's defaults (fsync on): what users run, and what a crash tests.
fault_opts="-p $fault_port -k '$tmp' -c max_connections=40 -c shared_buffers=32MB -c listen_addresses=127.0.0.1 -c hba_file='$tmp/hba-notls.conf' -c ssl=off"
run_pg "'$bindir/pg_ctl' -D '$tmp/data-fault' -l '$tmp/pg-fault.log' -w -o \"$fault_opts\" start" \
  >/dev/null || { cat "$tmp/pg-fault.log"; exit 1; }
cat >"$tmp/fault-ctl.sh" <<CTL
#!/usr/bin/env bash
# Stops, starts or restarts the fault cluster as the fault tests ask (as the postgres user when root).
set -euo pipefail
# The server outlives this script: it must not inherit the caller's descriptors (a test
# runner waits for EOF on some of them, and would wait for as long as the server runs).
for fd in \$(ls /proc/\$\$/fd); do [ "\$fd" -gt 2 ] && eval "exec \$fd>&-" 2>/dev/null || true; done
exec </dev/null
pgctl() {
  if [ "\$(id -u)" = "0" ]; then su postgres -s /bin/bash -c "'$bindir/pg_ctl' -D '$tmp/data-fault' -l '$tmp/pg-fault.log' \$*"
  else '$bindir/pg_ctl' -D '$tmp/data-fault' -l '$tmp/pg-fault.log' "\$@"; fi
}
case "\${1:-}" in
  restart-fast) pgctl -w -m fast -o "\\"$fault_opts\\"" restart ;;
  restart-immediate) pgctl -w -m immediate -o "\\"$fault_opts\\"" restart ;;
  stop) pgctl -w -m fast stop ;;
  start) pgctl -w -o "\\"$fault_opts\\"" start ;;
  *) echo "usage: \$0 restart-fast|restart-immediate|stop|start" >&2; exit 2 ;;
esac
CTL
chmod 755 "$tmp/fault-ctl.sh"

pw_password="mend-pw-$RANDOM$RANDOM"
run_pg "'$bindir/psql' -q -v ON_ERROR_STOP=1 -h '$tmp' -p $port -U postgres -d postgres" >/dev/null <<SQL
CREATE ROLE mend_cert LOGIN;
CREATE ROLE mend_pw LOGIN PASSWORD '$pw_password';
SQL
echo "throwaway PostgreSQL on 127.0.0.1:$port (ssl=on), 127.0.0.1:$notls_port (ssl=off) and 127.0.0.1:$fault_port (defaults, for faults)"

export MEND_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
export MEND_TEST_PG_NOTLS="postgres://postgres@127.0.0.1:$notls_port/postgres"
export MEND_TEST_PG_FAULT="postgres://postgres@127.0.0.1:$fault_port/postgres"
export MEND_TEST_PG_FAULT_CTL="$tmp/fault-ctl.sh"
export MEND_TEST_PG_CA="$pki/ca.crt"
export MEND_TEST_PG_WRONG_CA="$pki/wrong-ca.crt"
export MEND_TEST_PG_CLIENT_CERT="$pki/client.crt"
export MEND_TEST_PG_CLIENT_KEY="$pki/client.key"
export MEND_TEST_PG_PW_URL="postgres://mend_pw:$pw_password@127.0.0.1:$port/postgres"
if "$bindir/pg_isready" -q -h 127.0.0.2 -p "$port"; then
  export MEND_TEST_PG_ALTHOST=127.0.0.2
fi
set +e
"$@"
status=$?
set -e
exit $status
