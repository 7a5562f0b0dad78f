#!/usr/bin/env bash
# API fuzzing: schemathesis (hash-pinned from PyPI) against a running praan-server, driven by the
# server's own OpenAPI document (/api/openapi.json).
#
#   scripts/api-fuzz.sh [--examples N] [--seconds S]     (defaults: 25 examples, 90 s)
#
# Starts `praan-server --simulate 2` (SQLite in a temporary directory, the embedded broker, free
# loopback ports, commands that time out after 200 ms so `?wait=true` answers quickly), then runs
# every operation but the SSE stream through schemathesis's examples, coverage, fuzzing and
# stateful phases, bounded in examples and time. It fails on any 5xx, a status code the document
# does not list, a response body, content type or header that does not match the document, or an
# invalid request that is accepted. Exit code: schemathesis's (0 when every check passed).
#
# Not checked, on purpose: that every schema-valid request is accepted (the document cannot express
# the cross-field rules of schedules and pre-cleans, so schemathesis's "positive data acceptance"
# would flag valid rejections), and "use after free": a deleted device's command history stays
# readable by design (README: the API).
set -euo pipefail
cd "$(dirname "$0")/.."

examples=25
seconds=90
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) examples="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "api-fuzz: unknown argument $1" >&2; exit 2 ;;
    esac
done

venv="$PWD/.services/api-fuzz-venv"
requirements=scripts/requirements-api-fuzz.txt
stamp="$venv/.installed.sha256"
if [ ! -x "$venv/bin/schemathesis" ] || ! sha256sum --status -c "$stamp" 2>/dev/null; then
    echo "api-fuzz: installing schemathesis into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
        -r "$requirements"
    sha256sum "$requirements" >"$stamp"
fi

cargo build --quiet --locked -p praan-example-server
http_port=$(bash scripts/test-services.sh free-port)
broker_port=$(bash scripts/test-services.sh free-port)
work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

target/debug/praan-server --http-addr "127.0.0.1:$http_port" \
    --broker-addr "127.0.0.1:$broker_port" --database-url "sqlite://$work/praan.db" \
    --simulate 2 --ack-timeout 200ms --max-retries 0 --log warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        echo "api-fuzz: praan-server did not start" >&2
        exit 1
    fi
    sleep 0.2
done

status=0
# From the scratch directory: schemathesis keeps its cache (.schemathesis/) in the working directory.
# One worker: with two, Python 3.11's compile() in hypothesis's lambda descriptions now and then
# fails across threads ("AST constructor recursion depth mismatch"), a runtime error of the tool
# that fails the run.
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$http_port/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
    --max-examples "$examples" --max-time "$seconds" --workers 1 \
    --exclude-path /api/events --request-timeout 10 --no-color) || status=$?
if [ "$status" -ne 0 ]; then
    echo "api-fuzz: schemathesis found failures (exit $status); the server's log:" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
