#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs each one for a
# bounded time on its generated seed corpus, with the format dictionary. Exits non-zero if any
# target finds a crash, a leak, an out-of-memory, a timeout or a broken oracle; the input that
# did it is kept in build-fuzz/findings/<target>/ (copy it to fuzz/regressions/<target>/ to make
# it a regression test that every test build replays).
#
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 30 (CI); a local campaign: 600 or more
#   TARGET              default: all (header index_page reader encrypted_reader fastcdc pack
#                       http_response)
# Environment: HEXZ_FUZZ_JOBS (parallel targets, default 1), HEXZ_FUZZ_KEEP_CORPUS=1 (keep
# the grown corpus in build-fuzz/corpus/ between runs instead of starting from the seeds).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds="${1:-30}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(header index_page reader encrypted_reader fastcdc pack http_response)
jobs="${HEXZ_FUZZ_JOBS:-1}"
dir=build-fuzz

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is missing (scripts/install-deps.sh installs clang)" >&2
  exit 1
fi
if [[ ! -f "$dir/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHEXZ_BUILD_FUZZ=ON -DHEXZ_SANITIZE=ON -DHEXZ_BUILD_TESTS=OFF -DHEXZ_BUILD_BENCH=OFF \
    -DHEXZ_BUILD_FUSE=OFF -DHEXZ_BUILD_NBDKIT=OFF >/dev/null
fi
cmake --build "$dir" --target make_seeds "${targets[@]/%/_fuzz}"

rm -rf "$dir/seeds"
"$dir/fuzz/make_seeds" "$dir/seeds"

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_one() {
  local t="$1" corpus="$dir/corpus/$1" findings="$dir/findings/$1" log="$dir/logs/$1.log"
  mkdir -p "$findings" "$dir/logs"
  if [[ "${HEXZ_FUZZ_KEEP_CORPUS:-0}" != "1" ]]; then rm -rf "$corpus"; fi
  mkdir -p "$corpus"
  cp -n "$dir/seeds/$t"/* "$corpus"/ 2>/dev/null || true
  local extra=()
  [[ -d "fuzz/regressions/$t" ]] && extra+=("fuzz/regressions/$t")
  local status=0
  # -rss_limit_mb / -malloc_limit_mb: a crafted file must never make the reader allocate much.
  "$dir/fuzz/${t}_fuzz" "$corpus" "${extra[@]}" -dict=fuzz/hexz.dict \
    -max_total_time="$seconds" -max_len=1048576 -timeout=25 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$findings/" \
    >"$log" 2>&1 || status=$?
  local execs cov
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || echo 'cov: ?')"
  if ((status != 0)); then
    echo "fuzz $t: FINDING (exit $status) after ${execs} runs; input in $findings/; log $log"
    grep -E 'ERROR|SUMMARY|hexz fuzz finding|==[0-9]+==' "$log" | head -n 8 | sed 's/^/    /'
    return 1
  fi
  echo "fuzz $t: ok, ${execs} runs in ${seconds}s, ${cov}, corpus $(ls "$corpus" | wc -l) inputs"
}

failed=0
if ((jobs > 1)); then
  pids=()
  for t in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || failed=1; done
    run_one "$t" &
  done
  while (($(jobs -rp | wc -l) > 0)); do wait -n || failed=1; done
else
  for t in "${targets[@]}"; do run_one "$t" || failed=1; done
fi
exit "$failed"
