#!/usr/bin/env bash
# Builds the hexz Python package, installs it into a virtual environment and runs its tests.
#
# Usage: bash python/build-and-test.sh [pytest args...]
# Offline: the venv sees Debian's pybind11/setuptools/pytest/numpy (--system-site-packages)
# and pip builds with them (--no-build-isolation). Needs the Debian packages listed in
# docs/python.md. Environment:
#   HEXZ_PYTHON   interpreter (default /usr/bin/python3)
#   HEXZ_VENV     virtual environment directory (default build-python/venv)
#   HEXZ_CLI      hexz binary the tests compare against (default: newest build*/tools/hexz/hexz)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python="${HEXZ_PYTHON:-/usr/bin/python3}"
venv="${HEXZ_VENV:-build-python/venv}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "==> creating $venv (from $python, with system site packages)"
  "$python" -m venv --system-site-packages "$venv"
fi

echo "==> pip install --no-build-isolation ."
"$venv/bin/python" -m pip install --no-build-isolation --no-index --disable-pip-version-check \
  --force-reinstall --no-deps .

echo "==> pytest tests/python"
exec "$venv/bin/python" -m pytest "$repo/tests/python" -q -p no:cacheprovider "$@"
