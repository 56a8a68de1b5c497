#!/usr/bin/env bash
# make-corpus.sh -- build the hexz benchmark corpus from this machine's files.
#
#   scripts/make-corpus.sh [--small] [--no-measure] [OUTDIR]
#
# Writes to OUTDIR (default /work/corpus, or /work/corpus-small with --small):
#   disk-v1.img  2 GiB raw ext4 image, ~1.5 GB of real Debian files
#                (installed packages' files, apt-cache .debs, dpkg db, /etc)
#   disk-v2.img  v1 after removals/installs/upgrades/edits, rebuilt with a
#                fresh mke2fs (so the block layout shifts)
#   mem.img      1 GiB synthetic guest RAM dump (zero, slab, heap, text,
#                page-table, random and page-cache pages)
#   disks.txt    what went into the two disk images
#   REPORT.txt   measured sizes / compression / block overlap vs. targets
# --small builds everything at 1/8 scale (256 MiB disks, 128 MiB RAM).
#
# Deterministic: the same machine (same installed packages and apt cache)
# gives the same bytes on every run.  Needs python3 (stdlib only), mke2fs,
# dpkg-deb, and lz4 + zstd for the measurements (installed with apt-get when
# missing and running as root).  No network besides that.
# Helpers live in scripts/corpus/ (see scripts/corpus/README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
py="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1

small=0
measure=1
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --small) small=1 ;;
        --no-measure) measure=0 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
                   exit 0 ;;
        -*) echo "make-corpus.sh: unknown option $1" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "make-corpus.sh: one OUTDIR only" >&2; exit 2; }
           out="$1" ;;
    esac
    shift
done
if [ -z "$out" ]; then
    if [ "$small" = 1 ]; then out=/work/corpus-small; else out=/work/corpus; fi
fi
if [ "$small" = 1 ]; then scale=0.125; mem_mib=128; else scale=1; mem_mib=1024; fi

out="$(realpath -m -- "$out")"
case "$out/" in
    "$(realpath -m -- "$repo")"/*)
        echo "make-corpus.sh: refusing to write multi-GiB images inside the repository ($out)" >&2
        exit 2 ;;
esac
mkdir -p "$out"

need=(mke2fs dpkg-deb)
[ "$measure" = 1 ] && need+=(lz4 zstd)
missing=()
for t in "${need[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=()
    for t in "${missing[@]}"; do
        case "$t" in
            mke2fs) pkgs+=(e2fsprogs) ;; dpkg-deb) pkgs+=(dpkg) ;; *) pkgs+=("$t") ;;
        esac
    done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "make-corpus.sh: installing ${pkgs[*]}"
        apt-get install -y -q "${pkgs[@]}" >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; }
    else
        echo "make-corpus.sh: missing tools: ${missing[*]} (apt-get install ${pkgs[*]})" >&2
        exit 1
    fi
fi
command -v "$py" >/dev/null || { echo "make-corpus.sh: python3 not found" >&2; exit 1; }

start=$(date +%s)
echo "== disk images (scale $scale) -> $out"
"$py" "$here/corpus/build_disks.py" "$out" --scale "$scale"
echo "== memory image ($mem_mib MiB)"
"$py" "$here/corpus/make_mem.py" --disk "$out/disk-v1.img" --out "$out/mem.img" \
    --size-mib "$mem_mib"
gen=$(( $(date +%s) - start ))
echo "== generated in ${gen}s"
if [ "$measure" = 1 ]; then
    echo "== measuring"
    "$py" "$here/corpus/measure.py" "$out" --scale "$scale"
fi
echo "== done in $(( $(date +%s) - start ))s (generation ${gen}s); corpus in $out"
