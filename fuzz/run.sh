#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time each, on stable Rust with
# cargo-fuzz and `--sanitizer none`.
#
#   fuzz/run.sh [--seconds N] [--keep] [target …]     (default: 20 s each, every target)
#
# Each run starts from the committed corpus (fuzz/corpus/<target>) and writes what it finds into a
# scratch corpus, so a run never bloats the repository. With --keep, the scratch corpus is merged
# back into fuzz/corpus/<target>, keeping only inputs that add coverage (libFuzzer's -merge=1):
# do that by hand and commit the result. A crash is written to fuzz/artifacts/<target>/ and fails
# the run; commit the reproducer with the fix, and `cargo test -p praan-fuzz` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
keep=false
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --keep) keep=true; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=(reading ack topic device_id schedule_body pre_clean_body)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked --version 0.13.2" >&2
    exit 1
fi

fuzz=(cargo fuzz run --fuzz-dir fuzz/libfuzzer --sanitizer none --release)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for target in "${targets[@]}"; do
    case "$target" in
        topic|device_id) max_len=256 ;;
        *) max_len=2048 ;;
    esac
    mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
    echo "::: fuzzing $target for ${seconds}s"
    log="$scratch/$target.log"
    if ! "${fuzz[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "::: $target failed: the reproducer is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done |stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 5 "$log"
    if $keep; then
        # Adds to the committed corpus only the scratch inputs that reach new coverage.
        "${fuzz[@]}" "$target" "fuzz/corpus/$target" "$scratch/$target" -- \
            -merge=1 -max_len="$max_len" >"$log" 2>&1
        grep -E '^MERGE-OUTER: [0-9]+ new files' "$log" || true
    fi
done
echo "::: every fuzz target ran ${seconds}s without a failure"
