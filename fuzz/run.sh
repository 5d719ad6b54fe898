#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time, seeded from fuzz/corpus/<target>.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 20: what CI runs); no TARGET means all of them (`cargo fuzz list`).
# Fails (exit 1) on any crash, failed invariant, timeout (-timeout=10 s per input) or
# out-of-memory (-rss_limit_mb=2048), printing the log tail and the saved input. Prints, per
# target, the executions, the wall time and the coverage reached.
#
# Environment:
#   CARGO_TARGET_DIR  where to build (default fuzz/target)
#   FUZZ_WORK_DIR     the grown corpora, crash artifacts and logs (default fuzz/work; the seeds in
#                     fuzz/corpus are only read)
#   FUZZ_RUNS         also stop each target after this many executions (libFuzzer -runs)
#   FUZZ_SANITIZER    cargo-fuzz --sanitizer (default none: the code is safe Rust; `address` works)
#   FUZZ_SKIP_BUILD   set to 1 to run what is already built
#
# Needs only a Rust toolchain: cargo-fuzz is installed when missing, and its nightly-only flags
# work on stable through RUSTC_BOOTSTRAP=1 (set here for the build only).
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SECONDS_PER_TARGET="${1:-20}"
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [[ "$SECONDS_PER_TARGET" -eq 0 ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FUZZ_DIR/target}"
WORK="${FUZZ_WORK_DIR:-$FUZZ_DIR/work}"
SANITIZER="${FUZZ_SANITIZER:-none}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$CARGO_TARGET_DIR/$TRIPLE/release"

cd "$FUZZ_DIR"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

build_started=$(date +%s)
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
  echo "== building the fuzz targets (sanitizer: $SANITIZER, release with debug assertions)"
  cargo metadata --locked --format-version 1 >/dev/null # the committed Cargo.lock is current
  RUSTC_BOOTSTRAP=1 cargo fuzz build -O -a -s "$SANITIZER"
fi
build_seconds=$(( $(date +%s) - build_started ))

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p "$WORK/logs"
failed=()
summary=()
run_started=$(date +%s)
for target in "${targets[@]}"; do
  binary="$BIN_DIR/$target"
  if [[ ! -x "$binary" ]]; then
    echo "no built target $target at $binary" >&2
    exit 2
  fi
  mkdir -p "$WORK/corpus/$target" "$WORK/artifacts/$target"
  log="$WORK/logs/$target.log"
  flags=(-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="$WORK/artifacts/$target/")
  if [[ -n "${FUZZ_RUNS:-}" ]]; then flags+=(-runs="$FUZZ_RUNS"); fi
  seeds=()
  if [[ -d "$FUZZ_DIR/corpus/$target" ]]; then seeds=("$FUZZ_DIR/corpus/$target"); fi
  echo "== $target (${SECONDS_PER_TARGET}s)"
  started=$(date +%s.%N)
  status=0
  # New inputs go to the first directory (the work corpus); the committed seeds are only read.
  "$binary" "${flags[@]}" "$WORK/corpus/$target" "${seeds[@]}" </dev/null >"$log" 2>&1 || status=$?
  elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  rate=$(awk -v n="${execs:-0}" -v t="$elapsed" 'BEGIN { printf "%d", (t > 0 ? n / t : 0) }')
  line=$(printf '%-22s %12s execs %8ss %9s exec/s  cov %6s  ft %7s  corpus %6s  rss %5s MB' \
    "$target" "${execs:-?}" "$elapsed" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
  summary+=("$line")
  if [[ $status -ne 0 ]] || grep -qE '^==[0-9]+== ERROR: libFuzzer|^SUMMARY: libFuzzer|panicked at' "$log"; then
    failed+=("$target")
    echo "!! $target FAILED (exit $status); log $log" >&2
    tail -n 40 "$log" >&2
    ls -l "$WORK/artifacts/$target/" >&2 || true
  else
    echo "   $line"
  fi
done
run_seconds=$(( $(date +%s) - run_started ))

echo
echo "== summary (build ${build_seconds}s, runs ${run_seconds}s)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  echo "Reproduce with: $BIN_DIR/<target> <artifact>" >&2
  exit 1
fi
echo "all ${#targets[@]} targets passed"
