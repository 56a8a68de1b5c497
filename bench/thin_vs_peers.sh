#!/usr/bin/env bash
# Bytes added by the *next* backup: packs V1, then V2 against it, with hexz (thin snapshot on
# a base) and with the deduplicating backup tools a user would otherwise pick (borg with
# fixed 4 KiB chunks and with its defaults, casync, restic), all on the same two images in one
# run. Prints a Markdown table: bytes each tool's store grew by when V2 was added.
#
# Usage: bench/thin_vs_peers.sh [V1 V2]   (default: $HEXZ_CORPUS/disk-v1.img and disk-v2.img)
# Environment:
#   HEXZ         the hexz binary (default build-release/tools/hexz/hexz)
#   HEXZ_CORPUS  corpus folder (default /work/corpus)
#   WORK         scratch folder (default a new temp dir, removed at the end)
# The peer tools come from Debian (borgbackup, casync, restic); a missing one is skipped.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${HEXZ_CORPUS:-/work/corpus}"
v1="${1:-$corpus/disk-v1.img}"
v2="${2:-$corpus/disk-v2.img}"
hexz="${HEXZ:-$repo/build-release/tools/hexz/hexz}"
for f in "$v1" "$v2" "$hexz"; do
  [[ -e "$f" ]] || { echo "thin_vs_peers: '$f' does not exist" >&2; exit 2; }
done
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work"
cleanup() { [[ -n "${WORK:-}" ]] || rm -rf "$work"; }
trap cleanup EXIT

size_of() { du -sb "$1" | cut -f1; }
rows=()
row() { # name, bytes after v1, bytes after v2, command
  local added=$(($3 - $2))
  rows+=("$(printf '| %s | %.1f MB | %.1f MB | `%s` |' "$1" "$(bc -l <<<"$2/1000000")" \
    "$(bc -l <<<"$added/1000000")" "$4")")
  echo "  $1: +$added bytes" >&2
}

hexz_case() { # name, extra pack flags...
  local name="$1"
  shift
  rm -f "$work/v1.hxz" "$work/v2.hxz"
  "$hexz" pack --quiet --disk "$v1" "$@" -o "$work/v1.hxz"
  "$hexz" pack --quiet --disk "$v2" "$@" --base "$work/v1.hxz" -o "$work/v2.hxz"
  local a b
  a=$(size_of "$work/v1.hxz")
  b=$(size_of "$work/v2.hxz")
  row "$name" "$a" "$((a + b))" "hexz pack --disk v2${*:+ $*} --base v1.hxz"
  # Read back: the thin snapshot must give v2's bytes exactly.
  "$hexz" cat "$work/v2.hxz" --stream disk | cmp - "$v2"
}

echo "thin_vs_peers: hexz" >&2
hexz_case "hexz (defaults)"
hexz_case "hexz --compression lz4" --compression lz4
hexz_case "hexz --cdc" --cdc

borg_case() { # name, chunker params, compression
  command -v borg >/dev/null || { echo "  borg not installed: skipped" >&2; return; }
  local repo_dir="$work/borg"
  rm -rf "$repo_dir"
  export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  borg init --encryption=none "$repo_dir" >/dev/null
  local flags=()
  [[ -n "$2" ]] && flags+=(--chunker-params "$2")
  [[ -n "$3" ]] && flags+=(--compression "$3")
  (cd "$(dirname "$v1")" && borg create "${flags[@]}" "$repo_dir::v1" "$(basename "$v1")")
  local a b
  a=$(size_of "$repo_dir")
  (cd "$(dirname "$v2")" && borg create "${flags[@]}" "$repo_dir::v2" "$(basename "$v2")")
  b=$(size_of "$repo_dir")
  row "$1" "$a" "$b" "borg create${flags[*]:+ ${flags[*]}}"
  rm -rf "$repo_dir"
}

echo "thin_vs_peers: borg" >&2
borg_case "borg, fixed 4 KiB chunks, zstd-3" "fixed,4096" "zstd,3"
borg_case "borg, ~64 KiB chunks, zstd-3" "buzhash,14,18,16,4095" "zstd,3"
borg_case "borg defaults (lz4)" "" ""

if command -v casync >/dev/null; then
  echo "thin_vs_peers: casync" >&2
  rm -rf "$work/castr"
  casync make --store="$work/castr" "$work/v1.caibx" "$v1" >/dev/null
  a=$(size_of "$work/castr")
  casync make --store="$work/castr" "$work/v2.caibx" "$v2" >/dev/null
  b=$(size_of "$work/castr")
  row "casync (defaults: ~64 KiB chunks, zstd)" "$a" "$b" "casync make --store=S v2.caibx v2"
  rm -rf "$work/castr"
fi

if command -v restic >/dev/null; then
  echo "thin_vs_peers: restic" >&2
  export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$work/restic-cache"
  restic init --repo "$work/restic" >/dev/null
  (cd "$(dirname "$v1")" && restic --repo "$work/restic" backup --quiet "$(basename "$v1")")
  a=$(size_of "$work/restic")
  (cd "$(dirname "$v2")" && restic --repo "$work/restic" backup --quiet "$(basename "$v2")")
  b=$(size_of "$work/restic")
  row "restic (defaults)" "$a" "$b" "restic backup v2"
  rm -rf "$work/restic" "$work/restic-cache"
fi

echo "| tool | store after v1 | added by v2 | command |"
echo "|---|---:|---:|---|"
printf '%s\n' "${rows[@]}"
