#!/usr/bin/env bash
# Reading snapshots over HTTP range requests from a local nginx.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v nginx >/dev/null || { echo "nginx not installed (scripts/install-deps.sh)"; exit 77; }
source "$here/lib.sh"
source "$here/make_images.sh"
: "${REMOTE_PROBE:?}"
export HEXZ_REMOTE_RETRIES=4
unset HEXZ_BASE_PATH HEXZ_CACHE_DIR

make_images "$WORK"
start_nginx "$WORK/www"
URL="$NGINX_URL"
cd "$WORK"  # nothing is found next to the current directory by accident
mkdir -p elsewhere && cd elsewhere

# Round trip: info, cat, extract, verify from the URL, byte-compared.
"$HEXZ" info "$URL/base.hxz" | grep -q "snapshot: *$URL/base.hxz" || fail "info"
"$HEXZ" cat "$URL/base.hxz" >cat.out && cmp cat.out "$WORK/disk.img" || fail "cat"
"$HEXZ" cat --offset 7777777 --length 123457 "$URL/base.hxz" >part.out
cmp part.out <(tail -c +7777778 "$WORK/disk.img" | head -c 123457) || fail "cat range"
"$HEXZ" extract -q "$URL/base.hxz" --disk ex.img && cmp ex.img "$WORK/disk.img" || fail "extract"
"$HEXZ" verify -q "$URL/base.hxz" || fail "verify"
pass "round trip over http"

# Opening costs two requests (header, tail).
: >"$NGINX_LOG"
"$REMOTE_PROBE" open "$URL/base.hxz" 1 >/dev/null
n="$(wc -l <"$NGINX_LOG")"
[[ "$n" -le 2 ]] || fail "open made $n requests"
pass "open = $n requests"

# Random reads, each on a cold open, byte-compared.
"$REMOTE_PROBE" random "$URL/base.hxz" "$WORK/disk.img" 40 || fail "random reads"
pass "random reads"

# A thin snapshot finds its base next to it (the URL prefix).
"$HEXZ" info "$URL/thin.hxz" | grep -q "$URL/base.hxz" || fail "thin: base not found at the URL"
"$HEXZ" extract -q "$URL/thin.hxz" --disk thin.img && cmp thin.img "$WORK/disk2.img" || fail "thin extract"
pass "thin snapshot with its base on the server"

# An encrypted thin chain on the server (format 1.2): the thin file's own password reads it,
# its base found at the URL prefix and opened with the key the thin file holds.
printf 'base-pw\n' >"$WORK/pw-base" && printf 'thin-pw\n' >"$WORK/pw-thin"
"$HEXZ" pack -q --disk "$WORK/disk.img" -o "$WORK/www/ebase.hxz" --encrypt \
  --password-file "$WORK/pw-base" --kdf-memory 8M --kdf-iterations 1
"$HEXZ" pack -q --disk "$WORK/disk2.img" --base "$URL/ebase.hxz" -o "$WORK/www/ethin.hxz" \
  --encrypt --password-file "$WORK/pw-thin" --base-password-file "$WORK/pw-base" \
  --kdf-memory 8M --kdf-iterations 1 || fail "encrypted thin pack against a base on http"
[[ "$(stat -c %s "$WORK/www/ethin.hxz")" -lt "$(($(stat -c %s "$WORK/www/ebase.hxz") / 4))" ]] ||
  fail "encrypted thin: not thin"
"$HEXZ" cat --password-file "$WORK/pw-thin" "$URL/ethin.hxz" | cmp - "$WORK/disk2.img" ||
  fail "encrypted thin cat over http"
"$HEXZ" verify -q --password-file "$WORK/pw-thin" "$URL/ethin.hxz" || fail "encrypted thin verify over http"
if "$HEXZ" cat --password-file "$WORK/pw-base" "$URL/ethin.hxz" >/dev/null 2>err.txt; then
  fail "the base's password opened the thin snapshot"
fi
grep -q "wrong password" err.txt || fail "encrypted thin, base password: $(cat err.txt)"
pass "encrypted thin chain over http"

# A signed snapshot on the server: the trailer after file_size is read like any other range.
cp "$WORK/www/base.hxz" "$WORK/www/signed.hxz"
"$HEXZ" keygen -o "$WORK/key" >/dev/null && "$HEXZ" keygen -o "$WORK/other" >/dev/null
"$HEXZ" sign -q "$WORK/www/signed.hxz" --key "$WORK/key" || fail "sign"
"$HEXZ" verify -q "$URL/signed.hxz" --key "$WORK/key.pub" || fail "verify --key over http"
"$HEXZ" cat --key "$WORK/key.pub" --length 65536 "$URL/signed.hxz" >signed.out
cmp signed.out <(head -c 65536 "$WORK/disk.img") || fail "cat --key over http"
if "$HEXZ" verify -q "$URL/signed.hxz" --key "$WORK/other.pub" 2>err.txt; then fail "other key accepted"; fi
grep -q "not signed by a trusted key" err.txt || fail "other key message: $(cat err.txt)"
if "$HEXZ" verify -q "$URL/base.hxz" --key "$WORK/key.pub" 2>err.txt; then fail "unsigned accepted"; fi
grep -q "is not signed" err.txt || fail "unsigned message: $(cat err.txt)"
pass "signed snapshot over http"

