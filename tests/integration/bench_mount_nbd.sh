#!/usr/bin/env bash
# Benchmarks of the FUSE mount and the nbdkit plugin against the usual alternatives (not part of
# the test suite; the figures in docs/mount-nbd.md come from it).
#
# Usage: bench_mount_nbd.sh HEXZ_BIN PLUGIN_SO [RAW_IMAGE] [ROUNDS]
#   RAW_IMAGE defaults to /work/corpus/disk-v1.img; ROUNDS (default 5) fresh mounts per variant.
#
#   1. nbdcopy of the whole export to null: -- `nbdkit hexz` on the image packed with LZ4 against
#      `nbdkit file` on the raw image (median of ROUNDS runs; both files in the page cache).
#   2. Cold random 4 KiB preads (2000 distinct 4 KiB-aligned offsets, one fresh mount and one
#      fresh process per round) through `hexz mount` against squashfuse on a squashfs holding the
#      raw image as a single file (LZ4, and the mksquashfs default gzip). "Cold" = nothing of the
#      image in the mount's caches or the kernel's page cache of the mounted file; the backing
#      .hxz/.sqfs files themselves are in the host page cache (a container cannot drop caches).
set -euo pipefail
HEXZ="$(realpath "$1")"
PLUGIN="$(realpath "$2")"
RAW="${3:-/work/corpus/disk-v1.img}"
ROUNDS="${4:-5}"
IT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="$(mktemp -d "${TMPDIR:-/tmp}/hexz-bench.XXXXXX")"
NBD_PID=""
cleanup() {
  for m in "$W/mh" "$W/ms"; do
    grep -qs " $m " /proc/self/mountinfo && fusermount3 -u -z "$m"
  done
  [[ -n "$NBD_PID" ]] && kill "$NBD_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mh" "$W/ms"

echo "== preparing: $RAW ($(stat -c %s "$RAW") bytes), load: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
"$HEXZ" pack --disk "$RAW" -o "$W/img.hxz" -q
echo "hexz pack (lz4): $(awk "BEGIN{print $(date +%s.%N) - $t0}") s, $(stat -c %s "$W/img.hxz") bytes"
mksquashfs "$RAW" "$W/lz4.sqfs" -comp lz4 -noappend -quiet -no-progress >/dev/null
mksquashfs "$RAW" "$W/gzip.sqfs" -noappend -quiet -no-progress >/dev/null
echo "squashfs: lz4 $(stat -c %s "$W/lz4.sqfs") bytes, gzip $(stat -c %s "$W/gzip.sqfs") bytes"
cat "$RAW" "$W/img.hxz" "$W/lz4.sqfs" "$W/gzip.sqfs" >/dev/null  # all in the page cache

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# nbdcopy_time PLUGIN ARGS...: median wall time of `nbdcopy URI null:` over ROUNDS runs.
nbdcopy_time() {
  local sock="$W/nbd.sock"
  rm -f "$sock"
  nbdkit --exit-with-parent -f -U "$sock" "$@" &
  NBD_PID=$!
  while [[ ! -S "$sock" ]]; do sleep 0.05; done
  for _ in $(seq "$ROUNDS"); do
    local s e
    s=$(date +%s.%N)
    nbdcopy "nbd+unix:///?socket=$sock" null:
    e=$(date +%s.%N)
    awk "BEGIN{print $e - $s}"
  done | median
  kill "$NBD_PID"
  wait "$NBD_PID" 2>/dev/null || true
  NBD_PID=""
}
echo
echo "== nbdcopy of the export to null: (median of $ROUNDS)"
echo "nbdkit hexz (LZ4 snapshot): $(nbdcopy_time "$PLUGIN" snapshot="$W/img.hxz") s"
echo "nbdkit file (raw image):    $(nbdcopy_time file "$RAW") s"

# cold_preads NAME MOUNT_CMD... : one fresh mount per round; prints median p50/p90/p99.
cold_preads() {
  local name="$1" file="$2"
  shift 2
  local out="$W/$name.json"
  : >"$out"
  for r in $(seq "$ROUNDS"); do
    "$@"
    python3 "$IT/ittool.py" bench-preads "$file" --count 2000 --seed "$r" >>"$out"
    fusermount3 -u "$(dirname "$file")"
  done
  python3 - "$out" "$name" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
m = lambda k: statistics.median(r[k] for r in rs)
print(f"{sys.argv[2]:28s} p50 {m('p50_us'):6.1f} us  p90 {m('p90_us'):6.1f} us  "
      f"p99 {m('p99_us'):7.1f} us  (median of {len(rs)} fresh mounts x {rs[0]['reads']} reads)")
PY
}
echo
echo "== cold random 4 KiB preads through FUSE"
cold_preads "hexz-mount-lz4" "$W/mh/disk" "$HEXZ" mount "$W/img.hxz" "$W/mh"
cold_preads "squashfuse-lz4" "$W/ms/$(basename "$RAW")" squashfuse "$W/lz4.sqfs" "$W/ms"
cold_preads "squashfuse-gzip" "$W/ms/$(basename "$RAW")" squashfuse "$W/gzip.sqfs" "$W/ms"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
