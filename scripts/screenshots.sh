#!/usr/bin/env bash
# Renews the pictures of the ops page's card in docs/ (healthy, behind, failing): the browser
# test that renders them saves its captures there (tests/it/admin/screenshots.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/with-chromium.sh
GUARDRAIL_SCREENSHOTS_DIR="$PWD/docs" cargo test --test it admin::screenshots -- --exact \
  admin::screenshots::the_card_states_of_the_docs_render_and_are_captured
