#!/usr/bin/env bash
# serve.sh [--tls] PATH...: serves copies of the files and directories PATH with nginx on
# 127.0.0.1 (a free port), for test harnesses in other languages (tests/python/test_remote.py).
# Prints one line
# "URL NGINX_PID" once the server answers, then runs until its standard input is closed, and
# stops nginx (by PID) and removes its temporary directory on the way out.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export HEXZ="${HEXZ:-unused}"  # lib.sh wants it; serving needs no hexz
source "$here/lib.sh"
tls=""
if [[ "${1:-}" == --tls ]]; then
  tls=tls
  shift
fi
mkdir -p "$WORK/www"
for f in "$@"; do cp -r "$f" "$WORK/www/"; done
chmod -R a+rX "$WORK/www"
start_nginx "$WORK/www" $tls >&2
echo "$NGINX_URL $NGINX_PID"
cat >/dev/null  # until stdin closes; the EXIT trap of lib.sh stops nginx
