#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against a real PostgreSQL
# (see scripts/with-postgres.sh for where it comes from).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-postgres.sh cargo test --all-targets "$@"
