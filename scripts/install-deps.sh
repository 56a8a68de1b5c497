#!/usr/bin/env bash
# Installs every Debian package needed to build, test and demo hexz.
#
# Usage: scripts/install-deps.sh [extra-package...]
#
# Idempotent: when every requested package is already installed it does nothing
# (not even `apt-get update`). Meant for Debian 12 as root; falls back to sudo
# when run as another user. Set HEXZ_SKIP_DEPS=1 to skip it entirely.
set -euo pipefail

if [[ "${HEXZ_SKIP_DEPS:-0}" == "1" ]]; then
  echo "install-deps: HEXZ_SKIP_DEPS=1, skipping"
  exit 0
fi

packages=(
  # toolchain and build
  build-essential cmake ninja-build pkg-config git
  # libraries hexz links against (BLAKE3 C sources come from librust-blake3-dev)
  liblz4-dev libzstd-dev libxxhash-dev libssl-dev librust-blake3-dev libcli11-dev libargon2-dev
  # pack inputs over NBD (qcow2, VMDK, ... served by qemu-nbd; nbd:// URIs)
  libnbd-dev
  # Python package (pybind11 from Debian; PyPI is not used)
  python3-dev python3-pybind11 pybind11-dev python3-setuptools python3-wheel python3-pip
  python3-venv python3-pytest python3-numpy
  # tests, benchmarks, formatting
  libgtest-dev libgmock-dev libbenchmark-dev clang-format
  # fuzz targets (libFuzzer and the sanitizer runtimes come with clang's runtime package)
  clang libclang-rt-14-dev
  # sample generation (mke2fs -d, debugfs) and helper scripts
  e2fsprogs python3 coreutils
  # hexz mount (FUSE 3), the nbdkit plugin, and their integration tests (NBD clients, QEMU
  # booting a Debian kernel from a busybox root file system, squashfuse for comparisons)
  libfuse3-dev fuse3 nbdkit nbdkit-plugin-dev libnbd-bin qemu-utils qemu-system-x86
  linux-image-amd64 busybox-static kmod squashfs-tools squashfuse util-linux
  # bench/boot_bench.sh: QEMU's curl block driver (a qcow2 disk read over http)
  qemu-block-extra
  # remote snapshots (libcurl) and their tests: nginx (HTTP ranges; https with a certificate
  # made by openssl), Ceph radosgw (S3)
  libcurl4-openssl-dev curl openssl nginx ceph-mon ceph-osd radosgw ceph-common
)
packages+=("$@")

is_installed() {
  local status
  status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)"
  [[ "${status}" == "installed" ]]
}

missing=()
for p in "${packages[@]}"; do
  if ! is_installed "$p"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo -n)
  else
    echo "install-deps: not root and sudo is not available; install these by hand:" >&2
    echo "  ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)

"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q \
  --no-install-recommends "${missing[@]}" </dev/null

# apt-get succeeded; a name still not "installed" is a virtual package that apt
# resolved to a real one (e.g. awk -> mawk). Say so, but it is not an error.
still=()
for p in "${missing[@]}"; do
  if ! is_installed "$p"; then
    still+=("$p")
  fi
done
if ((${#still[@]} > 0)); then
  echo "install-deps: note: provided by other packages (virtual names): ${still[*]}"
fi
echo "install-deps: installed ${missing[*]}"
