#!/usr/bin/env bash
# The whole test suite, in the order a failure is cheapest to find: formatting, lints, the
# dependency policy (cargo-deny: licenses, bans, sources; see deny.toml), native tests, browser
# tests of the app (wasm-bindgen-test in headless Chromium), the release build, and the
# end-to-end tests against that build. Stops at the first failing step.
#
#   scripts/test.sh                 every step
#   scripts/test.sh STEP...         only these steps, e.g. `scripts/test.sh trunk-build e2e`
#   KBWATCH_SKIP_BOOTSTRAP=1        skip scripts/bootstrap.sh (tools known to be present)
# Steps: fmt clippy clippy-wasm deny native-tests wasm-tests trunk-build e2e
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STEPS=(fmt clippy clippy-wasm deny native-tests wasm-tests trunk-build e2e)
selected=("$@")
for s in "${selected[@]}"; do
    if [[ " ${STEPS[*]} " != *" $s "* ]]; then
        echo "unknown step '$s'; steps are: ${STEPS[*]}" >&2
        exit 2
    fi
done

if [ "${KBWATCH_SKIP_BOOTSTRAP:-0}" != 1 ]; then
    scripts/bootstrap.sh
fi
# A full disk shows up late and obscurely (the linker dies with "Bus error"): say it first.
# A cold run writes about 8 GB (target/ and node_modules: 7.6 GB measured on a fresh clone).
free_mib=$(df -Pm "$ROOT" | awk 'NR == 2 { print $4 }')
if [ "${free_mib:-0}" -lt 10240 ]; then
    echo "==> WARNING: only ${free_mib} MiB free on $(df -P "$ROOT" | awk 'NR == 2 { print $6 }');" \
        "a cold run needs about 8 GB. Free space (\`make clean\` removes target/) if a step" \
        "fails with a linker 'Bus error' or 'No space left on device'." >&2
fi
# trunk and the wasm-bindgen test runner come from ~/.cargo/bin, wasm-opt from npm binaryen.
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"

started=$SECONDS
passed=()
current=""

on_error() {
    local status=$?
    echo >&2
    echo "==> tests FAILED at step '$current' (exit $status) after $((SECONDS - started)) s" >&2
    [ ${#passed[@]} -eq 0 ] || echo "    passed before it: ${passed[*]}" >&2
    echo "steps: ${#passed[@]} passed, 1 failed" >&2
    exit "$status"
}
trap on_error ERR

# run_step NAME COMMAND...: prints a labelled header, runs the command, records its time.
run_step() {
    if [ ${#selected[@]} -gt 0 ] && [[ " ${selected[*]} " != *" $1 "* ]]; then
        return 0
    fi
    current="$1"
    shift
    echo
    echo "==> [$current] $*"
    local t0=$SECONDS
    "$@"
    echo "    [$current] ok in $((SECONDS - t0)) s"
    passed+=("$current")
}

run_step fmt cargo fmt --all -- --check
run_step clippy cargo clippy --workspace --all-targets -- -D warnings
# The app is also linted as what it really is, a wasm32 crate (cfg(target_arch) code differs).
# --all-features: the `split` feature (the app as Trunk builds it) is linted too.
run_step clippy-wasm cargo clippy -p kbwatch --all-targets --all-features --target wasm32-unknown-unknown -- -D warnings
# Licenses, duplicate/wildcard bans and sources (crates.io only) of the whole graph, per deny.toml.
# Advisories are left out: their database cannot be fetched here.
run_step deny cargo deny --workspace --locked check licenses bans sources
# The root package is the wasm app and the e2e crate needs dist/: both run later.
run_step native-tests cargo test --workspace --exclude kbwatch --exclude kbwatch-e2e --no-fail-fast
run_step wasm-tests cargo test -p kbwatch --target wasm32-unknown-unknown
run_step trunk-build trunk build --release --offline
run_step e2e cargo test -p kbwatch-e2e

current="done"
echo
echo "==> tests: all steps passed (${passed[*]}) in $((SECONDS - started)) s"
echo "steps: ${#passed[@]} passed, 0 failed"
