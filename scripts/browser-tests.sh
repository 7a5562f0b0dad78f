#!/usr/bin/env bash
# The dashboard's browser tests (issue 11): headless Chromium, driven by playwright-core from npm,
# against a debug praan-server it starts with `--simulate 2` (examples/server/browser-tests).
#
#   scripts/browser-tests.sh
#
# Installs what it needs: Chromium and node/npm through scripts/test-services.sh, the exact npm
# packages of browser-tests/package-lock.json with `npm ci`. Screenshots and the server's log go
# to target/browser-artifacts/ (PRAAN_BROWSER_ARTIFACTS to change it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

bash scripts/test-services.sh start >/dev/null
# shellcheck source=/dev/null
source .services/env
cargo build --locked --quiet -p praan-example-server --bin praan-server

cd examples/server/browser-tests
npm ci --no-audit --no-fund --loglevel=error
export PRAAN_SERVER_BIN="$ROOT/target/debug/praan-server"
export PRAAN_BROWSER_ARTIFACTS="${PRAAN_BROWSER_ARTIFACTS:-$ROOT/target/browser-artifacts}"
npm test
echo "browser-tests: screenshots in ${PRAAN_BROWSER_ARTIFACTS#"$ROOT"/}"
