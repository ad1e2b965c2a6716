# shellcheck shell=bash
# Shared by scripts/with-postgres.sh and scripts/with-pg-tls.sh (sourced, not run): finds
# PostgreSQL's server binaries (installing them from the machine's packages when missing and we
# are root) into PG_BIN, and defines as_owner to run a command as the clusters' owner.

find_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
  return 1
}

if ! PG_BIN=$(find_pg_bin); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "with-postgres: installing PostgreSQL from the machine's packages..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >&2
    PG_BIN=$(find_pg_bin)
  else
    echo "with-postgres: PostgreSQL is not installed. Install it (Debian/Ubuntu: sudo apt-get install postgresql)," >&2
    echo "or set TEST_DATABASE_URL=postgres://user:pass@host:port/db to use a server you already run." >&2
    exit 1
  fi
fi
export PG_BIN

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# initdb and pgbouncer refuse to run as root: run them as the postgres user then.
as_owner() { "$@"; }
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_owner() { runuser -u postgres -- "$@"; }
fi