# Clear errors: 404 and 403.
if "$HEXZ" info "$URL/missing.hxz" 2>err.txt; then fail "404 accepted"; fi
grep -q "not found" err.txt || fail "404 message: $(cat err.txt)"
if "$HEXZ" info "$URL/private/base.hxz" 2>err.txt; then fail "403 accepted"; fi
grep -q "denied" err.txt || fail "403 message: $(cat err.txt)"
pass "404 and 403 are clear errors"

# A transient failure (503 from nginx's rate limit) that retries recover.
: >"$NGINX_LOG"
HEXZ_REMOTE_RETRIES=8 "$HEXZ" cat "$URL/limited/base.hxz" --length 4096 >lim.out
cmp lim.out <(head -c 4096 "$WORK/disk.img") || fail "limited read"
grep -q '" 503 ' "$NGINX_LOG" || fail "expected 503 answers in the log"
pass "503 retried: $(grep -c '" 503 ' "$NGINX_LOG") transient failures recovered"

# On-disk cache shared by processes: a second extract reads the blocks from the cache.
export HEXZ_CACHE_DIR="$WORK/cache"
"$HEXZ" extract -q "$URL/base.hxz" --disk c1.img && cmp c1.img "$WORK/disk.img" || fail "cache fill"
: >"$NGINX_LOG"
"$HEXZ" extract -q "$URL/base.hxz" --disk c2.img && cmp c2.img "$WORK/disk.img" || fail "cache use"
n="$(wc -l <"$NGINX_LOG")"
[[ "$n" -le 2 ]] || fail "a warm disk cache still made $n requests"
unset HEXZ_CACHE_DIR
pass "disk cache (second extract: $n requests)"

# The same through --cache-dir, on every reading command.
"$HEXZ" extract -q --cache-dir "$WORK/cache2" "$URL/base.hxz" --disk d1.img || fail "--cache-dir fill"
: >"$NGINX_LOG"
"$HEXZ" cat --cache-dir "$WORK/cache2" "$URL/base.hxz" >d2.out && cmp d2.out "$WORK/disk.img" || fail "--cache-dir cat"
"$HEXZ" verify -q --cache-dir "$WORK/cache2" "$URL/base.hxz" || fail "--cache-dir verify"
"$HEXZ" info --cache-dir "$WORK/cache2" "$URL/base.hxz" >/dev/null || fail "--cache-dir info"
"$HEXZ" diff --cache-dir "$WORK/cache2" "$URL/base.hxz" "$URL/base.hxz" >/dev/null || fail "--cache-dir diff"
"$HEXZ" flatten -q --cache-dir "$WORK/cache2" "$URL/base.hxz" -o flat.hxz || fail "--cache-dir flatten"
"$HEXZ" cat flat.hxz | cmp - "$WORK/disk.img" || fail "--cache-dir flatten content"
# Opens still fetch the header (64 KiB) and the small tail; no data range may be fetched again.
n="$(awk '$10 > 65536' "$NGINX_LOG" | wc -l)"
[[ "$n" == 0 ]] || fail "--cache-dir: a warm cache still fetched $n data ranges"
pass "--cache-dir on cat, verify, info, diff, flatten (warm: $(wc -l <"$NGINX_LOG") small requests)"

