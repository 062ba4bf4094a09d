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

.PHONY: setup pkg demo demo-gateway walkthrough sim www www-dist bench test test-rust test-wasm test-js test-sim test-session test-cli test-browser test-www test-workerd test-stores test-fleet test-clients test-ws lint clean

setup:
	@scripts/setup.sh

pkg: setup
	cargo build --release --target $(WASM_TARGET)
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

test: lint test-rust test-wasm test-js test-sim test-session test-cli test-browser test-www test-workerd test-stores test-fleet test-clients test-ws
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

# A fleet of processes sharing one token: worker processes over a redis-server (or a file), and
# the examples in examples/fleet/ (a Lambda refresher, a Node server, a Worker's cron in miniflare).
test-fleet: pkg
	@scripts/setup.sh --redis
	node --test tests/fleet/

# Real third-party clients, unchanged, against the simulator: ibind 0.2.2 (OAuth 1.0a) and ibauth
# 0.1.6 (OAuth 2.0) from PyPI in .venv-clients/ (setup.sh --python). No package needed.
test-clients:
	@scripts/setup.sh --python
	node --test tests/clients/

# The streaming WebSocket against the simulator's, through the packed package: Node 20 with the
# `ws` package, and Node 22's global WebSocket (setup.sh --node22 puts it in .tools/node22/).
# Chromium's and workerd's streaming tests run in test-browser and test-workerd.
test-ws: pkg
	@scripts/setup.sh --node22
	node --test tests/ws/

clean:
	rm -rf target/bindgen pkg www/dist test-results

# The fleet section starts a redis-server of its own (setup.sh --redis installs it).
bench: pkg
	@scripts/setup.sh --redis
	node --expose-gc bench/run.mjs
