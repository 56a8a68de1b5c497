#!/usr/bin/env bash
# Installs hexz's dev component from BUILD_DIR into a temporary prefix, then builds a tiny
# consumer against it twice (CMake package hexz::hexz, and pkg-config hexz.pc) and runs both.
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail
build_dir="$1"
consumer_src="$2"
work="$(mktemp -d "${TMPDIR:-/tmp}/hexz-install.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
# On a failure, show the logs of the step that failed before they go.
trap 'status=$?; for log in "${work}"/*.log; do [[ -f "$log" ]] && { echo "== $log"; tail -n 40 "$log"; }; done; exit $status' ERR

cmake --install "${build_dir}" --prefix "${work}/prefix" --component dev >"${work}/install.log"
for f in include/hexz/hexz.hpp lib/libhexz.a lib/cmake/hexz/hexzConfig.cmake lib/pkgconfig/hexz.pc; do
  [[ -f "${work}/prefix/${f}" ]] || { echo "not installed: ${f}"; exit 1; }
done
# Nothing but the dev component: no binaries, no plugin.
[[ ! -e "${work}/prefix/bin" ]] || { echo "the dev component installed bin/"; exit 1; }

mkdir "${work}/run"
cmake -S "${consumer_src}" -B "${work}/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="${work}/prefix" >"${work}/configure.log"
cmake --build "${work}/cmake-build" >"${work}/build.log"
"${work}/cmake-build/consumer" "${work}/run"

export PKG_CONFIG_PATH="${work}/prefix/lib/pkgconfig"
pkg-config --exists hexz
# shellcheck disable=SC2046
c++ -std=c++20 -o "${work}/consumer-pc" "${consumer_src}/main.cpp" $(pkg-config --cflags --libs hexz)
"${work}/consumer-pc" "${work}/run"
echo "install test: ok"
