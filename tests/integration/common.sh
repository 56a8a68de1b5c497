# Shared helpers of the integration tests; sourced by *_test.sh.
#
# Environment (set by CTest, see CMakeLists.txt here):
#   HEXZ_BIN     the hexz CLI
#   HEXZ_PLUGIN  nbdkit-hexz-plugin.so (NBD and boot tests)
# Every test works in its own temporary directory and, on any exit, unmounts what it mounted,
# kills the processes it started (by PID) and removes the directory.

set -uo pipefail

IT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ITTOOL=(python3 "$IT_DIR/ittool.py")
HEXZ="${HEXZ_BIN:-}"
PASSED=0
FAILED=0
MOUNTS=()
PIDS=()
TMP=""

# skip MESSAGE: the environment lacks what the test needs (CTest reports it as skipped).
skip() {
  echo "SKIP: $*"
  exit 77
}

# need_cmd CMD...: skips unless every command is installed.
need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed (run scripts/install-deps.sh)"
  done
}

cleanup() {
  local m p
  for m in "${MOUNTS[@]}"; do
    if grep -qs " $m " /proc/self/mountinfo; then
      fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    fi
  done
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [[ -n "$TMP" && -d "$TMP" ]]; then rm -rf "$TMP"; fi
}

# setup NAME: a fresh temporary directory in $TMP and the cleanup trap.
setup() {
  [[ -n "$HEXZ" && -x "$HEXZ" ]] || { echo "HEXZ_BIN is not set to the hexz binary" >&2; exit 1; }
  need_cmd python3
  TMP="$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/hexz-$1.XXXXXX")")"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

pass() {
  PASSED=$((PASSED + 1))
  echo "ok   - $*"
}

failed() {
  FAILED=$((FAILED + 1))
  echo "FAIL - $*"
}

# check DESCRIPTION CMD...: runs CMD, records pass/fail; output shown on failure.
check() {
  local desc="$1"
  shift
  local out
  if out="$("$@" 2>&1)"; then
    pass "$desc"
  else
    failed "$desc"
    printf '%s\n' "$out" | sed 's/^/       /' | head -n 40
  fi
}

# check_fails DESCRIPTION EXPECTED_TEXT CMD...: CMD must fail and print EXPECTED_TEXT.
check_fails() {
  local desc="$1" want="$2"
  shift 2
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if ((rc != 0)) && grep -qiF -- "$want" <<<"$out"; then
    pass "$desc"
  else
    failed "$desc (exit $rc; expected a failure mentioning '$want')"
    printf '%s\n' "$out" | sed 's/^/       /' | head -n 20
  fi
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

is_mounted() {
  grep -qs " $(realpath "$1") " /proc/self/mountinfo
}

# finish: prints the summary line and exits 0 only if every check passed.
finish() {
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

# make_images: writes disk.img, memory.img and manifest.json into $TMP.
make_images() {
  "${ITTOOL[@]}" images "$TMP" || { echo "cannot generate the test images" >&2; exit 1; }
}

# start_nbdkit SOCKET ARGS...: starts nbdkit (foreground, exits with this script) serving on a
# unix socket with the hexz plugin; sets NBD_PID. Returns non-zero if it did not come up.
start_nbdkit() {
  local sock="$1"
  shift
  rm -f "$sock"
  nbdkit --exit-with-parent -f -U "$sock" "$HEXZ_PLUGIN" "$@" >"$sock.log" 2>&1 &
  NBD_PID=$!
  PIDS+=("$NBD_PID")
  local deadline=$((SECONDS + 30))
  until [[ -S "$sock" ]]; do
    if ! kill -0 "$NBD_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "nbdkit did not start:" >&2
      cat "$sock.log" >&2
      return 1
    fi
    sleep 0.05
  done
}

# stop_nbdkit: stops the nbdkit started last.
stop_nbdkit() {
  kill "$NBD_PID" 2>/dev/null || true
  wait "$NBD_PID" 2>/dev/null || true
}

nbd_uri() {
  echo "nbd+unix:///?socket=$1"
}
