#!/usr/bin/env bash
# Runs every fuzz target in core/fuzz for SECONDS each (default 5): `make test` runs them
# briefly, `make fuzz` for longer. Fuzzing needs the nightly toolchain and cargo-fuzz
# (scripts/install-tools.sh installs cargo-fuzz where nightly exists); without them it says
# so and skips. A crash fails the run and leaves its input in core/fuzz/artifacts/<target>/:
# turn it into a regression test before fixing it.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/core/fuzz"
SECONDS_EACH="${1:-5}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=(tracker_message peer_frame stream_open transfer_frames names hello ws_frames)
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: cargo-fuzz is not installed (scripts/install-tools.sh installs it)"
  exit 0
fi
for t in "${TARGETS[@]}"; do
  # The committed seeds are read only; what the fuzzer finds goes to corpus/ (not committed).
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== fuzz $t (${SECONDS_EACH} s)"
  log="$(mktemp)"
  status=0
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=70000 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done)" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    echo "fuzz: $t FAILED (exit $status): the crashing input is in core/fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz: every target ran ${SECONDS_EACH} s without a crash"
