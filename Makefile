# ibkr-auth. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
WASM_TARGET := wasm32-unknown-unknown
WASM_RAW := target/$(WASM_TARGET)/release/ibkr_auth.wasm
BINDGEN := target/bindgen
WASM_OPT := node_modules/.bin/wasm-opt
# Binaryen's optimiser from npm (Debian's emits broken modules). -O3: the module is mostly the
# RustCrypto arithmetic, where speed is what counts (not yet A/B'd against -Os: bench/notes.md).
WASM_OPT_FLAGS := -O3
# Panic locations inside dependencies would embed this machine's paths (~/.cargo/registry/...,
# the checkout) in the .wasm: rewritten to neutral prefixes (tests/supply/ checks the package).
# Given with --config so the target's rustflags in .cargo/config.toml still apply.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
REMAP_PATHS := --config 'target.$(WASM_TARGET).rustflags=["--remap-path-prefix=$(CARGO_HOME_DIR)=/cargo", "--remap-path-prefix=$(CURDIR)=/ibkr-auth"]'

.PHONY: setup pkg demo demo-gateway walkthrough sim www www-dist bench test test-rust test-wasm test-js test-sim test-session test-cli test-browser test-www test-workerd test-stores test-fleet test-clients test-runtimes lint clean audit test-hostile fuzz test-soak soak test-ws

setup:
	@scripts/setup.sh

pkg: setup
	cargo build --release --target $(WASM_TARGET) $(REMAP_PATHS)
	wasm-bindgen --target nodejs --out-dir $(BINDGEN)/node $(WASM_RAW)
	wasm-bindgen --target web --out-dir $(BINDGEN)/web $(WASM_RAW)
	$(WASM_OPT) $(WASM_OPT_FLAGS) --strip-debug --strip-producers $(BINDGEN)/web/ibkr_auth_bg.wasm -o $(BINDGEN)/ibkr_auth_bg.opt.wasm
	node scripts/build-pkg.mjs $(BINDGEN)/ibkr_auth_bg.opt.wasm

demo: pkg
	node examples/demo.mjs
	node examples/demo-gateway.mjs

demo-gateway: pkg
	node examples/demo-gateway.mjs

sim: setup
	node sim/cli.mjs

www-dist: pkg
	node www/build.mjs

www: www-dist
	node www/serve.mjs

walkthrough: pkg
	node examples/handshake-walkthrough.mjs

test: lint test-rust test-wasm test-js test-sim test-session test-cli test-browser test-www test-workerd test-stores test-fleet test-clients test-runtimes audit test-hostile test-soak test-ws
	@echo "make test: all suites passed"

lint: setup
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) --workspace --all-targets -- -D warnings

test-rust:
	cargo test --workspace

test-wasm: setup
	cargo test --target $(WASM_TARGET)

test-js: pkg
	node --test tests/js/

# The simulator's own checks (SRP vectors, TOTP/OCRA against the RFCs, the gateway login): no package needed.
test-sim: setup
	node --test tests/sim/

test-session: pkg
	node --test tests/session/

test-cli: pkg
	@scripts/setup.sh --redis
	node --test tests/cli/

test-browser: pkg
	@scripts/setup.sh --browser
	node --test tests/browser/

test-www: www-dist
	@scripts/setup.sh --browser
	node --test tests/www/

test-workerd: pkg
	node --test tests/workerd/

# The token stores: memory and file, Redis (a redis-server the tests start) through node-redis
# and ioredis, KV and the Durable Object inside miniflare.
test-stores: pkg
	@scripts/setup.sh --redis
	node --test tests/stores/

# A fleet of processes sharing one token: worker processes over a redis-server (or a file), each
# also streaming (stream.test.mjs, on one controlled clock), and the examples in examples/fleet/
# (a Lambda refresher, a Node server, a Worker's cron in miniflare).
test-fleet: pkg
	@scripts/setup.sh --redis
	node --test tests/fleet/

# Real third-party clients, unchanged, against the simulator: ibind 0.2.2 (OAuth 1.0a) and ibauth
# 0.1.6 (OAuth 2.0) from PyPI in .venv-clients/ (setup.sh --python). No package needed.
test-clients:
	@scripts/setup.sh --python
	node --test tests/clients/

# The packed tarball under Node 20, 22, 24 and 26, Deno and Bun, at the exact versions in
# tests/runtimes/runtimes.json (setup.sh --runtimes installs them from npm into .tools/): the
# conformance suite and OAuth 1.0a / 2.0 sessions against the simulator, by import and require;
# and TypeScript consumers under moduleResolution nodenext and bundler. (The esbuild bundle in
# headless Chromium is in tests/browser/, workerd in tests/workerd/.)
test-runtimes: pkg
	@scripts/setup.sh --runtimes
	node --test tests/runtimes/

# The supply chain (SECURITY.md): cargo-deny offline against the RustSec snapshot in
# audit/advisory-db/ (advisories, licences, duplicate versions, sources), a canary that must be
# caught, and the npm package's contents (tests/supply/).
audit: pkg
	@scripts/setup.sh --audit
	scripts/audit.sh

# The streaming WebSocket against the simulator's, through the packed package: Node 20 with the
# `ws` package, and Node 22's global WebSocket (setup.sh --node22 puts it in .tools/node22/).
# Chromium's and workerd's streaming tests run in test-browser and test-workerd.
test-ws: pkg
	@scripts/setup.sh --node22
	node --test --test-timeout=120000 tests/ws/

clean:
	rm -rf target/bindgen pkg www/dist test-results

# The fleet section starts a redis-server of its own (setup.sh --redis installs it).
bench: pkg
	@scripts/setup.sh --redis
	node --expose-gc bench/run.mjs

# A malicious or broken server against the package (huge, stalled, non-UTF-8 and truncated bodies,
# redirects to other hosts, out-of-range DH answers, bad LST signatures, hostile gateway replies),
# and seeded mutations of the CLI's YAML/.env configuration.
test-hostile: pkg
	node --test --test-timeout=120000 tests/hostile/

# Fuzzing with libFuzzer (nightly + cargo-fuzz, installed by setup.sh --fuzz): every target in
# fuzz/ for FUZZ_S seconds (default 60). Crashes land in tests/fuzz/regressions/, which `cargo test`
# replays (tests/fuzz_corpus.rs). Not part of `make test` (it is open-ended by nature).
FUZZ_S ?= 60
fuzz:
	@scripts/setup.sh --fuzz
	FUZZ_S=$(FUZZ_S) scripts/fuzz.sh

# The fault soak: OAuth 1.0a, OAuth 2.0 and gateway sessions against the simulators under a seeded
# schedule of faults, invariants checked at the end. test-soak: a short run by call count (part of
# make test); soak: SOAK_S seconds (default 600), SOAK_SEED for a given schedule.
SOAK_S ?= 600
SOAK_SEED ?=
test-soak: pkg
	node --test tests/soak/

soak: pkg
	node --expose-gc tests/soak/soak.mjs --seconds $(SOAK_S) $(if $(SOAK_SEED),--seed $(SOAK_SEED))
