#!/usr/bin/env bash
# Pushing snapshots to, and reading them from, S3 on a throwaway local Ceph radosgw.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for p in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  command -v "$p" >/dev/null || { echo "$p not installed (scripts/install-deps.sh)"; exit 77; }
done
source "$here/lib.sh"
source "$here/make_images.sh"
: "${REMOTE_PROBE:?}"
export HEXZ_REMOTE_RETRIES=4
unset HEXZ_BASE_PATH HEXZ_CACHE_DIR

make_images "$WORK"
t0="$(date +%s.%N)"
start_radosgw
echo "radosgw up in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s at $S3_ENDPOINT"
s3_curl PUT bkt >/dev/null || fail "create bucket"
cd "$WORK" && mkdir -p elsewhere && cd elsewhere

# push: multipart (5 MiB parts, in parallel), checked after landing.
"$HEXZ" push "$WORK/www/base.hxz" s3://bkt/images/base.hxz --part-size 5M -j 4 >push.txt
grep -q "in [2-9] parts" push.txt || fail "push: $(cat push.txt)"
"$HEXZ" push -q "$WORK/www/thin.hxz" s3://bkt/images/thin.hxz
# --endpoint instead of AWS_ENDPOINT_URL
env -u AWS_ENDPOINT_URL "$HEXZ" push -q --endpoint "$S3_ENDPOINT" "$WORK/www/other.hxz" s3://bkt/images/other.hxz
s3_curl GET bkt/images/base.hxz -o got.hxz && cmp got.hxz "$WORK/www/base.hxz" || fail "pushed bytes differ"
pass "push ($(cat push.txt))"

# A signed snapshot pushed to S3: its trailer after file_size is pushed and read like any range.
cp "$WORK/www/base.hxz" signed.hxz
"$HEXZ" keygen -o "$WORK/s3key" >/dev/null && "$HEXZ" keygen -o "$WORK/s3other" >/dev/null
"$HEXZ" sign -q signed.hxz --key "$WORK/s3key" || fail "sign"
"$HEXZ" push -q signed.hxz s3://bkt/images/signed.hxz || fail "push signed"
"$HEXZ" verify -q s3://bkt/images/signed.hxz --key "$WORK/s3key.pub" || fail "verify --key over s3"
"$HEXZ" cat --key "$WORK/s3key.pub" s3://bkt/images/signed.hxz | cmp - "$WORK/disk.img" || fail "cat --key over s3"
if "$HEXZ" verify -q s3://bkt/images/signed.hxz --key "$WORK/s3other.pub" 2>err.txt; then fail "other key accepted over s3"; fi
grep -q "not signed by a trusted key" err.txt || fail "other key over s3: $(cat err.txt)"
if "$HEXZ" cat --key "$WORK/s3key.pub" s3://bkt/images/base.hxz >/dev/null 2>err.txt; then fail "unsigned accepted over s3"; fi
grep -q "is not signed" err.txt || fail "unsigned over s3: $(cat err.txt)"
pass "signed snapshot over s3"

# pack -o s3://: packed into a temporary file in $TMPDIR, pushed, the temporary file removed.
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
tmp_empty() { [[ -z "$(ls -A "$TMPDIR")" ]] || fail "$1: left behind in TMPDIR: $(ls -A "$TMPDIR")"; }
"$HEXZ" pack --disk "$WORK/disk.img" -o s3://bkt/packed/base.hxz 2>pack.txt || fail "pack -o s3://: $(cat pack.txt)"
grep -q "uploaded .* to s3://bkt/packed/base.hxz, identity .* checked" pack.txt || fail "pack -o s3:// report: $(cat pack.txt)"
tmp_empty "pack -o s3://"
"$HEXZ" cat s3://bkt/packed/base.hxz | cmp - "$WORK/disk.img" || fail "pack -o s3:// content"
# the same bytes as a local pack (deterministic output)
s3_curl GET bkt/packed/base.hxz -o packed.hxz && cmp packed.hxz "$WORK/www/base.hxz" || fail "pack -o s3:// bytes"
pass "pack -o s3:// ($(tail -n 1 pack.txt))"

