#!/usr/bin/env bash
# Builds the Debian package: the binary, its man pages and completions (generated from the
# same clap definition, examples/generate-assets.rs), then cargo-deb.
#   scripts/package.sh              release build → target/debian/guardrail-followups_<v>_<arch>.deb
#   PROFILE=dev scripts/package.sh  the debug build (the deployment test packages this one)
# Needs cargo-deb: cargo install --locked cargo-deb
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "package: cargo-deb is not installed: cargo install --locked cargo-deb" >&2
  exit 1
fi
cargo build --locked --profile "$profile" --bin guardrail-followups
cargo run --locked --quiet --example generate-assets -- target/assets
cargo deb --no-build --locked --profile "$profile" --output target/debian/ "$@"
