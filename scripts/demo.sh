#!/usr/bin/env bash
# The main job, end to end, on a generated realistic sample:
#   install deps -> Release build -> make disk.img + memory.img -> hexz pack -> info ->
#   verify -> random reads compared with the sources -> extract and compare -> record a boot
#   trace through nbdkit, store it, replay it.
#
# Usage: bash scripts/demo.sh
# Environment:
#   HEXZ_DEMO_DISK_MB  disk image size in MiB (default 256)
#   HEXZ_DEMO_MEM_MB   memory image size in MiB (default 128)
#   HEXZ_DEMO_READS    random reads per stream (default 10)
#   HEXZ_DEMO_SEED     seed for the random reads (default 1)
#   HEXZ_DEMO_KEEP=1   keep the temporary directory with the sample and snapshot
#   HEXZ_SKIP_DEPS=1   do not run scripts/install-deps.sh
#   HEXZ_SKIP_BUILD=1  reuse an existing build-release/
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

disk_mb="${HEXZ_DEMO_DISK_MB:-256}"
mem_mb="${HEXZ_DEMO_MEM_MB:-128}"
reads="${HEXZ_DEMO_READS:-10}"
seed="${HEXZ_DEMO_SEED:-1}"
python="${PYTHON:-python3}"

phase() { printf '\n==> %s\n' "$*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

phase "Installing dependencies"
bash scripts/install-deps.sh

build="$repo/build-release"
hexz="$build/tools/hexz/hexz"
if [[ "${HEXZ_SKIP_BUILD:-0}" != "1" || ! -x "$hexz" ]]; then
  phase "Building Release into build-release/"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DHEXZ_BUILD_TESTS=OFF -DHEXZ_BUILD_BENCH=OFF
  cmake --build "$build"
fi
if [[ ! -x "$hexz" ]]; then
  echo "demo: $hexz was not built" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/hexz-demo.XXXXXX")"
if [[ "${HEXZ_DEMO_KEEP:-0}" == "1" ]]; then
  trap 'echo "demo: kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

phase "Generating a sample: ${disk_mb} MiB ext4 disk, ${mem_mb} MiB memory"
bash scripts/make-sample.sh "$work" "$disk_mb" "$mem_mb"
disk="$work/disk.img"
mem="$work/memory.img"
snap="$work/sample.hxz"

phase "hexz pack --disk disk.img --memory memory.img -o sample.hxz"
t0="$(now)"
if ! "$hexz" pack --disk "$disk" --memory "$mem" -o "$snap"; then
  echo "demo: FAILED: hexz pack exited non-zero" >&2
  exit 1
fi
t1="$(now)"
pack_secs="$(elapsed "$t0" "$t1")"

phase "hexz info sample.hxz"
if ! "$hexz" info "$snap"; then
  echo "demo: FAILED: hexz info exited non-zero" >&2
  exit 1
fi

failures=0
results=()
record() {  # record NAME STATUS
  results+=("$(printf '%-34s %s' "$1" "$2")")
  if [[ "$2" != PASS ]]; then
    failures=$((failures + 1))
  fi
}

phase "hexz verify sample.hxz"
if "$hexz" verify "$snap"; then
  record "verify" PASS
else
  record "verify" FAIL
fi

# Bytes [offset, offset+length) of a file, for comparison.
slice() {
  dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}

# Random (offset, length) pairs for a stream of SIZE bytes: a few fixed edge cases
# (start, end, unaligned block-crossing), then random ones of mixed sizes.
read_plan() {  # read_plan SIZE COUNT SEED
  "$python" - "$1" "$2" "$3" <<'EOF'
import random, sys
size, count, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
plan = [(0, min(size, 4096)), (max(0, size - 777), min(size, 777)),
        (min(size - 1, 65536 - 100), min(200, size - min(size - 1, 65536 - 100)))]
while len(plan) < count:
    kind = rng.random()
    if kind < 0.4:
        length = rng.randint(1, 4096)            # sub-chunk
    elif kind < 0.8:
        length = rng.randint(4097, 256 * 1024)   # several chunks / blocks
    else:
        length = rng.randint(256 * 1024, 4 << 20)
    length = min(length, size)
    offset = rng.randint(0, size - length)
    plan.append((offset, length))
for o, l in plan[:count]:
    if l > 0:
        print(o, l)
EOF
}

check_stream() {  # check_stream NAME SOURCE STREAM_SEED
  local name="$1" src="$2" stream_seed="$3" size ok=0 bad=0 offset length
  size="$(stat -c %s "$src")"
  while read -r offset length; do
    if "$hexz" cat "$snap" --stream "$name" --offset "$offset" --length "$length" |
      cmp -s - <(slice "$src" "$offset" "$length"); then
      ok=$((ok + 1))
      printf '  %-6s offset=%-10s length=%-8s ok\n' "$name" "$offset" "$length"
    else
      bad=$((bad + 1))
      printf '  %-6s offset=%-10s length=%-8s MISMATCH\n' "$name" "$offset" "$length"
    fi
  done < <(read_plan "$size" "$reads" "$stream_seed")
  echo "  $name: $ok reads matched, $bad mismatched"
  if ((bad == 0 && ok > 0)); then
    record "random reads: $name ($ok)" PASS
  else
    record "random reads: $name ($ok ok, $bad bad)" FAIL
  fi
}

phase "Random reads (hexz cat) compared with the sources"
check_stream disk "$disk" "$seed"
check_stream memory "$mem" "$((seed + 1))"

phase "hexz extract --disk out.img --memory out.mem"
out_disk="$work/out.img"
out_mem="$work/out.mem"
compare_extracted() {  # compare_extracted NAME SOURCE EXTRACTED
  local alloc
  alloc=$(($(stat -c %b "$3") * $(stat -c %B "$3")))
  echo "  $1: $(mib "$(stat -c %s "$3")") logical, $(mib "$alloc") allocated (sparse output)"
  if cmp "$2" "$3"; then
    record "extract: $1 identical" PASS
  else
    record "extract: $1 identical" FAIL
  fi
}
if "$hexz" extract "$snap" --disk "$out_disk" --memory "$out_mem"; then
  compare_extracted disk "$disk" "$out_disk"
  compare_extracted memory "$mem" "$out_mem"
else
  record "extract" FAIL
fi

phase "Boot trace: record reads through nbdkit, store the trace, replay it"
plugin="$build/plugins/nbdkit/nbdkit-hexz-plugin.so"
# serve_and_read STATS [nbdkit args...]: the same scattered reads through the plugin.
serve_and_read() {
  local stats="$1" sock="$work/nbd.sock" pid
  shift
  rm -f "$sock"
  nbdkit -U "$sock" -f "$plugin" snapshot="$snap" stats-file="$stats" "$@" &
  pid=$!
  for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
  qemu-io -r -f raw "nbd+unix:///?socket=$sock" -c "read 0 64k" -c "read 100m 128k" \
    -c "read 7m 4k" -c "read 200m 64k" -c "read 33m 256k" -c "read 150m 8k" >/dev/null
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
misses() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demand_block_misses"])' "$1"; }
if [[ -f "$plugin" ]] && command -v nbdkit >/dev/null && command -v qemu-io >/dev/null; then
  serve_and_read "$work/first.json" record-trace="$work/boot.trace"
  "$hexz" trace show "$work/boot.trace" | sed 's/^/  /'
  if "$hexz" trace add -q "$snap" "$work/boot.trace"; then
    serve_and_read "$work/second.json"
    first="$(misses "$work/first.json")"
    second="$(misses "$work/second.json")"
    echo "  reads that fetched a block themselves: $first without the trace, $second with it"
    if ((first > 0 && second == 0)); then
      record "boot trace: replay prefetched every block ($first misses -> 0)" PASS
    else
      record "boot trace: replay ($first misses -> $second)" FAIL
    fi
    "$hexz" info "$snap" | grep "boot trace" | sed 's/^/  /'
  else
    record "boot trace: hexz trace add" FAIL
  fi
else
  echo "  (skipped: needs nbdkit, qemu-io and the plugin)"
fi

in_bytes=$(($(stat -c %s "$disk") + $(stat -c %s "$mem")))
out_bytes="$(stat -c %s "$snap")"
phase "Summary"
echo "  input:    disk $(mib "$(stat -c %s "$disk")") + memory $(mib "$(stat -c %s "$mem")") = $(mib "$in_bytes")"
echo "  snapshot: $(mib "$out_bytes") ($(awk -v a="$in_bytes" -v b="$out_bytes" \
  'BEGIN { printf "%.2fx smaller", (b > 0 ? a / b : 0) }'))"
echo "  pack:     ${pack_secs}s ($(awk -v a="$in_bytes" -v s="$pack_secs" \
  'BEGIN { printf "%.0f MiB/s", (s > 0 ? a / 1048576 / s : 0) }'))"
for r in "${results[@]}"; do
  echo "  $r"
done
if ((failures > 0)); then
  echo "demo: FAILED ($failures check(s))"
  exit 1
fi
echo "demo: all checks PASSED"
