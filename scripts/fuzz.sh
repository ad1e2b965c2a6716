#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (cursor file, status JSON, platformContext,
# signature header) with cargo-fuzz (libFuzzer), each for a time budget, and reports what was
# found. Not part of CI. Needs cargo-fuzz (`cargo install cargo-fuzz`); it runs on the stable
# toolchain through RUSTC_BOOTSTRAP, since libFuzzer's sanitizer flags are nightly-only.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600 s, all four targets)
# Crashes, if any, are kept in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(cursor_file status_json platform_context signature_header)
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: install cargo-fuzz first: cargo install cargo-fuzz" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s" >&2
  if cargo fuzz run "$target" -- -max_total_time="$seconds" 2>"fuzz/$target.log"; then
    echo "fuzz: $target: no crash; $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "fuzz/$target.log" | tail -1)"
  else
    status=1
    echo "fuzz: $target: CRASH, see fuzz/$target.log and fuzz/artifacts/$target/"
  fi
done
exit $status
