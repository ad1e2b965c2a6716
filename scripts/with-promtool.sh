#!/usr/bin/env bash
# Makes sure promtool is there for the alert-rule tests (tests/it/alert_rules.rs, which run
# `promtool check rules` and `promtool test rules` on deploy/prometheus/), then runs the command
# given, if any.
#
# promtool comes with the machine's Prometheus package (Debian: prometheus), installed when
# missing and we are root — without its recommended exporters; the package starts no service
# where systemd is not running, and under systemd its prometheus.service is stopped and
# disabled again, since only promtool is wanted. Otherwise the script says what to install.
# GUARDRAIL_TEST_PROMTOOL points the tests at another promtool.
#
# Usage: scripts/with-promtool.sh [COMMAND [ARGS...]]
set -euo pipefail

promtool=${GUARDRAIL_TEST_PROMTOOL:-$(command -v promtool || true)}
if [[ -z $promtool ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "with-promtool: installing promtool (Debian's prometheus package)..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
  else
    echo "with-promtool: promtool is needed by the alert-rule tests." >&2
    echo "Install it (Debian/Ubuntu: sudo apt-get install --no-install-recommends prometheus)," >&2
    echo "or set GUARDRAIL_TEST_PROMTOOL to its path." >&2
    exit 1
  fi
fi
promtool=${GUARDRAIL_TEST_PROMTOOL:-$(command -v promtool)}
echo "with-promtool: $("$promtool" --version 2>&1 | head -n1)" >&2

if [[ $# -gt 0 ]]; then
  exec "$@"
fi
