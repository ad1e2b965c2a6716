#!/usr/bin/env bash
# Runs a command with a Snowflake emulator its tests can use: TEST_FAKESNOW_PYTHON names a Python
# that imports fakesnow (a Snowflake emulator on DuckDB), for the warehouse tests in
# tests/it/warehouse/ (they run tests/warehouse/harness.py with it).
#
# If TEST_FAKESNOW_PYTHON is already set, that Python is used as it is. Otherwise a private
# virtual environment under target/ (or $CARGO_TARGET_DIR) holds pinned versions, created with pip
# the first time and reused after, so other Python packages on the machine are left alone:
# fakesnow 0.12.1 imports only with connector 4.8.1 and DuckDB 2.0.1.
#
# Usage: scripts/with-fakesnow.sh COMMAND [ARGS...]
set -euo pipefail

if [[ -n "${TEST_FAKESNOW_PYTHON:-}" ]]; then
  exec "$@"
fi

PACKAGES=(fakesnow==0.12.1 snowflake-connector-python==4.8.1 duckdb==2.0.1)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${CARGO_TARGET_DIR:-$ROOT/target}/fakesnow-0.12.1"
PYTHON="$VENV/bin/python"

installed() {
  "$PYTHON" -c 'import fakesnow, snowflake.connector, duckdb' >/dev/null 2>&1
}

if ! installed; then
  echo "with-fakesnow: installing ${PACKAGES[*]} into $VENV..." >&2
  rm -rf "$VENV"
  # Debian and Ubuntu ship venv's pip bootstrap separately.
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >&2 || true
  fi
  if ! python3 -m venv "$VENV" >&2 ||
    ! "$PYTHON" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2 ||
    ! installed; then
    echo "with-fakesnow: cannot install the Snowflake emulator. Install python3-venv and pip, then" >&2
    echo "  python3 -m venv $VENV && $VENV/bin/pip install ${PACKAGES[*]}" >&2
    echo "or set TEST_FAKESNOW_PYTHON to a Python where those packages are installed." >&2
    exit 1
  fi
fi

export TEST_FAKESNOW_PYTHON="$PYTHON"
"$@"
