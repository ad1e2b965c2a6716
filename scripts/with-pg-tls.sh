#!/usr/bin/env bash
# Runs a command with the servers the connection tests need, as production has them:
#
# - TEST_TLS_DATABASE_URL: a PostgreSQL with `ssl = on` and a certificate from a private CA
#   made here (CN and SAN `localhost`, SAN IP 127.0.0.1; it also listens on 127.0.0.2, an
#   address the certificate does not name). Password sign-in over TCP with or without TLS,
#   except the role `certuser`, which must present a client certificate (`hostssl … cert`).
# - TEST_TLS_DIR: ca.crt (the CA), other-ca.crt (an unrelated CA), client.crt and client.key
#   (a client certificate for certuser, signed by the CA).
# - TEST_PGBOUNCER_URL: Debian's PgBouncer (installed from the machine's packages when missing
#   and we are root) in `pool_mode = transaction` in front of that server.
#
# Each is created in a temporary folder and removed when the command ends; set all three to
# use servers of your own instead.
#
# Usage: scripts/with-pg-tls.sh COMMAND [ARGS...]
set -euo pipefail

if [[ -n "${TEST_TLS_DATABASE_URL:-}" && -n "${TEST_TLS_DIR:-}" && -n "${TEST_PGBOUNCER_URL:-}" ]]; then
  exec "$@"
fi

# shellcheck source=scripts/pg-common.sh
source "$(dirname "$0")/pg-common.sh"

need() {
  local command=$1 package=$2
  command -v "$command" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "with-pg-tls: installing $package from the machine's packages..." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package"; } >&2
  fi
  command -v "$command" >/dev/null 2>&1 || {
    echo "with-pg-tls: $command is missing. Install it (Debian/Ubuntu: sudo apt-get install $package)," >&2
    echo "or set TEST_TLS_DATABASE_URL, TEST_TLS_DIR and TEST_PGBOUNCER_URL to servers you run." >&2
    exit 1
  }
}
need openssl openssl
need pgbouncer pgbouncer
need psql postgresql-client

WORK=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-pgtls.XXXXXX")
TLS="$WORK/tls"
mkdir -p "$TLS"
PORT=$(free_port)
BOUNCER_PORT=$(free_port)

cleanup() {
  if [[ -f "$WORK/pgbouncer.pid" ]]; then kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true; fi
  as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A private CA, the server's certificate, a client certificate, and an unrelated CA.
(
  cd "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=guardrail test CA" \
    -keyout ca.key -out ca.crt
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=unrelated CA" \
    -keyout other-ca.key -out other-ca.crt
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt
  openssl req -newkey rsa:2048 -nodes -subj "/CN=certuser" -keyout client.key -out client.csr
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out client.crt
  chmod 600 ./*.key
) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  chmod 755 "$WORK"
  chown -R postgres "$WORK"
  # The test process (root) reads the client key too; root may read a file it does not own.
fi

echo postgres >"$WORK/pwfile"
as_owner "$PG_BIN/initdb" -D "$WORK/data" -U postgres --pwfile="$WORK/pwfile" --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; exit 1; }
cat >"$WORK/data/pg_hba.conf" <<HBA
local   all       all                        trust
hostssl all       certuser  127.0.0.1/32     cert
host    all       certuser  0.0.0.0/0        reject
host    all       all       127.0.0.1/32     scram-sha-256
host    all       all       127.0.0.2/32     scram-sha-256
HBA
as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1,127.0.0.2 -p $PORT -c unix_socket_directories=$WORK -c fsync=off \
      -c max_connections=100 -c ssl=on -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key \
      -c ssl_ca_file=$TLS/ca.crt" \
  start >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
"$PG_BIN/psql" -q -h "$WORK" -p "$PORT" -U postgres -d postgres -c "CREATE ROLE certuser LOGIN SUPERUSER" >/dev/null

# PgBouncer in transaction pooling mode, any database name passed through to the server. Two
# server connections per pool, so that consecutive transactions of one client do move between
# server connections.
cat >"$WORK/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
server_tls_sslmode = disable
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
INI
printf '"postgres" "postgres"\n' >"$WORK/userlist.txt"
[[ $(id -u) -eq 0 ]] && chown postgres "$WORK/pgbouncer.ini" "$WORK/userlist.txt"
as_owner pgbouncer -d "$WORK/pgbouncer.ini" || { cat "$WORK/pgbouncer.log" >&2; exit 1; }

export TEST_TLS_DATABASE_URL="postgres://postgres:postgres@localhost:$PORT/postgres"
export TEST_TLS_DIR="$TLS"
export TEST_PGBOUNCER_URL="postgres://postgres:postgres@127.0.0.1:$BOUNCER_PORT/postgres"
echo "with-pg-tls: PostgreSQL with TLS on localhost:$PORT, PgBouncer $(pgbouncer --version | awk 'NR==1{print $2}') on 127.0.0.1:$BOUNCER_PORT" >&2
"$@"
