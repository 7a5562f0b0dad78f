#!/usr/bin/env bash
# The soak (issue 10): simulated devices, each with its own MQTT session, reporting every second
# through Mosquitto to a release praan-server (SQLite), checking flat memory, no reconnects or
# errors, every reading stored and the ingest lag within PERFORMANCE.md P4.
#
#   scripts/soak.sh [--devices N] [--seconds S] [--warm-up S]
#
# Defaults: 10,000 devices for 600 s (the full soak, by hand); .ci/run runs `--seconds 60`.
# Builds what it needs and makes sure Mosquitto is installed (scripts/test-services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-services.sh start >/dev/null
# shellcheck source=/dev/null
source .services/env
cargo build --release --locked --quiet -p praan-example-server -p praan-benches --bin praan-server --bin soak
# 10,000 sessions need 10,000 sockets in this process (and as many in Mosquitto).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec target/release/soak "$@"
