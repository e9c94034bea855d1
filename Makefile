# kbwatch: every target is a thin wrapper around scripts/, which print what they do.
#   make run        build the app and serve it with the mock API (http://127.0.0.1:8080/)
#   make test       the whole suite (fmt, clippy, native, wasm browser tests, release build, e2e);
#                   `make test STEPS="trunk-build e2e"` runs only those steps (see scripts/test.sh)
#   make bootstrap  install/check the toolchain (idempotent; seconds when warm)
#   make build      release build of the app (dist/) and the mock
#   make fmt        format the workspace
#   make lint       fmt check + clippy (native and wasm32)
#   make bench      measure size, load, interaction, aggregation and scan figures (bench/README.md)
#   make clean      remove build outputs (target/, dist/, e2e screenshots)

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: soak run test bootstrap build fmt lint clean bench

run:
	scripts/run.sh

test:
	scripts/test.sh $(STEPS)

bootstrap:
	scripts/bootstrap.sh

build: bootstrap
	trunk build --release --offline
	cargo build --release -p kbwatch-mock

fmt:
	cargo fmt --all

lint:
	KBWATCH_SKIP_BOOTSTRAP=1 scripts/test.sh fmt clippy clippy-wasm

bench:
	scripts/bench.sh

clean:
	cargo clean
	rm -rf dist e2e/screenshots

# The wall display's soak test over a simulated 24 hours (make test runs a 3-hour version).
soak: bootstrap
	trunk build --release --offline
	KBWATCH_SOAK_HOURS=24 cargo test -p kbwatch-e2e --test e2e wall_soak:: -- --nocapture
