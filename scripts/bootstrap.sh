#!/usr/bin/env bash
# Installs everything kbwatch needs to build, run and test, skipping each tool that is already
# present at the right version: a cold run compiles trunk, wasm-bindgen and cargo-deny (~22 min
# on 2 cores), a warm run only checks versions (seconds).
#
# Only crates.io, npm and Debian packages are used: trunk must never download its own tools.
# Versions and the reasons behind them: docs in /work/shared/docs/toolchain.md, summarised here.
#   - trunk 0.21.14: 0.22.x needs a newer rustc than the pinned stable.
#   - wasm-bindgen-cli: must equal the `wasm-bindgen` version in Cargo.lock (read from there).
#     Installed WITHOUT --locked: its own lockfile wants a webpki-roots version crates.io lacks.
#   - wasm-opt: npm `binaryen` pinned in package.json. Debian's binaryen (108) produces a wasm
#     that crashes on load, so it is never used.
#   - cargo-deny 0.20.2 (--locked; needs rustc >= 1.88): the `deny` step of scripts/test.sh.
#     ~5 min to compile on 2 cores.
#   - wasm-split-cli from wasm_split_cli_support 0.2.4 (--locked, feature build-binary): cuts the
#     fleet and wall views out of the app's wasm (scripts/split-wasm.mjs, a Trunk hook). Its 0.2
#     series speaks the protocol of wasm_split_helpers 0.2 (Leptos's `#[lazy]`). ~1.5 min.
set -Eeuo pipefail

TRUNK_VERSION="0.21.14"
CARGO_DENY_VERSION="0.20.2"
WASM_SPLIT_VERSION="0.2.4"
WASM_TARGET="wasm32-unknown-unknown"
# nginx: only for the e2e proxy test, which starts its own nginx in a temporary directory
# (`nginx -p <tmp> -c <conf> -g 'daemon off;'`); it is never run as a service.
APT_PACKAGES=(chromium chromium-driver nginx)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

started=$SECONDS
current_step="start"

step() {
    current_step="$1"
    echo "==> $1"
}

ok() { echo "    $*"; }

on_error() {
    local status=$?
    echo >&2
    echo "bootstrap FAILED in step '$current_step' (exit $status)" >&2
    echo "    command: $BASH_COMMAND (scripts/bootstrap.sh line ${BASH_LINENO[0]})" >&2
    exit "$status"
}
trap on_error ERR

die() {
    echo >&2
    echo "bootstrap FAILED in step '$current_step': $*" >&2
    exit 1
}

