#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (cursor file, status JSON, platformContext,
# signature header, the gateway's batch body with its rows and tombstones) with cargo-fuzz
# (libFuzzer), each for a time budget, and reports what was found. Not part of CI. Needs
# cargo-fuzz (`cargo install cargo-fuzz`); it runs on the stable toolchain through
# RUSTC_BOOTSTRAP, since libFuzzer's sanitizer flags are nightly-only.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600 s, all five targets)
# Crashes, if any, are kept in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/, from
# the seeds in fuzz/seeds/<target>/ where there are some.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(cursor_file status_json platform_context signature_header gateway_batch)
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: install cargo-fuzz first: cargo install cargo-fuzz" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s" >&2
  # Hand-written valid inputs, where a target has them, start the corpus deep in the parser.
  seeds=()
  [[ -d fuzz/seeds/$target ]] && seeds=("fuzz/corpus/$target" "fuzz/seeds/$target")
  mkdir -p "fuzz/corpus/$target"
  if cargo fuzz run "$target" "${seeds[@]}" -- -max_total_time="$seconds" 2>"fuzz/$target.log"; then
    echo "fuzz: $target: no crash; $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "fuzz/$target.log" | tail -1)"
  else
    status=1
    echo "fuzz: $target: CRASH, see fuzz/$target.log and fuzz/artifacts/$target/"
  fi
done
exit $status
