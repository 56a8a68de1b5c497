#!/usr/bin/env bash
# Benchmarks `hexz serve-memory` against the floor of this machine, in one run on one input:
#   - random 4 KiB first touches (p50/p99 per fault, client side) through the floor handler (one
#     4 KiB UFFDIO_COPY per fault from the image loaded in memory: what any handler costs here),
#     and through hexz serving an LZ4 and a zstd snapshot (fill page and fill block);
#   - resume-to-resident: every page touched once in order (MiB/s), the same handlers, against
#     `hexz extract` of the memory stream followed by a first touch of the raw file (Firecracker's
#     File backend);
#   - with S3=1, the same from a throwaway radosgw on 127.0.0.1 (tests/remote/lib.sh).
# Usage: bash bench/serve_memory_bench.sh MEM_IMAGE [SAMPLES]   (as root: userfaultfd)
# Environment: HEXZ (hexz binary), FAKE_FIRECRACKER (tests/uffd/fake_firecracker), S3=1.
# The figures in docs/benchmarks.md ("Memory server") come from this script.
set -euo pipefail
image="$(realpath "${1:?usage: serve_memory_bench.sh MEM_IMAGE [SAMPLES]}")"
samples="${2:-4000}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
HEXZ="${HEXZ:-$repo/build/tools/hexz/hexz}"
FC="${FAKE_FIRECRACKER:-$repo/build/tests/fake_firecracker}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sock="$work/uffd.sock"
size="$(stat -c %s "$image")"

echo "image $image: $size bytes; $("$HEXZ" --version); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$HEXZ" pack -q --memory "$image" --compression lz4 -o "$work/lz4.hxz"
"$HEXZ" pack -q --memory "$image" --compression zstd -o "$work/zstd.hxz"
echo "snapshots: lz4 $(stat -c %s "$work/lz4.hxz") bytes, zstd $(stat -c %s "$work/zstd.hxz") bytes"

# run_client LABEL BENCH HANDLER...: starts HANDLER (which listens on $sock), runs the fake VMM.
run_client() {
  local label="$1" bench="$2"
  shift 2
  "$@" >"$work/handler.txt" 2>&1 &
  local pid=$!
  local line
  line="$("$FC" vmm --socket "$sock" --size "$size" --bench "$bench" --samples "$samples")"
  wait "$pid" || { echo "handler failed: $(cat "$work/handler.txt")"; exit 1; }
  printf '%-34s %s\n' "$label" "$line"
}

for bench in random sequential; do
  echo "== $bench"
  run_client "floor (memcpy handler)" "$bench" "$FC" floor --socket "$sock" --image "$image"
  for codec in lz4 zstd; do
    for fill in page block; do
      run_client "hexz $codec, fill $fill" "$bench" \
        "$HEXZ" serve-memory "$work/$codec.hxz" --socket "$sock" -q --fill "$fill"
    done
  done
done

echo "== extract, then first touch of the raw file (File backend)"
for codec in lz4 zstd; do
  sync
  t0="$(date +%s.%N)"
  "$HEXZ" extract -q -f "$work/$codec.hxz" --memory "$work/mem.raw"
  t1="$(date +%s.%N)"
  touch_line="$("$FC" touch-file "$work/mem.raw")"
  t2="$(date +%s.%N)"
  python3 - "$codec" "$t0" "$t1" "$t2" "$size" "$touch_line" <<'PY'
import sys
codec, t0, t1, t2, size, line = sys.argv[1], *map(float, sys.argv[2:6]), sys.argv[6]
total = t2 - t0
print(f"extract {codec} + touch: {t1 - t0:.2f} s + {t2 - t1:.2f} s = {total:.2f} s, "
      f"{size / 2**20 / total:.0f} MiB/s to resident ({line})")
PY
  rm -f "$work/mem.raw"
done

if [[ "${S3:-0}" == 1 ]]; then
  WORK="$work/s3"
  mkdir -p "$WORK"
  # shellcheck source=../tests/remote/lib.sh
  source "$repo/tests/remote/lib.sh"
  start_radosgw
  s3_curl PUT bkt >/dev/null
  for codec in lz4 zstd; do "$HEXZ" push -q "$work/$codec.hxz" "s3://bkt/$codec.hxz"; done
  for bench in random sequential; do
    echo "== $bench, from radosgw on loopback"
    for codec in lz4 zstd; do
      run_client "hexz s3 $codec, fill block" "$bench" \
        "$HEXZ" serve-memory "s3://bkt/$codec.hxz" --socket "$sock" -q
    done
  done
fi
