#!/usr/bin/env bash
# Runs a command with a PostgreSQL server it can use, given in TEST_DATABASE_URL.
#
# If TEST_DATABASE_URL is already set, that server is used as it is. Otherwise a throwaway
# cluster is created in a temporary folder, started on a free loopback port, and removed when
# the command ends. PostgreSQL is installed from the machine's packages when it is missing and
# we are root; otherwise the script says what to install.
#
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  exec "$@"
fi

# shellcheck source=scripts/pg-common.sh
source "$(dirname "$0")/pg-common.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-pg.XXXXXX")
PORT=$(free_port)
if [[ $(id -u) -eq 0 ]]; then
  chown postgres "$WORK"
  chmod 755 "$WORK"
fi

cleanup() {
  as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Passwords are checked over TCP (scram-sha-256), as in production, so that tests can show
# what a wrong password does; the local socket stays trusted for the server's owner.
echo postgres >"$WORK/pwfile"
chmod 644 "$WORK/pwfile"
as_owner "$PG_BIN/initdb" -D "$WORK/data" -U postgres --pwfile="$WORK/pwfile" --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; exit 1; }
# fsync off: these clusters are thrown away; the exporter's own fsyncs are on the local disk.
as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$WORK -c fsync=${PG_FSYNC:-off} -c max_connections=200 ${PG_OPTIONS:-}" \
  start >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
