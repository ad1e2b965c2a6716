#!/usr/bin/env bash
# Makes sure the deployment tests have their tools, then runs the command given, if any:
# nginx (tests/it/deploy_files.rs runs `nginx -t` on the shipped examples), and for
# scripts/test-deploy.sh debootstrap, systemd-nspawn (systemd-container), curl and cargo-deb.
#
# Installed when missing and we are root (Debian packages without their recommendations;
# nginx-light starts no service where systemd is not running, and under systemd it is stopped
# and disabled again, since only `nginx -t` is wanted; cargo-deb from crates.io). Otherwise the
# script says what to install.
#
# Usage: scripts/with-deploy-tools.sh [COMMAND [ARGS...]]
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v man >/dev/null 2>&1 || missing+=(man-db)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "with-deploy-tools: installing ${missing[*]}..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now nginx.service >/dev/null 2>&1 || true
    fi
  else
    echo "with-deploy-tools: the deployment tests need ${missing[*]}." >&2
    echo "Install them (Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]})." >&2
    exit 1
  fi
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "with-deploy-tools: installing cargo-deb from crates.io (a few minutes, once)..." >&2
  cargo install --locked --quiet cargo-deb@3.8.0
fi
echo "with-deploy-tools: $(nginx -v 2>&1), $(cargo deb --version 2>/dev/null | head -n 1)" >&2

if [[ $# -gt 0 ]]; then
  exec "$@"
fi
