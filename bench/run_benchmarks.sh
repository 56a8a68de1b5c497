#!/usr/bin/env bash
# One command for all hexz benchmarks: installs the tools, builds a Release binary, compares
# `hexz pack` / `hexz extract` with lz4, zstd, mksquashfs and qemu-img (interleaved, warm page
# cache, N repetitions, medians), runs the Google Benchmark micro-benchmarks, and writes
# docs/benchmarks.md.
#
# Usage: bench/run_benchmarks.sh [--reps N] [--skip-install] [--skip-build] [--no-micro]
#                                [--no-compare] [--no-thin] [--keep] [--work DIR]
#
# With disk-v2.img next to disk-v1.img (the corpus), it also measures the next backup:
# bench/thin_vs_peers.sh packs v2 as a thin snapshot on v1 and compares the bytes added with
# borg, casync and restic (a few minutes more; --no-thin skips it).
#
# Inputs: $HEXZ_CORPUS (default /work/corpus) when it holds disk-v1.img and mem.img; otherwise
# a generated sample (scripts/make-sample.sh, else bench/gen_sample.py) in WORK/sample, and the
# report says so. Environment:
#   HEXZ_CORPUS        corpus folder (disk-v1.img, mem.img)
#   HEXZ_BENCH_REPS    repetitions (default 3; --reps wins)
#   HEXZ_BENCH_WORK    scratch folder for outputs (default build-release/bench-work; it must
#                      have room for the outputs, about 8x the compressed input size)
#   HEXZ_SKIP_DEPS=1   skip scripts/install-deps.sh (the peer tools are still checked)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

reps="${HEXZ_BENCH_REPS:-3}"
work="${HEXZ_BENCH_WORK:-$repo/build-release/bench-work}"
install=1
build=1
micro=1
compare=1
thin=1
keep=0
orig_args=("$@")
while (($#)); do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --reps=*) reps="${1#*=}"; shift ;;
    --work) work="$2"; shift 2 ;;
    --work=*) work="${1#*=}"; shift ;;
    --skip-install) install=0; shift ;;
    --skip-build) build=0; shift ;;
    --no-micro) micro=0; shift ;;
    --no-compare) compare=0; shift ;;
    --no-thin) thin=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run_benchmarks: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "run_benchmarks: --reps needs a positive integer" >&2; exit 2; }

phase() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
build_dir="$repo/build-release"
hexz="$build_dir/tools/hexz/hexz"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"  # mksquashfs, mke2fs

