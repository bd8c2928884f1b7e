# Hush: build, run and test.
#
#   make run     install tools, build the app and the helper, serve on http://127.0.0.1:8080
#   make test    install tools, then fmt, clippy, crate boundaries, cargo test, app build, browser e2e
#   make bench   benchmarks (e2e/bench/*.mjs): they print figures, they never pass or fail on time
#   make fuzz    every fuzz target in core/fuzz for FUZZ_SECONDS (default 300) each
#
# Variables: PORT (default 8080), HOST (default 127.0.0.1), HELPER_ARGS (extra helper flags, e.g.
# HELPER_ARGS="--stun stun:stun.example.org:3478"), E2E (test files for `make e2e`).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Steps of `make test` must run in order even under `make -j`.
.NOTPARALLEL:

PORT ?= 8080
HOST ?= 127.0.0.1
HELPER_ARGS ?=
E2E ?=
FUZZ_SECONDS ?= 300

# Tools installed by scripts/install-tools.sh: cargo-installed ones and .tools/bin/wasm-opt.
export PATH := $(CURDIR)/.tools/bin:$(or $(CARGO_HOME),$(HOME)/.cargo)/bin:$(PATH)
# Trunk never downloads (tools come from PATH, crates from `cargo fetch`) nor phones home.
export TRUNK_OFFLINE := true
export TRUNK_SKIP_VERSION_CHECK := true
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

HELPER := target/release/hush-signaling
CLI := target/release/hush
WASM_TARGET := wasm32-unknown-unknown
# Crates `core` must never depend on (DESIGN.md §1): it is pure, sans-I/O, for wasm32 and native.
CORE_FORBIDDEN := ^(web-sys|js-sys|wasm-bindgen.*|gloo.*|yew.*|tokio.*|axum.*|webrtc.*)$$

.PHONY: help tools fetch app helper cli build run test fmt-check clippy boundary unit fuzz-smoke fuzz e2e bench clean

help:
	@echo "make run     build everything and serve the app with the helper on http://$(HOST):$(PORT)/"
	@echo "make test    fmt, clippy, crate boundaries, cargo test, app build, browser e2e"
	@echo "make bench   run the benchmarks in e2e/bench/ (figures only)"
	@echo "make fuzz    run every fuzz target for FUZZ_SECONDS (default 300) each"
	@echo "make build   build dist/ (the app), $(HELPER) and $(CLI)"
	@echo "make tools   install/check the toolchain (scripts/install-tools.sh)"

tools:
	@bash scripts/install-tools.sh

fetch: tools
	@echo "== cargo fetch"
	cargo fetch

# The app: dist/ (index.html, wasm, JS loader, public/ assets). `index.html` before `--release`:
# Trunk 0.21 mis-parses `--release index.html`.
app: fetch
	@echo "== trunk build (release)"
	trunk build index.html --release

helper: fetch
	@echo "== helper (release)"
	cargo build --release -p hush-signaling

# The native peer (`hush`): it builds the webrtc crate, so it stays out of the default members
# and plain `cargo test`; `make test` builds, lints and tests it.
cli: fetch
	@echo "== native peer (release)"
	cargo build --release -p hush-cli

build: app helper cli

run: build
	@echo "== Hush on http://$(HOST):$(PORT)/  (Ctrl-C stops)"
	exec $(HELPER) --listen $(HOST):$(PORT) --dist dist $(HELPER_ARGS)

test: tools fetch fmt-check clippy boundary unit fuzz-smoke build e2e
	@echo "== make test: all steps passed"

fmt-check:
	@echo "== cargo fmt --check"
	cargo fmt --all -- --check

# Native crates (the workspace's default members) and the app for wasm32, warnings as errors.
clippy: fetch
	@echo "== clippy (native crates)"
	cargo clippy --all-targets -- -D warnings
	@echo "== clippy (native peer)"
	cargo clippy -p hush-cli --all-targets -- -D warnings
	@echo "== clippy (app, $(WASM_TARGET))"
	cargo clippy --target $(WASM_TARGET) -p hush --all-targets -- -D warnings

# `core` stays pure: no browser, async runtime, web framework or WebRTC crates, on any target.
boundary: fetch
	@echo "== boundary: hush-core's normal dependencies (all targets)"
	@deps="$$(cargo tree -p hush-core -e normal --target all --prefix none --format '{p}' | awk '{print $$1}' | sort -u)"; \
	[ -n "$$deps" ] || { echo "boundary: cargo tree printed nothing" >&2; exit 1; }; \
	bad="$$(grep -E '$(CORE_FORBIDDEN)' <<<"$$deps" || true)"; \
	if [ -n "$$bad" ]; then \
	  echo "" >&2; \
	  echo "!!! BOUNDARY VIOLATION: hush-core depends on: $$(echo $$bad)" >&2; \
	  echo "!!! core must not depend on web-sys, js-sys, wasm-bindgen, gloo, yew, tokio, axum or webrtc" >&2; \
	  for crate in $$bad; do cargo tree -p hush-core -e normal --target all -i "$$crate" >&2 || true; done; \
	  exit 1; \
	fi; \
	echo "boundary ok: $$(wc -l <<<"$$deps") crates, none forbidden"

# Plain `cargo test` covers the default members: core and signaling.
unit: fetch
	@echo "== cargo test"
	cargo test
	@echo "== cargo test (native peer)"
	cargo test -p hush-cli

# Every fuzz target for a few seconds (skipped, saying so, without nightly or cargo-fuzz).
fuzz-smoke: tools
	@echo "== fuzz (5 s per target)"
	scripts/fuzz.sh 5

fuzz: tools
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Browser end-to-end tests, in a loopback-only network namespace (see e2e/run.sh).
e2e: build
	@echo "== the drill's relay (cli/examples/rogue_tracker.rs)"
	cargo build --release -p hush-cli --example rogue_tracker
	@echo "== browser e2e"
	e2e/run.sh $(E2E)
	@if [ -z "$(E2E)" ]; then echo "== browser e2e: Firefox ESR with Chromium"; e2e/run.sh e2e/firefox/*.test.mjs; fi

bench:
	@shopt -s nullglob; files=(e2e/bench/*.mjs); \
	if [ "$${#files[@]}" -eq 0 ]; then \
	  echo "make bench: no benchmarks yet. Add e2e/bench/<name>.mjs scripts (each prints its figures);"; \
	  echo "they run one after another in the same loopback-only namespace as the e2e tests."; \
	  exit 0; \
	fi; \
	$(MAKE) --no-print-directory build; \
	cargo build --release -p hush-cli --example bare_channel; \
	cargo build --release -p hush-core --example tracker_choice; \
	cargo build --release -p hush-cli --example rogue_tracker; \
	node e2e/lib/bench-run.mjs "$${files[@]}"

clean:
	rm -rf dist e2e/results
