#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against a real PostgreSQL and a real
# S3-compatible server and a Snowflake emulator (see scripts/with-postgres.sh, scripts/with-s3.sh and
# scripts/with-fakesnow.sh for where they come from), then the deployment test: the Debian
# package on a booted Debian 12 in systemd-nspawn (scripts/test-deploy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# The admin page's browser tests drive headless Chromium: install it (and chromedriver) if missing.
scripts/with-chromium.sh
# The alert-rule tests run promtool: install it (Debian's prometheus package) if missing.
scripts/with-promtool.sh
# nginx for the deploy examples' nginx -t, and the deployment test's debootstrap, systemd-nspawn
# and cargo-deb.
scripts/with-deploy-tools.sh
scripts/with-postgres.sh scripts/with-pg-tls.sh scripts/with-s3.sh scripts/with-fakesnow.sh cargo test --all-targets "$@"
# The Debian package on a booted Debian 12 (scripts/test-deploy.sh), when the whole suite runs
# (arguments select some cargo tests only).
if [[ $# -eq 0 ]]; then
  scripts/with-postgres.sh scripts/test-deploy.sh
fi
