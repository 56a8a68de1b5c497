#!/usr/bin/env bash
# Measures remote reading against a throwaway local Ceph radosgw (not run by ctest):
#   open latency, p50/p99 of cold random 4 KiB reads (remote_probe), and the throughput of
#   `hexz extract` from s3:// against a plain signed `curl` GET of the same object.
# Usage: HEXZ=... REMOTE_PROBE=... bash tests/remote/bench_s3.sh IMAGE [REPS]
# The figures in docs/benchmarks.md ("Remote reads") come from this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"
: "${REMOTE_PROBE:?}"
image="$(realpath "${1:?usage: bench_s3.sh IMAGE [REPS]}")"
reps="${2:-3}"
unset HEXZ_CACHE_DIR HEXZ_BASE_PATH

"$HEXZ" pack -q --disk "$image" -o "$WORK/bench.hxz"
start_radosgw
s3_curl PUT bkt >/dev/null || fail "create bucket"
"$HEXZ" push -q "$WORK/bench.hxz" s3://bkt/bench.hxz
S=s3://bkt/bench.hxz
obj="$(stat -c %s "$WORK/bench.hxz")"
logical="$(stat -c %s "$image")"
echo "image $image: $logical bytes; snapshot $obj bytes; hexz: $("$HEXZ" --version)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

secs() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$@"; }
median() { python3 -c "import sys, statistics; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }

for ka in 1 0; do
  echo "== HEXZ_REMOTE_KEEPALIVE=$ka"
  HEXZ_REMOTE_KEEPALIVE=$ka "$REMOTE_PROBE" open "$S" 50
  HEXZ_REMOTE_KEEPALIVE=$ka "$REMOTE_PROBE" random "$S" "$image" 300
  ext=() get=()
  for _ in $(seq "$reps"); do
    rm -f "$WORK/ex.img" "$WORK/get.hxz"
    t0="$(date +%s.%N)"
    HEXZ_REMOTE_KEEPALIVE=$ka "$HEXZ" extract -q "$S" --disk "$WORK/ex.img"
    t1="$(date +%s.%N)"
    s3_curl GET bkt/bench.hxz -o "$WORK/get.hxz"
    t2="$(date +%s.%N)"
    ext+=("$(secs "$t0" "$t1")")
    get+=("$(secs "$t1" "$t2")")
  done
  cmp "$WORK/ex.img" "$image" || fail "extract differs"
  cmp "$WORK/get.hxz" "$WORK/bench.hxz" || fail "curl GET differs"
  e="$(median "${ext[@]}")"
  g="$(median "${get[@]}")"
  python3 - "$obj" "$logical" "$e" "$g" <<'PY'
import sys
obj, logical, e, g = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"extract: {e:.2f} s = {obj / e / 1e6:.0f} MB/s of snapshot ({logical / e / 1e6:.0f} MB/s of image); "
      f"curl GET: {g:.2f} s = {obj / g / 1e6:.0f} MB/s (median of runs)")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
