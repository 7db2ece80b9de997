#!/usr/bin/env bash
# Bounded fuzzing of every target (the test command runs it: tests/run.sh): builds all
# targets once with cargo-fuzz (libFuzzer, debug assertions and overflow checks on, no
# sanitizer: venuebox forbids unsafe code, and AddressSanitizer would instrument only
# the Rust code), seeds the corpora (fuzz/seed.sh), then runs each target for SECONDS
# (default 15) and fails on the first crash, leak of time (a 10 s input) or memory
# (2 GiB), leaving the input in fuzz/artifacts/<target>/. Prints each target's
# executions and libFuzzer's final coverage (cov: edges, ft: features).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); this stable toolchain takes
# its unstable flags with RUSTC_BOOTSTRAP=1, set here.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz"
seconds="${1:-15}"
shift || true
export RUSTC_BOOTSTRAP=1
# The fuzz crate's own target directory (fuzz/target), whatever the caller's is.
unset CARGO_TARGET_DIR
flags=(--sanitizer none --debug-assertions)
start=$(date +%s)
# fuzz/Cargo.lock is committed: refuse to build with another resolution.
cargo fetch --locked --target x86_64-unknown-linux-gnu --quiet
cargo fuzz build "${flags[@]}"
built=$(date +%s)
echo "fuzz/run.sh: built in $((built - start)) s"
"$fuzz/seed.sh"
bin="$fuzz/target/x86_64-unknown-linux-gnu/release"
mapfile -t targets < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cargo fuzz list; fi)
mkdir -p logs
summary=()
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  status=0
  "$bin/$t" "corpus/$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # libFuzzer's last status line: "#<runs> DONE cov: <edges> ft: <features> ...".
  final=$(grep -E '^#[0-9]+\s+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$final")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$final")
  line=$(printf '%-14s %12s execs  cov %6s  ft %6s' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}")
  if [ "$status" -ne 0 ]; then
    line+="  FAILED (exit $status): $(ls "artifacts/$t" | head -1)"
    failed+=("$t")
    tail -40 "$log" >&2
  fi
  summary+=("$line")
  echo "$line"
done
echo "fuzz/run.sh: ${#targets[@]} targets, ${seconds} s each, $(( $(date +%s) - start )) s in all (build $((built - start)) s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: crashes in ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/logs/)" >&2
  exit 1
fi
