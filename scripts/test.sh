#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against a real PostgreSQL and a real
# S3-compatible server and a Snowflake emulator (see scripts/with-postgres.sh, scripts/with-s3.sh and
# scripts/with-fakesnow.sh for where they come from).
set -euo pipefail
cd "$(dirname "$0")/.."
# The admin page's browser tests drive headless Chromium: install it (and chromedriver) if missing.
scripts/with-chromium.sh
# The alert-rule tests run promtool: install it (Debian's prometheus package) if missing.
scripts/with-promtool.sh
exec scripts/with-postgres.sh scripts/with-pg-tls.sh scripts/with-s3.sh scripts/with-fakesnow.sh cargo test --all-targets "$@"
