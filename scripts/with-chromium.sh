#!/usr/bin/env bash
# Makes sure headless Chromium and chromedriver are there for the admin page's browser tests
# (tests/it/admin.rs), then runs the command given, if any.
#
# They come from the machine's packages (Debian: chromium, chromium-driver), installed when
# missing and we are root; otherwise the script says what to install. GUARDRAIL_TEST_CHROMIUM
# and GUARDRAIL_TEST_CHROMEDRIVER point the tests at other binaries.
#
# Usage: scripts/with-chromium.sh [COMMAND [ARGS...]]
set -euo pipefail

chromium=${GUARDRAIL_TEST_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
chromedriver=${GUARDRAIL_TEST_CHROMEDRIVER:-$(command -v chromedriver || true)}

if [[ -z $chromium || -z $chromedriver ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "with-chromium: installing Chromium and chromedriver from the machine's packages..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "with-chromium: Chromium and chromedriver are needed by the browser tests." >&2
    echo "Install them (Debian/Ubuntu: sudo apt-get install chromium chromium-driver), or set" >&2
    echo "GUARDRAIL_TEST_CHROMIUM and GUARDRAIL_TEST_CHROMEDRIVER to their paths." >&2
    exit 1
  fi
fi

chromium=${GUARDRAIL_TEST_CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
chromedriver=${GUARDRAIL_TEST_CHROMEDRIVER:-$(command -v chromedriver)}
echo "with-chromium: $("$chromium" --version 2>/dev/null | head -n1) / $("$chromedriver" --version | head -n1)" >&2

if [[ $# -gt 0 ]]; then
  exec "$@"
fi
