#!/usr/bin/env bash
# Generates a realistic VM sample without network access:
#
#   OUTDIR/disk.img    sparse raw ext4 filesystem image (default 256 MiB), about 60%
#                      filled with real files copied from this machine (/usr/bin,
#                      /usr/lib, /usr/share): text, executables, libraries, free space
#   OUTDIR/memory.img  synthetic guest RAM dump (default 128 MiB): ~40% zero pages,
#                      ~25% copies of disk.img pages (page cache), ~20% heap-like data,
#                      ~15% random bytes
#
# Usage: scripts/make-sample.sh OUTDIR [DISK_MB [MEMORY_MB]]
#   DISK_MB defaults to 256; MEMORY_MB defaults to 128, or DISK_MB/2 when DISK_MB is given.
#   HEXZ_SAMPLE_SEED (default 1) seeds file selection and the memory image; the output is
#   deterministic for a given machine, sizes and seed.
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [DISK_MB [MEMORY_MB]]" >&2
  exit 2
}

[[ $# -ge 1 && $# -le 3 ]] || usage
outdir="$1"
disk_mb="${2:-256}"
seed="${HEXZ_SAMPLE_SEED:-1}"
for n in "$disk_mb" "${3:-0}" "$seed"; do
  [[ "$n" =~ ^[0-9]+$ ]] || usage
done
disk_mb=$((10#$disk_mb))
if [[ $# -ge 2 ]]; then
  mem_mb=$((10#${3:-$((disk_mb / 2))}))
else
  mem_mb=128
fi
if ((disk_mb < 16)); then
  echo "make-sample: DISK_MB must be at least 16" >&2
  exit 2
fi
if ((mem_mb < 1)); then
  mem_mb=1
fi

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
export PATH="$PATH:/usr/sbin:/sbin"  # mke2fs lives in /sbin
for tool in mke2fs debugfs e2fsck "$python"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "make-sample: '$tool' not found; run scripts/install-deps.sh" >&2
    exit 1
  fi
done

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
disk="$outdir/disk.img"
mem="$outdir/memory.img"

staging="$(mktemp -d "$outdir/.staging.XXXXXX")"
cleanup() {
  rm -rf "$staging" "$disk.tmp" "$mem.tmp" "$outdir/.fixup.debugfs"
}
trap cleanup EXIT

# 1. Stage real files: ~60% of the image, counted in 4 KiB blocks.
budget=$((disk_mb * 1024 * 1024 * 60 / 100))
echo "make-sample: staging ~$((budget >> 20)) MiB of files from /usr (seed $seed)"
"$python" "$script_dir/make_sample_tree.py" "$staging" --budget-bytes "$budget" \
  --seed "$seed" --roots /usr/bin /usr/lib /usr/share \
  --debugfs-script "$outdir/.fixup.debugfs"
entries="$(find "$staging" | wc -l)"
staged_files="$(find "$staging" -type f | wc -l)"

# 2. Build the filesystem. Fixed UUID, hash seed and time make it reproducible; 4 KiB
#    blocks match the page size, so guest page-cache pages line up with disk blocks.
inodes=$((entries + 2048))
rm -f "$disk.tmp"
truncate -s "${disk_mb}M" "$disk.tmp"
E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -b 4096 -N "$inodes" -m 1 \
  -L hexz-sample -U 6865787a-0000-4000-8000-73616d706c65 \
  -E root_owner=0:0,hash_seed=6865787a-0000-4000-8000-686173686564,nodiscard \
  -d "$staging" "$disk.tmp"
# mke2fs -d copied each staged entry's ctime (when we copied it) and atime (directories
# were read since); pin those too.
E2FSPROGS_FAKE_TIME=1700000000 debugfs -w -f "$outdir/.fixup.debugfs" "$disk.tmp" >/dev/null 2>&1
if debugfs -R "stat /" "$disk.tmp" 2>/dev/null | grep -q "ctime: 0x6553f100"; then :; else
  echo "make-sample: warning: could not pin ctimes; disk.img will not be reproducible" >&2
fi
e2fsck -fn "$disk.tmp" >/dev/null 2>&1 || {
  echo "make-sample: e2fsck reports problems in the generated image" >&2
  exit 1
}
mv -f "$disk.tmp" "$disk"
rm -rf "$staging" "$outdir/.fixup.debugfs"

# 3. The memory image, derived from the disk image.
echo "make-sample: writing ${mem_mb} MiB memory image"
"$python" "$script_dir/make_memory_image.py" --disk "$disk" --output "$mem" \
  --size-mb "$mem_mb" --seed "$seed"

# 4. Report.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
disk_bytes="$(stat -c %s "$disk")"
disk_alloc=$(($(stat -c %b "$disk") * $(stat -c %B "$disk")))
mem_bytes="$(stat -c %s "$mem")"
mem_alloc=$(($(stat -c %b "$mem") * $(stat -c %B "$mem")))
fs_line=""
if command -v dumpe2fs >/dev/null 2>&1; then
  hdr="$(dumpe2fs -h "$disk" 2>/dev/null || true)"
  blocks="$(awk -F: '/^Block count:/ { gsub(/ /, "", $2); print $2 }' <<<"$hdr")"
  free="$(awk -F: '/^Free blocks:/ { gsub(/ /, "", $2); print $2 }' <<<"$hdr")"
  if [[ -n "$blocks" && -n "$free" ]]; then
    fs_line="ext4, $staged_files files, $(mib $(((blocks - free) * 4096))) of $(mib $((blocks * 4096))) used"
  fi
fi
echo "make-sample: done"
echo "  $disk: $(mib "$disk_bytes") logical, $(mib "$disk_alloc") allocated${fs_line:+; $fs_line}"
echo "  $mem: $(mib "$mem_bytes") logical, $(mib "$mem_alloc") allocated"