# Prints the version of the first package called $1 in Cargo.lock.
lock_version() {
    awk -v name="$1" '
        $0 == "name = \"" name "\"" { found = 1; next }
        found && /^version = / { gsub(/"/, "", $3); print $3; exit }
    ' Cargo.lock
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ---------------------------------------------------------------------------------------------
step "rust toolchain"
command -v rustup >/dev/null || die "rustup not found: install Rust via rustup first (https://rustup.rs)"
command -v cargo >/dev/null || die "cargo not found on PATH (expected in ~/.cargo/bin)"
ok "$(rustc --version)"

step "rustup target $WASM_TARGET"
if rustup target list --installed | grep -qx "$WASM_TARGET"; then
    ok "already installed"
else
    rustup target add "$WASM_TARGET"
fi

step "rustup components rustfmt, clippy"
installed_components="$(rustup component list --installed)"
missing_components=()
for c in rustfmt clippy; do
    grep -q "^$c" <<<"$installed_components" || missing_components+=("$c")
done
if [ ${#missing_components[@]} -eq 0 ]; then
    ok "already installed"
else
    rustup component add "${missing_components[@]}"
fi

# ---------------------------------------------------------------------------------------------
step "apt packages: ${APT_PACKAGES[*]}"
missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing_apt+=("$p")
    fi
done
if [ ${#missing_apt[@]} -eq 0 ]; then
    ok "already installed: $(chromium --version 2>/dev/null || echo chromium)"
else
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing_apt[*]} by hand"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # Debian starts (and enables) nginx's service on install. Forbid service starts while
    # installing with policy-rc.d, Debian's switch for this, unless one is already in place
    # (as in Docker images).
    policy_rc=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy_rc" ]; then
        printf '#!/bin/sh\n# kbwatch bootstrap: no service starts during apt-get install\nexit 101\n' |
            as_root tee "$policy_rc" >/dev/null
        as_root chmod 755 "$policy_rc"
        added_policy=1
    fi
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_apt[@]}"; then
        if [ -n "$added_policy" ]; then as_root rm -f "$policy_rc"; fi
        die "apt-get install ${missing_apt[*]} failed"
    fi
    if [ -n "$added_policy" ]; then as_root rm -f "$policy_rc"; fi
    # Under systemd the unit got enabled all the same: keep it from starting at boot.
    if [[ " ${missing_apt[*]} " == *" nginx "* ]] && [ -d /run/systemd/system ]; then
        as_root systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
fi
command -v chromedriver >/dev/null || die "chromedriver not on PATH after installing chromium-driver"
{ command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null || die "no nginx binary after installing nginx"

# ---------------------------------------------------------------------------------------------
step "trunk $TRUNK_VERSION"
if [ "$(trunk --version 2>/dev/null || true)" = "trunk $TRUNK_VERSION" ]; then
    ok "already installed"
else
    ok "found: $(trunk --version 2>/dev/null || echo none); compiling (~12 min on 2 cores)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
fi

# ---------------------------------------------------------------------------------------------
step "wasm-split-cli (wasm_split_cli_support $WASM_SPLIT_VERSION)"
if cargo install --list | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:" &&
    command -v wasm-split-cli >/dev/null; then
    ok "already installed"
else
    ok "compiling (~1.5 min)"
    cargo install --locked --force wasm_split_cli_support --version "$WASM_SPLIT_VERSION" \
        --features build-binary
fi

# ---------------------------------------------------------------------------------------------
step "wasm-bindgen-cli (version from Cargo.lock)"
wbg_version="$(lock_version wasm-bindgen)"
[ -n "$wbg_version" ] || die "no wasm-bindgen package in Cargo.lock (run \`cargo generate-lockfile\`?)"
if [ "$(wasm-bindgen --version 2>/dev/null || true)" = "wasm-bindgen $wbg_version" ]; then
    ok "already installed: $wbg_version"
else
    ok "need $wbg_version, found: $(wasm-bindgen --version 2>/dev/null || echo none); compiling (~4 min)"
    # Not --locked: the CLI's own lockfile pins a webpki-roots version crates.io does not have.
    cargo install --force wasm-bindgen-cli --version "$wbg_version"
fi
command -v wasm-bindgen-test-runner >/dev/null || die "wasm-bindgen-test-runner missing (part of wasm-bindgen-cli)"

# ---------------------------------------------------------------------------------------------
step "cargo-deny $CARGO_DENY_VERSION"
if [ "$(cargo-deny --version 2>/dev/null || true)" = "cargo-deny $CARGO_DENY_VERSION" ]; then
    ok "already installed"
else
    ok "found: $(cargo-deny --version 2>/dev/null || echo none); compiling (~5 min on 2 cores)"
    cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
fi

# ---------------------------------------------------------------------------------------------
step "npm packages (npm ci)"
command -v npm >/dev/null || die "npm not found: install Node.js 20 + npm"
[ -f package-lock.json ] || die "package-lock.json missing"
stamp="node_modules/.kbwatch-lock.sha256"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/wasm-opt ]; then
    ok "node_modules matches package-lock.json"
else
    npm ci --no-audit --no-fund
    echo "$want" >"$stamp"
fi
wasm_opt_version="$(node_modules/.bin/wasm-opt --version)"
ok "$wasm_opt_version"

# ---------------------------------------------------------------------------------------------
current_step="done"
echo "==> bootstrap done in $((SECONDS - started)) s"
