#!/usr/bin/env bash
# `make fuzz [FUZZ_S=60] [FUZZ_TARGETS="a b"]`: runs every libFuzzer target of fuzz/ (cargo-fuzz,
# nightly; setup.sh --fuzz installs both) for FUZZ_S seconds each, from the committed seeds in
# tests/fuzz/corpus/<target>/ plus what earlier runs found (fuzz/work/<target>/, not committed). A crash
# is copied to tests/fuzz/regressions/<target>/ — commit it with the fix: tests/fuzz_corpus.rs replays
# it on stable Rust in `cargo test`. Prints one line per target and fails if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${FUZZ_S:-60}
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
# -O: optimised, with debug assertions and AddressSanitizer (cargo-fuzz's defaults otherwise).
nice -n 10 cargo +nightly fuzz build -O
failed=0
printf '%-22s %12s %10s %8s %s\n' target execs 'exec/s' corpus result
for t in $targets; do
  mkdir -p "work/$t" "../tests/fuzz/regressions/$t"
  log="work/$t.log"
  # -timeout: one input running over 20 s is a hang (a crash too); -rss_limit_mb: memory.
  if nice -n 10 cargo +nightly fuzz run -O "$t" "work/$t" "../tests/fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    failed=1
    for a in artifacts/"$t"/*; do
      [ -f "$a" ] || continue
      cp "$a" "../tests/fuzz/regressions/$t/"
      echo "fuzz: $t: saved $(basename "$a") in tests/fuzz/regressions/$t/ (log: fuzz/$log)" >&2
    done
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  units=$(ls "work/$t" | wc -l)
  printf '%-22s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result"
done
exit $failed
