# ibkr-auth. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
WASM_TARGET := wasm32-unknown-unknown
WASM_RAW := target/$(WASM_TARGET)/release/ibkr_auth.wasm
BINDGEN := target/bindgen
WASM_OPT := node_modules/.bin/wasm-opt
# -ocimfs=100: functions with one caller are inlined only when small. Binaryen otherwise inlines
# any of them, whatever its size, undoing `#[inline(never)]` on the big-integer steps that must
# stay separate functions to reach V8's optimising tier on a cold start; it also gzips smaller.
# --converge repeats the passes while they still shrink the module; the target_features section
# is only for tools (runtimes ignore it). Together ~0.2 KB gzipped. The import, export and module
# names are shortened (wasm-bindgen's carry a 16-digit hash each: −1.6 KB gzipped); wasm-opt
# prints the mapping, and build-pkg.mjs rewrites the glue to match. Last, the functions are laid
# out in the order scripts/order-for-gzip.mjs picks (similar functions within deflate's 32 KiB
# window: ~1.8 KB gzipped); -ol 2 -s 2 keeps Binaryen's size-optimised writing of the code.
WASM_OPT_FLAGS := -Oz -ocimfs=100 --converge

.PHONY: setup pkg demo walkthrough sim www www-dist bench test test-rust test-wasm test-js test-session test-cli test-browser test-www test-workerd lint clean

setup:
	@scripts/setup.sh

pkg: setup
	cargo build --release --target $(WASM_TARGET)
	wasm-bindgen --target nodejs --out-dir $(BINDGEN)/node $(WASM_RAW)
	wasm-bindgen --target web --out-dir $(BINDGEN)/web $(WASM_RAW)
	$(WASM_OPT) $(WASM_OPT_FLAGS) --strip-debug --strip-producers --minify-imports-and-exports-and-modules \
	  $(BINDGEN)/web/ibkr_auth_bg.wasm -o $(BINDGEN)/ibkr_auth_bg.min.wasm > $(BINDGEN)/names.json
	node scripts/order-for-gzip.mjs $(BINDGEN)/ibkr_auth_bg.min.wasm $(BINDGEN)/ibkr_auth_bg.ordered.wasm
	$(WASM_OPT) -ol 2 -s 2 --reorder-functions-by-name --strip-debug --strip-target-features \
	  $(BINDGEN)/ibkr_auth_bg.ordered.wasm -o $(BINDGEN)/ibkr_auth_bg.opt.wasm
	node scripts/build-pkg.mjs $(BINDGEN)/ibkr_auth_bg.opt.wasm $(BINDGEN)/names.json

demo: pkg
	node examples/demo.mjs

sim: setup
	node sim/cli.mjs

www-dist: pkg
	node www/build.mjs

www: www-dist
	node www/serve.mjs

walkthrough: pkg
	node examples/handshake-walkthrough.mjs

test: lint test-rust test-wasm test-js test-session test-cli test-browser test-www test-workerd
	@echo "make test: all suites passed"

lint: setup
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) --workspace --all-targets -- -D warnings

test-rust:
	cargo test --workspace

test-wasm: setup
	cargo test --target $(WASM_TARGET)
	cargo test --target $(WASM_TARGET) -p ibkr-auth-bigint

test-js: pkg
	node --test tests/js/

test-session: pkg
	node --test tests/session/

test-cli: pkg
	node --test tests/cli/

test-browser: pkg
	@scripts/setup.sh --browser
	node --test tests/browser/

test-www: www-dist
	@scripts/setup.sh --browser
	node --test tests/www/

test-workerd: pkg
	node --test tests/workerd/

clean:
	rm -rf target/bindgen pkg www/dist test-results

bench: pkg
	node --expose-gc bench/run.mjs
