#!/usr/bin/env bash
# Reading snapshots over https:// from a local nginx with a self-signed certificate made at test
# time; the client trusts it through HEXZ_CA_FILE, and refuses it without.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for p in nginx openssl; do
  command -v "$p" >/dev/null || { echo "$p not installed (scripts/install-deps.sh)"; exit 77; }
done
source "$here/lib.sh"
source "$here/make_images.sh"
: "${REMOTE_PROBE:?}"
export HEXZ_REMOTE_RETRIES=4
unset HEXZ_BASE_PATH HEXZ_CACHE_DIR HEXZ_CA_FILE

make_images "$WORK"
start_nginx "$WORK/www" tls
URL="$NGINX_URL"
[[ "$URL" == https://127.0.0.1:* ]] || fail "not an https URL: $URL"
cd "$WORK" && mkdir -p elsewhere && cd elsewhere

# Trusted through HEXZ_CA_FILE: round trip, byte-compared.
export HEXZ_CA_FILE="$NGINX_CERT"
"$HEXZ" info "$URL/base.hxz" | grep -q "snapshot: *$URL/base.hxz" || fail "info"
"$HEXZ" cat "$URL/base.hxz" >cat.out && cmp cat.out "$WORK/disk.img" || fail "cat"
"$HEXZ" cat --offset 3333333 --length 77777 "$URL/base.hxz" >part.out
cmp part.out <(tail -c +3333334 "$WORK/disk.img" | head -c 77777) || fail "cat range"
"$HEXZ" verify -q "$URL/base.hxz" || fail "verify"
"$HEXZ" extract -q "$URL/thin.hxz" --disk thin.img && cmp thin.img "$WORK/disk2.img" || fail "thin extract"
"$REMOTE_PROBE" random "$URL/base.hxz" "$WORK/disk.img" 20 || fail "random reads"
pass "round trip over https (info, cat, verify, thin extract, random reads)"

# Not trusted: one clear error line, exit 1, at once (certificate failures are not retried).
expect_error() {  # NAME PATTERN COMMAND...: exit 1, one line on stderr matching PATTERN
  local name="$1" pattern="$2" rc
  shift 2
  set +e; "$@" >/dev/null 2>err.txt; rc=$?; set -e
  [[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "$name: exit $rc, $(cat err.txt)"
  grep -q -- "$pattern" err.txt || fail "$name: $(cat err.txt)"
  pass "$name: $(cat err.txt)"
}
t0="$(date +%s%N)"
expect_error "untrusted certificate" "TLS certificate was rejected (.*); if it is signed by a private CA, set HEXZ_CA_FILE" \
  env -u HEXZ_CA_FILE "$HEXZ" info "$URL/base.hxz"
ms=$((($(date +%s%N) - t0) / 1000000))
[[ "$ms" -lt 1500 ]] || fail "an untrusted certificate took $ms ms to refuse (retried?)"
make_cert "$WORK/other-ca"
expect_error "certificate of another CA" "TLS certificate was rejected" \
  env HEXZ_CA_FILE="$WORK/other-ca/cert.pem" "$HEXZ" cat "$URL/base.hxz"
expect_error "missing CA file" "HEXZ_CA_FILE '$WORK/nope.pem' cannot be read: No such file" \
  env HEXZ_CA_FILE="$WORK/nope.pem" "$HEXZ" verify "$URL/base.hxz"
# The host name must match too: the certificate names 127.0.0.1, not localhost.
expect_error "wrong host name" "TLS certificate was rejected" \
  "$HEXZ" info "${URL/127.0.0.1/localhost}/base.hxz"
echo "all https tests passed"
