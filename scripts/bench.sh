#!/usr/bin/env bash
# `make bench`: measures kbwatch and prints a table; writes bench/results.json. See bench/README.md.
#
#   1. payload: release build (wasm-opt -Oz), the same wasm without wasm-opt, the debug build,
#      and the release built with cargo's default profile (the "before" of ours)
#   2. time to first KB table: cold loads in headless Chromium against the mock (release build)
#   3. interaction on a device with 2,000 KBs: filter keystrokes and sort clicks
#   4. fleet aggregation 5,000 × 40: wasm (release) in Chromium, and native (criterion)
#   5. scan efficiency: FleetScan vs the naive sequential scan in the core's simulation
#   6. fleet paths at 100,000 devices: the per-product overview and a drill-down performed
#      against the release mock with the real limits, the per-device scan planned, the bulk
#      path sampled, the planner's pick
#   7. a filter keystroke on the fleet's per-device table with 100,000 rows (wasm, Chromium;
#      run with figure 4's wasm tests)
#
# Everything is compiled first, then measured, so our own compiles do not disturb the timings.
# A budget missed is reported, never an error. A step that cannot run at all is reported as
# "not measured" in the table; the other steps still run, and the script then exits 1.
#
#   KBWATCH_SKIP_BOOTSTRAP=1      skip scripts/bootstrap.sh (tools known to be present)
#   KBWATCH_BENCH_LOADS=15        cold loads for the time to first KB table
#   KBWATCH_BENCH_DIR=target/bench  builds and intermediate figures
#   KBWATCH_BENCH_RESULTS=bench/results.json
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
WORK="${KBWATCH_BENCH_DIR:-$TARGET/bench}"
case "$WORK" in /*) ;; *) WORK="$ROOT/$WORK" ;; esac
RESULTS="${KBWATCH_BENCH_RESULTS:-bench/results.json}"
LOADS="${KBWATCH_BENCH_LOADS:-15}"
BIN="$TARGET/debug/kbwatch-bench"

if [ "${KBWATCH_SKIP_BOOTSTRAP:-0}" != 1 ]; then
    scripts/bootstrap.sh
fi
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || true)}"
export KBWATCH_BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export KBWATCH_BENCH_LOAD_AT_START="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || true)"

for tool in trunk wasm-bindgen wasm-opt wasm-bindgen-test-runner node; do
    command -v "$tool" >/dev/null || {
        echo "bench: '$tool' not found on PATH; run \`make bootstrap\` first" >&2
        exit 1
    }
done
[ -n "$CHROMEDRIVER" ] || { echo "bench: chromedriver not found; run \`make bootstrap\` first" >&2; exit 1; }

mkdir -p "$WORK"
# No stale figure may pass for a fresh one.
rm -rf "$WORK"/*.json "$WORK"/*.failed "$WORK"/wasm-fleet.log "$WORK"/criterion \
    "$WORK"/dist-release "$WORK"/dist-debug "$WORK"/noopt "$WORK"/cargo-default "$WORK"/cargo-default-noopt

started=$SECONDS
failed=()

# step NAME COMMAND...: runs the command; a failure is recorded in $WORK/NAME.failed, which the
# report shows as "not measured", and the run goes on.
step() {
    local name="$1"
    shift
    echo
    echo "==> [$name] $*"
    local t0=$SECONDS status=0
    "$@" || status=$?
    if [ "$status" -eq 0 ]; then
        echo "    [$name] ok in $((SECONDS - t0)) s"
    else
        echo "exit $status: $*" >"$WORK/$name.failed"
        echo "    [$name] FAILED (exit $status) after $((SECONDS - t0)) s" >&2
        failed+=("$name")
    fi
}

# Only runs the step if every step named before -- succeeded.
after() {
    local needs=()
    while [ "$1" != "--" ]; do needs+=("$1"); shift; done
    shift
    local name="$1" n
    for n in "${needs[@]}"; do
        if [[ " ${failed[*]} " == *" $n "* ]]; then
            echo
            echo "==> [$name] skipped: step '$n' failed"
            echo "skipped: step '$n' failed" >"$WORK/$name.failed"
            failed+=("$name")
            return 0
        fi
    done
    step "$@"
}

# --- compile everything --------------------------------------------------------------------
step build-release trunk build --release --offline --dist "$WORK/dist-release"
# The same release build without the wasm-opt pass (scripts/split-wasm.mjs runs it).
after build-release -- build-noopt env KBWATCH_WASM_OPT=0 \
    trunk build --release --offline --dist "$WORK/noopt"
step build-debug trunk build --offline --dist "$WORK/dist-debug"
# The "before" of our release profile (Cargo.toml): cargo's default one, built in a target dir
# of its own so the real release build is untouched, by Trunk with and without the same
# wasm-opt pass.
build_cargo_default() (
    # A subshell: these settings end with it.
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=false
    export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR="$WORK/cargo-default-target"
    trunk build --release --offline --dist "$WORK/cargo-default"
    KBWATCH_WASM_OPT=0 trunk build --release --offline --dist "$WORK/cargo-default-noopt"
)
step build-cargo-default build_cargo_default
step build-bench cargo build -p kbwatch-bench
step build-mock cargo build --release -p kbwatch-mock
step build-criterion cargo bench -p kbwatch-core --bench fleet_aggregate --no-run
step build-wasm-fleet cargo test --release --target wasm32-unknown-unknown -p kbwatch-bench --lib --no-run

# --- measure -------------------------------------------------------------------------------
# The profile comparison is shown when its build worked; the payload figures do not need it.
cargo_default_args=()
if [[ " ${failed[*]} " != *" build-cargo-default "* ]]; then
    cargo_default_args=(--cargo-default "$WORK/cargo-default" --cargo-default-noopt "$WORK/cargo-default-noopt")
fi
after build-release build-noopt build-debug build-bench -- payload \
    "$BIN" payload --release "$WORK/dist-release" --noopt "$WORK/noopt" --debug "$WORK/dist-debug" \
    "${cargo_default_args[@]}" \
    --out "$WORK/payload.json"
after build-release build-bench build-mock -- browser \
    "$BIN" browser --dist "$WORK/dist-release" --mock "$TARGET/release/kbwatch-mock" \
    --out "$WORK/browser.json" --loads "$LOADS"
wasm_fleet() {
    cargo test --release --target wasm32-unknown-unknown -p kbwatch-bench --lib -- --nocapture \
        2>&1 | tee "$WORK/wasm-fleet.log"
}
after build-wasm-fleet -- wasm-fleet wasm_fleet
after build-criterion -- criterion env CRITERION_HOME="$WORK/criterion" \
    cargo bench -p kbwatch-core --bench fleet_aggregate -- --warm-up-time 1 --measurement-time 3
after build-bench -- scan "$BIN" scan --out "$WORK/scan.json"
after build-bench build-mock -- fleet-paths \
    "$BIN" fleet-paths --mock "$TARGET/release/kbwatch-mock" --out "$WORK/fleet-paths.json"

echo
echo "==> [report] $BIN report --dir $WORK --out $RESULTS"
echo
if [ -x "$BIN" ]; then
    "$BIN" report --dir "$WORK" --out "$RESULTS" || failed+=(report)
else
    echo "bench: $BIN was not built, no report" >&2
    failed+=(report)
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "==> bench: done in $((SECONDS - started)) s; figures in $RESULTS"
else
    echo "==> bench: done in $((SECONDS - started)) s, but these steps could not run: ${failed[*]}" >&2
    echo "    (their figures show as 'not measured'; details in $WORK/*.failed and above)" >&2
    exit 1
fi
