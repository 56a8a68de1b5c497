#!/usr/bin/env bash
# Builds everything and runs every check: formatting, the test suite in a
# RelWithDebInfo build (build/), the test suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/), and the tests that exercise threads (CTest label
# `threads`: parallel pack, concurrent reads, the caches, base readers, the disk cache, the http
# and s3 tests, the FUSE mount) under ThreadSanitizer (build-tsan/), then every libFuzzer target
# for a bounded time (build-fuzz/, scripts/fuzz.sh). Exits non-zero if anything fails.
#
# Usage: bash scripts/test.sh
# Works from a clean clone, without stdin (CI=true). Environment:
#   HEXZ_SKIP_DEPS=1      do not run scripts/install-deps.sh
#   HEXZ_SKIP_ASAN=1      skip the sanitizer build (quicker local runs)
#   HEXZ_SKIP_TSAN=1      skip the ThreadSanitizer build and run
#   HEXZ_CTEST_TIMEOUT    per-test timeout in seconds (default 1200)
#   HEXZ_SKIP_FUZZ=1      skip the libFuzzer run (build-fuzz/, clang)
#   HEXZ_FUZZ_SECONDS     seconds per fuzz target (default 30)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

timeout_s="${HEXZ_CTEST_TIMEOUT:-1200}"
failed=()
start_all="$(date +%s)"

phase() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() {
  echo "test.sh: FAILED: $*" >&2
  failed+=("$*")
}

phase "Dependencies"
bash scripts/install-deps.sh </dev/null

phase "Format check (clang-format --dry-run --Werror)"
mapfile -d '' sources < <(find include src tools tests bench fuzz plugins python/src -type f \
  \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' -o -name '*.ipp' \) \
  -print0 2>/dev/null | sort -z)
if ((${#sources[@]} == 0)); then
  echo "no C++ sources found"
elif clang-format --dry-run --Werror "${sources[@]}" >/dev/null 2>&1; then
  echo "${#sources[@]} files formatted correctly"
else
  # Name every misformatted file, and show the first differences (not thousands of lines).
  bad=()
  for f in "${sources[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      bad+=("$f")
    fi
  done
  echo "${#bad[@]} of ${#sources[@]} files are not clang-formatted:"
  printf '  %s\n' "${bad[@]}"
  for f in "${bad[@]:0:3}"; do
    clang-format "$f" | diff -u --label "$f" --label "$f (clang-formatted)" "$f" - |
      head -n 30 || true
  done
  fail "format check: ${#bad[@]} file(s); fix with: clang-format -i ${bad[*]}"
fi

# build_and_test NAME DIR CMAKE_ARGS...: configure, build and ctest one tree.
build_and_test() {
  local name="$1" dir="$2"
  shift 2
  phase "Configure $name ($dir/)"
  if ! cmake -S . -B "$dir" -G Ninja "$@"; then
    fail "$name: configure"
    return
  fi
  phase "Build $name"
  if ! cmake --build "$dir"; then
    fail "$name: build"
    return
  fi
  phase "Test $name (ctest)"
  if ! ctest --test-dir "$dir" --output-on-failure -j2 --no-tests=error \
    --timeout "$timeout_s"; then
    fail "$name: tests"
  fi
}

build_and_test "RelWithDebInfo" build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHEXZ_BUILD_TESTS=ON

phase "Python package (pip install . + pytest)"
if ! bash python/build-and-test.sh; then
  fail "python: build or tests"
fi

if [[ "${HEXZ_SKIP_ASAN:-0}" == "1" ]]; then
  phase "Sanitizers: skipped (HEXZ_SKIP_ASAN=1)"
else
  export ASAN_OPTIONS="detect_leaks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  build_and_test "ASan+UBSan Debug" build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DHEXZ_SANITIZE=ON -DHEXZ_BUILD_TESTS=ON -DHEXZ_BUILD_BENCH=OFF
fi

# The ThreadSanitizer phase builds only what the `threads` tests need. Every process reports
# to build-tsan/tsan-logs/ (log_path), so a race seen by a detached FUSE daemon or by a command
# a script expects to fail is caught too: any report there fails the phase. tests/tsan.supp
# holds the suppressions (third-party code only).
tsan_phase() {
  local dir=build-tsan start logs
  start="$(date +%s)"
  logs="$repo/$dir/tsan-logs"
  phase "Configure ThreadSanitizer ($dir/)"
  if ! cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHEXZ_SANITIZE_THREAD=ON -DHEXZ_BUILD_TESTS=ON -DHEXZ_BUILD_BENCH=OFF \
    -DHEXZ_BUILD_NBDKIT=OFF; then
    fail "ThreadSanitizer: configure"
    return
  fi
  phase "Build ThreadSanitizer (hexz_tests, hexz_cli, remote_probe, the memory server tests)"
  if ! cmake --build "$dir" --target hexz_tests hexz_cli remote_probe hexz_memory_server_tests \
    fake_firecracker make_rewritten_snapshot; then
    fail "ThreadSanitizer: build"
    return
  fi
  phase "Test ThreadSanitizer (ctest -L threads)"
  rm -rf "$logs"
  mkdir -p "$logs"
  local rc=0 reports=()
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$repo/tests/tsan.supp log_path=$logs/tsan" \
    ctest --test-dir "$dir" -L threads --output-on-failure -j2 --no-tests=error \
    --timeout "$timeout_s" || rc=$?
  mapfile -t reports < <(find "$logs" -type f | sort)
  if ((${#reports[@]} > 0)); then
    echo "${#reports[@]} ThreadSanitizer report file(s):"
    for f in "${reports[@]}"; do
      echo "--- $f"
      head -n 200 "$f"
    done
    fail "ThreadSanitizer: ${#reports[@]} report(s) in $logs"
  elif ((rc != 0)); then
    fail "ThreadSanitizer: tests"
  fi
  echo "ThreadSanitizer phase: $(($(date +%s) - start))s"
}

if [[ "${HEXZ_SKIP_TSAN:-0}" == "1" ]]; then
  phase "ThreadSanitizer: skipped (HEXZ_SKIP_TSAN=1)"
else
  tsan_phase
fi

if [[ "${HEXZ_SKIP_FUZZ:-0}" == "1" ]]; then
  phase "Fuzzing: skipped (HEXZ_SKIP_FUZZ=1)"
else
  # Every libFuzzer target for a bounded time on its seed corpus (scripts/fuzz.sh; a longer
  # local campaign: bash scripts/fuzz.sh 600). Any crash, leak, OOM or broken oracle fails.
  phase "Fuzzing (libFuzzer + ASan/UBSan, ${HEXZ_FUZZ_SECONDS:-30} s per target)"
  if ! HEXZ_FUZZ_JOBS="${HEXZ_FUZZ_JOBS:-2}" bash scripts/fuzz.sh "${HEXZ_FUZZ_SECONDS:-30}"; then
    fail "fuzzing: a target found a problem (see build-fuzz/findings/)"
  fi
fi

phase "Summary ($(($(date +%s) - start_all))s)"
if ((${#failed[@]} > 0)); then
  for f in "${failed[@]}"; do
    echo "  FAILED: $f"
  done
  exit 1
fi
echo "  all phases passed"
