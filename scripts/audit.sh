#!/usr/bin/env bash
# The supply-chain audit (`make audit`; SECURITY.md explains it):
#  1. cargo-deny, offline, against the RustSec advisory snapshot in audit/advisory-db/: advisories,
#     licences, duplicate versions, sources (deny.toml);
#  2. the canary: the same advisories check on audit/canary/ (a crate pinning a version with a
#     known advisory) must fail and name that advisory, or the audit is not auditing anything;
#  3. the npm side: tests/supply/ packs pkg/ and checks what would be published.
# Needs cargo-deny (scripts/setup.sh --audit) and, for step 3, a built pkg/ (make pkg).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1maudit:\033[0m %s\n' "$*" >&2; }

# cargo-deny keeps each database in <db-path>/<last URL segment>-<hash of the URL>; this is the
# name it derives for the db-urls entry in deny.toml. A wrong name is not a silent pass: cargo-deny
# then finds no database and the audit fails.
db_root=target/audit/advisory-dbs
db_dir=$db_root/advisory-db-3157b0e258782691
snapshot=audit/advisory-db
date=$(sed -n 's/^snapshot-date: *//p' "$snapshot/SNAPSHOT.md")
[ -n "$date" ] || { echo "audit: no snapshot-date: line in $snapshot/SNAPSHOT.md" >&2; exit 1; }

# A fresh copy each run (about 1 MB of text): what is audited is exactly what is committed.
rm -rf "$db_root"
mkdir -p "$db_dir/.git"
cp -R "$snapshot/crates" "$db_dir/crates"
# cargo-deny takes a database's age from .git/FETCH_HEAD's modification time: the snapshot's date.
: > "$db_dir/.git/FETCH_HEAD"
touch -d "${date}T00:00:00Z" "$db_dir/.git/FETCH_HEAD"
say "advisory database: RustSec snapshot of $date ($(find "$db_dir/crates" -name '*.md' | wc -l) advisories)"

# The crates' manifests must be on disk for an offline cargo metadata (dev and wasm32 ones too).
cargo fetch --locked --quiet
cargo fetch --locked --quiet --manifest-path audit/canary/Cargo.toml

say "cargo deny check (advisories, licences, duplicate versions, sources)"
# A skip entry for a duplicate that is gone is an error too: the list of exceptions stays exact.
cargo deny --offline --locked --config deny.toml check --deny unmatched-skip advisories licenses bans sources

say "canary: the advisories check must fail on audit/canary (smallvec 1.6.0, RUSTSEC-2021-0003)"
# deny.toml's ignore matches nothing there; that finding is allowed so the only error left is the
# vulnerability itself.
set +e
canary=$(cargo deny --offline --locked --config deny.toml --manifest-path audit/canary/Cargo.toml \
  check --hide-inclusion-graph --allow advisory-not-detected advisories 2>&1)
status=$?
set -e
if [ "$status" -eq 0 ] || ! grep -q 'error\[vulnerability\]' <<<"$canary" \
  || ! grep -q 'ID: RUSTSEC-2021-0003' <<<"$canary"; then
  printf '%s\n' "$canary" >&2
  echo "audit: the canary was not caught (exit $status): the advisory check is not working" >&2
  exit 1
fi
say "canary caught (exit $status, RUSTSEC-2021-0003 reported)"

if [ "${1:-}" != "--rust-only" ]; then
  say "npm package contents (tests/supply/)"
  node --test tests/supply/
fi