# An existing object is not replaced without --force, and nothing is packed then.
set +e; "$HEXZ" pack -q --disk "$WORK/disk2.img" -o s3://bkt/packed/base.hxz 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "existing object: exit $rc, $(cat err.txt)"
grep -q "already exists (use --force" err.txt || fail "existing object: $(cat err.txt)"
tmp_empty "refused pack"
"$HEXZ" pack -q -f --disk "$WORK/disk2.img" -o s3://bkt/packed/base.hxz || fail "pack -o s3:// --force"
"$HEXZ" cat s3://bkt/packed/base.hxz | cmp - "$WORK/disk2.img" || fail "pack -o s3:// --force content"
pass "pack -o s3:// refuses to replace an object unless --force"

# --endpoint (and no AWS_ENDPOINT_URL) for the output; --endpoint with a local output is a usage error.
env -u AWS_ENDPOINT_URL "$HEXZ" pack -q --endpoint "$S3_ENDPOINT" --disk "$WORK/disk.img" -o s3://bkt/packed/ep.hxz
"$HEXZ" cat s3://bkt/packed/ep.hxz | cmp - "$WORK/disk.img" || fail "pack --endpoint content"
set +e; "$HEXZ" pack -q --endpoint "$S3_ENDPOINT" --disk "$WORK/disk.img" -o local.hxz 2>err.txt; rc=$?; set -e
[[ "$rc" == 2 && ! -e local.hxz ]] || fail "--endpoint with a local output: exit $rc, $(cat err.txt)"
grep -q "needs an s3:// output or --base" err.txt || fail "--endpoint with a local output: $(cat err.txt)"
pass "pack --endpoint"