# ---------------------------------------------------------------------------- 1. tools
if ((install)); then
  phase "Installing tools"
  tools=(lz4 zstd squashfs-tools qemu-utils hyperfine time util-linux borgbackup casync restic bc)
  missing=()
  for p in "${tools[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] ||
      missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo_cmd=()
    [[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo -n)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
      install -y -q --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "benchmark tools already installed: ${tools[*]}"
  fi
  if [[ -f scripts/install-deps.sh ]]; then
    bash scripts/install-deps.sh </dev/null
  fi
fi
for t in lz4 zstd mksquashfs qemu-img /usr/bin/time taskset python3 cmake ninja; do
  command -v "$t" >/dev/null 2>&1 || { echo "run_benchmarks: '$t' is missing" >&2; exit 1; }
done

# ---------------------------------------------------------------------------- 2. build
if ((build)); then
  phase "Building Release into build-release/"
  # Warnings are enforced by scripts/test.sh; a benchmark run should not stop on a new GCC
  # -O3 false positive, hence HEXZ_WERROR=OFF here.
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DHEXZ_BUILD_TESTS=OFF -DHEXZ_BUILD_BENCH=ON -DHEXZ_WERROR=OFF >/dev/null
  targets=(hexz_cli)
  targets+=(bench_floor)
  ((micro)) && targets+=(bench_hash bench_codec bench_read bench_chunker)
  cmake --build "$build_dir" --target "${targets[@]}"
fi
[[ -x "$hexz" ]] || { echo "run_benchmarks: $hexz was not built" >&2; exit 1; }

# ---------------------------------------------------------------------------- 3. inputs
corpus="${HEXZ_CORPUS:-/work/corpus}"
sample_note=""
if [[ -f "$corpus/disk-v1.img" && -f "$corpus/mem.img" ]]; then
  phase "Inputs: corpus $corpus"
  disk="$corpus/disk-v1.img"
  mem="$corpus/mem.img"
  inputs=(--input "disk-v1.img=disk=$disk" --input "mem.img=memory=$mem")
else
  sample="$work/sample"
  disk="$sample/disk.img"
  mem="$sample/memory.img"
  if [[ -f "$disk" && -f "$mem" ]]; then
    phase "Inputs: no corpus at $corpus; reusing the generated sample in $sample"
  elif [[ -x scripts/make-sample.sh || -f scripts/make-sample.sh ]]; then
    phase "Inputs: no corpus at $corpus; generating a sample with scripts/make-sample.sh"
    bash scripts/make-sample.sh "$sample"
  else
    phase "Inputs: no corpus at $corpus; generating a sample with bench/gen_sample.py"
    python3 bench/gen_sample.py "$sample" --disk-mb 256 --memory-mb 128
  fi
  how="scripts/make-sample.sh"
  [[ -f scripts/make-sample.sh ]] || how="bench/gen_sample.py"
  sample_note="No corpus was found at $corpus (disk-v1.img + mem.img), so these results are on a \
small generated sample ($how: an ext4 image of real files and a synthetic RAM dump), not on the \
corpus. Small inputs favour tools with low start-up cost; re-run with the corpus for the real \
figures."
  inputs=(--input "disk.img=disk=$disk" --input "memory.img=memory=$mem")
fi
ls -ls "$disk" "$mem"

results="$work/results"
mkdir -p "$results"

# ---------------------------------------------------------------------------- 4. tools compared
if ((compare)); then
  phase "Comparing hexz with the peer tools ($reps repetitions, interleaved)"
  python3 bench/compare.py --hexz "$hexz" "${inputs[@]}" --work "$work" --reps "$reps" \
    --out "$results/compare.json"
  ((keep)) || rm -rf "$work/out"
fi
[[ -f "$results/compare.json" ]] || { echo "run_benchmarks: no $results/compare.json" >&2; exit 1; }

# ---------------------------------------------------------------------------- 4b. floor
# The machine's floor on the same inputs, in the same run, side by side with hexz and the peers.
floor_args=()
if [[ -x "$build_dir/bench/bench_floor" ]]; then
  phase "Floor: the primitives' per-core throughput on the same bytes"
  floor_specs=()
  for spec in "${inputs[@]}"; do
    [[ "$spec" == --input ]] && continue
    name="${spec%%=*}"
    path="${spec##*=}"
    "$build_dir/bench/bench_floor" "$path" >"$results/floor-$name.json"
    cat "$results/floor-$name.json"
    floor_specs+=(--floor "$name=$results/floor-$name.json")
  done
  python3 bench/floor_table.py --compare "$results/compare.json" "${floor_specs[@]}" \
    >"$results/floor.md"
  floor_args=(--append "$results/floor.md")
fi

# ---------------------------------------------------------------------------- 5. micro
micro_json=()
if ((micro)); then
  phase "Micro-benchmarks (--benchmark_min_time=0.2)"
  for b in bench_hash bench_codec bench_read bench_chunker; do
    echo "--- $b"
    # bench_codec reads its blocks from the same disk image the tools were compared on;
    # bench_read packs its generated image into a temporary folder under the work folder.
    HEXZ_BENCH_DATA="$disk" TMPDIR="$work" "$build_dir/bench/$b" --benchmark_min_time=0.2 \
      --benchmark_out="$results/$b.json" --benchmark_out_format=json
    micro_json+=(--micro "$results/$b.json")
  done
fi

# ---------------------------------------------------------------------------- 6. thin
thin_args=()
if ((thin)) && [[ -f "$corpus/disk-v2.img" && "$disk" == "$corpus/disk-v1.img" ]]; then
  phase "Thin snapshots: disk-v2.img on disk-v1.img, hexz vs borg, casync, restic"
  WORK="$work/thin" HEXZ="$hexz" bash bench/thin_vs_peers.sh "$disk" "$corpus/disk-v2.img" \
    >"$results/thin.md"
  rm -rf "$work/thin"
  thin_args=(--thin "$results/thin.md")
fi

# ---------------------------------------------------------------------------- 7. report
phase "Writing docs/benchmarks.md"
python3 bench/machine_info.py "$hexz" "$work" >"$results/machine.json"
cmd="bench/run_benchmarks.sh${orig_args[*]:+ ${orig_args[*]}}"
[[ -n "${HEXZ_CORPUS:-}" ]] && cmd="HEXZ_CORPUS=$HEXZ_CORPUS $cmd"
cmd="$cmd   # reps=$reps, inputs: $disk, $mem"
python3 bench/report.py --compare "$results/compare.json" "${micro_json[@]}" \
  --machine "$results/machine.json" --command "$cmd" --sample-note "$sample_note" \
  --observations bench/observations.md "${thin_args[@]}" "${floor_args[@]}" \
  --append bench/remote_results.md \
  --out docs/benchmarks.md
grep -A40 '^## Targets' docs/benchmarks.md | sed '/^## Method/,$d'
