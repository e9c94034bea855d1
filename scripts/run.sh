#!/usr/bin/env bash
# Builds kbwatch and runs it against the local mock Defender API: the mock serves the built app
# (dist/) on the app port and the API on the API port. Ctrl-C stops everything started here.
#
#   KBWATCH_APP_PORT=8080   port of the app
#   KBWATCH_API_PORT=8787   port of the mock API
#   KBWATCH_SKIP_BOOTSTRAP=1
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APP_PORT="${KBWATCH_APP_PORT:-8080}"
API_PORT="${KBWATCH_API_PORT:-8787}"

current_step="start"
step() {
    current_step="$1"
    echo "==> $1"
}
on_error() {
    local status=$?
    echo "run FAILED in step '$current_step' (exit $status): $BASH_COMMAND" >&2
    exit "$status"
}
trap on_error ERR

if [ "${KBWATCH_SKIP_BOOTSTRAP:-0}" != 1 ]; then
    step "bootstrap"
    scripts/bootstrap.sh
fi
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step "trunk build --release --offline"
trunk build --release --offline

api_base="http://127.0.0.1:$API_PORT"
if [ ! -f dist/config.json ]; then
    step "write dist/config.json (apiBase $api_base, demo sign-in)"
    printf '{"apiBase":"%s","auth":{"mode":"demo"}}\n' "$api_base" >dist/config.json
elif [ "$API_PORT" != 8787 ]; then
    step "point dist/config.json at $api_base"
    node -e '
        const fs = require("fs");
        const c = JSON.parse(fs.readFileSync("dist/config.json", "utf8"));
        c.apiBase = process.argv[1];
        fs.writeFileSync("dist/config.json", JSON.stringify(c, null, 2) + "\n");
    ' "$api_base"
fi

step "cargo build --release -p kbwatch-mock"
cargo build --release -p kbwatch-mock

step "start mock (API :$API_PORT, app :$APP_PORT)"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$API_PORT" "$APP_PORT"; do
    if port_open "$port"; then
        echo "port $port is already in use (another kbwatch?): stop it, or pick free ports with" >&2
        echo "    KBWATCH_APP_PORT=... KBWATCH_API_PORT=... make run" >&2
        exit 1
    fi
done
# Started directly by this shell so that $! is the mock itself, not a subshell.
"${CARGO_TARGET_DIR:-target}/release/kbwatch-mock" --port "$API_PORT" --cors --app-dir dist --app-port "$APP_PORT" &
mock_pid=$!

stop() {
    trap - INT TERM EXIT
    if kill -0 "$mock_pid" 2>/dev/null; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
        echo "==> stopped kbwatch-mock (pid $mock_pid)" 2>/dev/null || true
    fi
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# Wait until both ports answer, failing early if the mock died.
for _ in $(seq 1 100); do
    if ! kill -0 "$mock_pid" 2>/dev/null; then
        echo "run FAILED: kbwatch-mock exited during start-up (see its message above)" >&2
        exit 1
    fi
    if port_open "$API_PORT" && port_open "$APP_PORT"; then
        break
    fi
    sleep 0.1
done

echo
echo "kbwatch is running: http://127.0.0.1:$APP_PORT/   (mock API: http://127.0.0.1:$API_PORT/, Ctrl-C stops)"
wait "$mock_pid"