# Failures: one clear line, exit 1, no temporary file, no object and no pending multipart upload.
set +e; "$HEXZ" pack -q --disk "$WORK/disk.img" -o s3://nobucket/x.hxz 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "missing bucket: exit $rc, $(cat err.txt)"
grep -q "NoSuchBucket" err.txt || fail "missing bucket: $(cat err.txt)"
tmp_empty "pack to a missing bucket"
set +e; AWS_SECRET_ACCESS_KEY=wrong "$HEXZ" pack -q --disk "$WORK/disk.img" -o s3://bkt/packed/x.hxz 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "wrong secret: exit $rc, $(cat err.txt)"
grep -q "denied (HTTP 403" err.txt || fail "pack wrong secret: $(cat err.txt)"
tmp_empty "pack with a wrong secret"
# A bucket quota of 1 MiB makes the part upload fail after the multipart upload started.
s3_curl PUT qbkt >/dev/null || fail "create bucket qbkt"
radosgw-admin -c "$CEPH_CONF_DIR/ceph.conf" quota set --quota-scope=bucket --bucket=qbkt --max-size=1048576 >/dev/null 2>&1
radosgw-admin -c "$CEPH_CONF_DIR/ceph.conf" quota enable --quota-scope=bucket --bucket=qbkt >/dev/null 2>&1
set +e; "$HEXZ" pack -q --disk "$WORK/disk.img" -o s3://qbkt/big.hxz 2>err.txt; rc=$?; set -e
[[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "quota: exit $rc, $(cat err.txt)"
grep -q "QuotaExceeded" err.txt || fail "quota: $(cat err.txt)"
tmp_empty "pack over quota"
code="$(s3_curl HEAD qbkt/big.hxz -I -o /dev/null -w '%{http_code}' 2>/dev/null || true)"
[[ "$code" == 404 ]] || fail "quota: HEAD of the key gave HTTP $code, expected 404 (no object)"
s3_curl GET "qbkt?uploads=" >uploads.xml || fail "listing multipart uploads"
grep -q "<ListMultipartUploadsResult" uploads.xml || fail "listing multipart uploads: $(cat uploads.xml)"
! grep -q "<Upload>" uploads.xml || fail "quota: a multipart upload was left pending: $(cat uploads.xml)"
pass "failed pack -o s3:// leaves nothing behind ($(cat err.txt))"
pack_error() {  # NAME PATTERN [env assignments...]: pack -o fails with one line, exit 1, TMPDIR empty
  local name="$1" pattern="$2" rc
  shift 2
  set +e; env "$@" "$HEXZ" pack -q --disk "$WORK/disk.img" -o "${OUT:-s3://bkt/packed/e.hxz}" 2>err.txt; rc=$?; set -e
  [[ "$rc" == 1 && "$(wc -l <err.txt)" == 1 ]] || fail "$name: exit $rc, $(cat err.txt)"
  grep -q -- "$pattern" err.txt || fail "$name: $(cat err.txt)"
  tmp_empty "$name"
  pass "$name: $(cat err.txt)"
}
OUT=s3://bkt pack_error "pack -o s3:// without a key" "not an S3 location of the form s3://bucket/key"
pack_error "pack -o s3:// without credentials" "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" -u AWS_ACCESS_KEY_ID
pack_error "pack -o s3:// with no usable TMPDIR" "cannot create a temporary directory in '$WORK/none' (set TMPDIR)" TMPDIR="$WORK/none"
unset TMPDIR

S=s3://bkt/images
"$HEXZ" info "$S/base.hxz" | grep -q "snapshot: *$S/base.hxz" || fail "info"
"$HEXZ" cat "$S/base.hxz" >cat.out && cmp cat.out "$WORK/disk.img" || fail "cat"
"$HEXZ" cat --offset 5555555 --length 99999 "$S/base.hxz" >part.out
cmp part.out <(tail -c +5555556 "$WORK/disk.img" | head -c 99999) || fail "cat range"
"$HEXZ" extract -q "$S/base.hxz" --disk ex.img && cmp ex.img "$WORK/disk.img" || fail "extract"
"$HEXZ" verify -q "$S/base.hxz" || fail "verify"
"$HEXZ" extract -q "$S/other.hxz" --disk ex2.img && cmp ex2.img "$WORK/disk.img" || fail "extract zstd"
pass "round trip over s3"

# --endpoint instead of AWS_ENDPOINT_URL on the reading commands.
(
  unset AWS_ENDPOINT_URL
  E=(--endpoint "$S3_ENDPOINT")
  "$HEXZ" info "${E[@]}" "$S/base.hxz" | grep -q "snapshot: *$S/base.hxz" || fail "--endpoint info"
  "$HEXZ" cat "${E[@]}" "$S/base.hxz" | cmp - "$WORK/disk.img" || fail "--endpoint cat"
  "$HEXZ" verify -q "${E[@]}" "$S/base.hxz" || fail "--endpoint verify"
  "$HEXZ" extract -q "${E[@]}" --cache-dir "$WORK/s3cache" "$S/thin.hxz" --disk e.img
  cmp e.img "$WORK/disk2.img" || fail "--endpoint extract thin"
  "$HEXZ" diff "${E[@]}" "$S/base.hxz" "$S/other.hxz" >/dev/null || fail "--endpoint diff"
  "$HEXZ" flatten -q "${E[@]}" "$S/thin.hxz" -o flat.hxz || fail "--endpoint flatten"
  "$HEXZ" cat flat.hxz | cmp - "$WORK/disk2.img" || fail "--endpoint flatten content"
)
pass "--endpoint on info, cat, verify, extract, diff, flatten"

"$REMOTE_PROBE" random "$S/base.hxz" "$WORK/disk.img" 40 || fail "random reads"
pass "random reads"

"$HEXZ" info "$S/thin.hxz" | grep -q "$S/base.hxz" || fail "thin: base not found in the bucket"
"$HEXZ" extract -q "$S/thin.hxz" --disk thin.img && cmp thin.img "$WORK/disk2.img" || fail "thin extract"
pass "thin snapshot with its base in the bucket"

# Guest memory served page by page from the bucket.
"$HEXZ" pack -q --memory "$WORK/disk.img" --compression lz4 -o "$S/mem.hxz" || fail "pack memory"
serve_memory_check "serve-memory over s3" "$S/mem.hxz" "$WORK/disk.img"
serve_memory_check "serve-memory over s3, thin on its base" "$S/thin.hxz" "$WORK/disk2.img" \
  --stream disk --hydrate

# A thin pack against a base in the bucket, written next to it: only the base's index is read.
"$HEXZ" pack -q --disk "$WORK/disk2.img" --base "$S/base.hxz" -o "$S/thin-remote.hxz" \
  || fail "pack --base s3://"
"$HEXZ" info "$S/thin-remote.hxz" | grep -q "$S/base.hxz" || fail "pack --base s3://: base"
"$HEXZ" cat "$S/thin-remote.hxz" | cmp - "$WORK/disk2.img" || fail "pack --base s3:// content"
s3_curl GET bkt/images/thin-remote.hxz -o thin-remote.hxz
cmp thin-remote.hxz "$WORK/www/thin.hxz" || fail "pack --base s3:// differs from a local thin pack"
(
  unset AWS_ENDPOINT_URL
  "$HEXZ" pack -q -f --endpoint "$S3_ENDPOINT" --disk "$WORK/disk2.img" --base "$S/base.hxz" \
    -o thin-local.hxz || fail "pack --endpoint --base s3://"
  cmp thin-local.hxz "$WORK/www/thin.hxz" || fail "pack --endpoint --base s3:// bytes"
)
pass "thin pack against a base in the bucket"

if AWS_SECRET_ACCESS_KEY=wrong "$HEXZ" info "$S/base.hxz" 2>err.txt; then fail "wrong secret accepted"; fi
grep -q "denied (HTTP 403" err.txt || fail "403 message: $(cat err.txt)"
if "$HEXZ" info "$S/missing.hxz" 2>err.txt; then fail "missing key accepted"; fi
grep -q "not found (HTTP 404" err.txt || fail "404 message: $(cat err.txt)"
if "$HEXZ" push -q "$WORK/www/base.hxz" s3://nobucket/x.hxz 2>err.txt; then fail "push to a missing bucket"; fi
pass "403 and 404 are clear errors ($(head -c 120 err.txt))"

# Kept-alive connections must not stall: radosgw writes a response's headers and body in two
# segments without TCP_NODELAY, so without the client's TCP_QUICKACK after the headers every
# request on a reused connection waits ~40 ms for a delayed ACK. An open is two requests, the
# second on the reused connection: its median must stay well below 40 ms.
HEXZ_REMOTE_KEEPALIVE=1 "$REMOTE_PROBE" open "$S/base.hxz" 15 >open.txt
p50="$(sed -n 's/^open: p50 \([0-9.]*\) ms.*/\1/p' open.txt)"
python3 -c "import sys; sys.exit(0 if float('$p50') < 30 else 1)" \
  || fail "opens on a kept-alive connection stall (delayed ACK?): $(cat open.txt)"
pass "no delayed-ACK stall on kept-alive connections ($(cat open.txt))"

# Measurements (printed; docs/benchmarks.md has figures from tests/remote/bench_s3.sh). Both
# connection modes are shown.
for ka in 1 0; do
  echo "HEXZ_REMOTE_KEEPALIVE=$ka:"
  HEXZ_REMOTE_KEEPALIVE=$ka "$REMOTE_PROBE" open "$S/base.hxz" 20
  HEXZ_REMOTE_KEEPALIVE=$ka "$REMOTE_PROBE" random "$S/base.hxz" "$WORK/disk.img" 100
  size="$(stat -c %s "$WORK/www/base.hxz")"
  t="$(date +%s.%N)"; HEXZ_REMOTE_KEEPALIVE=$ka "$HEXZ" extract -q -f "$S/base.hxz" --disk ex.img; t1="$(date +%s.%N)"
  s3_curl GET bkt/images/base.hxz -o curl.out; t2="$(date +%s.%N)"
  python3 -c "
s=$size; a=$t1-$t; b=$t2-$t1
print('extract %.1f MB/s of snapshot (%.1f MB/s logical), curl GET %.1f MB/s' % (s/a/1e6, $(stat -c %s "$WORK/disk.img")/a/1e6, s/b/1e6))"
done

# The server stops in the middle of a read: a clear error, no wrong data.
HEXZ_REMOTE_RETRIES=3 "$REMOTE_PROBE" interrupt "$S/base.hxz" "$WORK/disk.img" \
  "kill $RGW_PID; sleep 0.3" >probe.txt || fail "server stopped: $(cat probe.txt)"
pass "server stopped mid-read: $(cat probe.txt)"
echo "all s3 tests passed"