# The cache directory keeps to its byte budget (--cache-dir-size, HEXZ_CACHE_DIR_BYTES). A process
# may exceed it by what it wrote since its last scan (at most one 1 MiB piece at these budgets).
cache_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
"$HEXZ" extract -q --cache-dir "$WORK/cache3" --cache-dir-size 3M "$URL/base.hxz" --disk b1.img
cmp b1.img "$WORK/disk.img" || fail "--cache-dir-size extract"
used="$(cache_bytes "$WORK/cache3")"
[[ "$used" -gt 0 && "$used" -le $((4 << 20)) ]] || fail "--cache-dir-size 3M: the cache holds $used bytes"
HEXZ_CACHE_DIR_BYTES=0 "$HEXZ" extract -q -f --cache-dir "$WORK/cache4" "$URL/base.hxz" --disk b2.img
full="$(cache_bytes "$WORK/cache4")"
[[ "$full" -ge $(($(stat -c %s "$WORK/www/base.hxz") - (1 << 20))) ]] || fail "HEXZ_CACHE_DIR_BYTES=0 kept only $full bytes"
HEXZ_CACHE_DIR_BYTES=2M "$HEXZ" info --cache-dir "$WORK/cache4" "$URL/base.hxz" >/dev/null
used="$(cache_bytes "$WORK/cache4")"
[[ "$used" -le $((3 << 20)) ]] || fail "HEXZ_CACHE_DIR_BYTES=2M: the cache holds $used bytes"
set +e; HEXZ_CACHE_DIR_BYTES=lots "$HEXZ" cat --cache-dir "$WORK/cache3" "$URL/base.hxz" >/dev/null 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "bad HEXZ_CACHE_DIR_BYTES: exit $rc, $(cat err.txt)"
grep -q "HEXZ_CACHE_DIR_BYTES='lots' is not a size" err.txt || fail "bad HEXZ_CACHE_DIR_BYTES: $(cat err.txt)"
set +e; "$HEXZ" cat --cache-dir "$WORK/cache3" --cache-dir-size lots "$URL/base.hxz" >/dev/null 2>err.txt; rc=$?; set -e
[[ "$rc" == 2 ]] || fail "bad --cache-dir-size: exit $rc, $(cat err.txt)"
grep -q "invalid size 'lots'" err.txt || fail "bad --cache-dir-size: $(cat err.txt)"
pass "cache budget kept (--cache-dir-size 3M; HEXZ_CACHE_DIR_BYTES=0 kept $full bytes, =2M trimmed them to $used); bad sizes refused"

# A cache directory that cannot be created: one clear error line, exit 1.
echo x >afile
set +e; "$HEXZ" cat --cache-dir afile/cache "$URL/base.hxz" >/dev/null 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "bad --cache-dir: exit $rc, $(cat err.txt)"
grep -q "cannot create cache directory 'afile/cache'" err.txt || fail "bad --cache-dir: $(cat err.txt)"
pass "bad --cache-dir: $(cat err.txt)"

# Guest memory served page by page from snapshots on the server: plain, encrypted, thin.
"$HEXZ" pack -q --memory "$WORK/disk.img" -o "$WORK/www/mem.hxz"
printf 'memory-pw' >"$WORK/pw"
"$HEXZ" pack -q --memory "$WORK/disk.img" -o "$WORK/www/mem-enc.hxz" --encrypt \
  --password-file "$WORK/pw" --kdf-memory 8M --kdf-iterations 1
serve_memory_check "serve-memory over http" "$URL/mem.hxz" "$WORK/disk.img"
serve_memory_check "serve-memory over http, encrypted" "$URL/mem-enc.hxz" "$WORK/disk.img" \
  --password-file "$WORK/pw"
serve_memory_check "serve-memory over http, thin on its base" "$URL/thin.hxz" "$WORK/disk2.img" \
  --stream disk --fill chunk

# The object changes while being read: an error, never wrong bytes.
cp "$WORK/www/base.hxz" "$WORK/www/changing.hxz"
touch -d '2001-01-01' "$WORK/www/changing.hxz"
"$REMOTE_PROBE" interrupt "$URL/changing.hxz" "$WORK/disk.img" \
  "cp '$WORK/www/other.hxz' '$WORK/www/changing.tmp' && mv '$WORK/www/changing.tmp' '$WORK/www/changing.hxz'" \
  >probe.txt || fail "changed object: $(cat probe.txt)"
grep -q "changed while being read" probe.txt || fail "changed object message: $(cat probe.txt)"
pass "changed object detected"

# The server stops in the middle of a read: a clear error, no wrong data.
HEXZ_REMOTE_RETRIES=3 "$REMOTE_PROBE" interrupt "$URL/base.hxz" "$WORK/disk.img" \
  "kill $NGINX_PID; sleep 0.3" >probe.txt || fail "server stopped: $(cat probe.txt)"
grep -q "gave up after 3 attempts" probe.txt || fail "server stopped message: $(cat probe.txt)"
pass "server stopped mid-read: $(cat probe.txt)"
# The backend breaks down after the open: verify reports the problems as unreadable, exit 4.
python3 "$(dirname "${BASH_SOURCE[0]}")/failing_server.py" "$WORK/www/base.hxz" 2 "$WORK/fail.port" &
FAIL_PID=$!
PIDS+=("$FAIL_PID")
for _ in $(seq 100); do [[ -s "$WORK/fail.port" ]] && break; sleep 0.05; done
rc=0
HEXZ_REMOTE_RETRIES=1 "$HEXZ" verify "http://127.0.0.1:$(cat "$WORK/fail.port")/base.hxz" \
  >/dev/null 2>err.txt || rc=$?
[[ "$rc" == 4 ]] || fail "verify of a failing backend: exit $rc (want 4), $(head -3 err.txt)"
grep -q "^hexz: error: unreadable: " err.txt || fail "verify unreadable message: $(head -3 err.txt)"
pass "verify of a backend that fails after the open: exit 4, $(head -1 err.txt)"
echo "all http tests passed"
