#!/usr/bin/env bash
# The nbdkit plugin against real NBD clients: nbdinfo (size, read-only, multi-conn, extents),
# nbdcopy (whole export, several connections) compared with the source, qemu-img compare,
# qemu-io -r spot reads across chunk and block boundaries, the zero runs in the extent map, the
# memory stream, an encrypted snapshot, and start-up errors.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup nbd
[[ -n "${HEXZ_PLUGIN:-}" && -f "${HEXZ_PLUGIN}" ]] || {
  echo "HEXZ_PLUGIN is not set to nbdkit-hexz-plugin.so" >&2
  exit 1
}
need_cmd nbdkit nbdinfo nbdcopy qemu-img qemu-io cmp
make_images
cd "$TMP" || exit 1

check "pack disk+memory" "$HEXZ" pack --disk disk.img --memory memory.img -o vm.hxz -q
check "pack disk with 16K blocks, zstd" "$HEXZ" pack --disk disk.img -o zstd.hxz -q \
  --block-size 16K --compression zstd
printf 'nbd-secret-%s\n' "$RANDOM$RANDOM" >password.txt
check "pack encrypted" "$HEXZ" pack --disk disk.img -o enc.hxz -q --encrypt \
  --password-file password.txt --kdf-memory 8M --kdf-iterations 1
disk_size="$(stat -c %s disk.img)"
mem_size="$(stat -c %s memory.img)"

check "nbdkit loads the plugin (--dump-plugin)" bash -c \
  "nbdkit '$HEXZ_PLUGIN' --dump-plugin | grep -q '^hexz_version='"

SOCK="$TMP/disk.sock"
URI="$(nbd_uri "$SOCK")"
if start_nbdkit "$SOCK" snapshot=vm.hxz; then
  pass "nbdkit serves vm.hxz (disk)"
  check "nbdinfo --json" bash -c "nbdinfo --json '$URI' > info.json"
  check "size, read-only, multi-conn, extents" "${ITTOOL[@]}" check-info info.json "$disk_size"
  check "nbdcopy of the export" nbdcopy "$URI" copy.img
  check "nbdcopy copy matches the source" cmp copy.img disk.img
  rm -f copy.img
  check "nbdcopy with 4 connections" nbdcopy --connections=4 --requests=8 "$URI" copy4.img
  check "4-connection copy matches the source" cmp copy4.img disk.img
  rm -f copy4.img
  check "nbdcopy to null:" nbdcopy "$URI" null:
  check "qemu-img compare with the raw image" qemu-img compare -f raw -F raw disk.img "$URI"
  mapfile -t pattern_cmds < <("${ITTOOL[@]}" qemu-io-args manifest.json)
  qargs=()
  for c in "${pattern_cmds[@]}"; do qargs+=(-c "$c"); done
  check "qemu-io -r pattern reads (constant and zero spans)" \
    qemu-io -r -f raw "$URI" "${qargs[@]}"
  mapfile -t dump_cmds < <("${ITTOOL[@]}" qemu-io-dump-args)
  qargs=()
  for c in "${dump_cmds[@]}"; do qargs+=(-c "$c"); done
  if qemu-io -r -f raw "$URI" "${qargs[@]}" >dump.txt 2>&1; then
    check "qemu-io -r spot reads across chunk/block boundaries" \
      "${ITTOOL[@]}" check-dump dump.txt disk.img
  else
    failed "qemu-io -r spot reads"
    head -n 20 dump.txt
  fi
  check "nbdinfo --map" bash -c "nbdinfo --map '$URI' > map.txt"
  check "extents report exactly the zero chunks as hole,zero" \
    "${ITTOOL[@]}" check-map map.txt disk.img
  check "qemu-img map sees the zero runs" bash -c \
    "qemu-img map --output=json -f raw '$URI' | grep -q '\"zero\": true, \"data\": false'"
  stop_nbdkit
else
  failed "nbdkit did not start with vm.hxz"
fi

SOCK="$TMP/mem.sock"
URI="$(nbd_uri "$SOCK")"
if start_nbdkit "$SOCK" snapshot=vm.hxz stream=memory cache-size=8M threads=2; then
  pass "nbdkit serves vm.hxz stream=memory"
  check "nbdinfo (memory)" bash -c "nbdinfo --json '$URI' > info-mem.json"
  check "memory size, read-only, multi-conn" "${ITTOOL[@]}" check-info info-mem.json "$mem_size"
  check "nbdcopy of the memory export" nbdcopy --connections=2 "$URI" mem-copy.img
  check "memory copy matches the source" cmp mem-copy.img memory.img
  check "memory extents" bash -c "nbdinfo --map '$URI' > map-mem.txt"
  check "memory zero runs" "${ITTOOL[@]}" check-map map-mem.txt memory.img
  stop_nbdkit
else
  failed "nbdkit did not start with stream=memory"
fi

SOCK="$TMP/zstd.sock"
URI="$(nbd_uri "$SOCK")"
if start_nbdkit "$SOCK" zstd.hxz; then  # snapshot= is the magic key: a bare file name works
  pass "nbdkit serves zstd.hxz (bare file name)"
  check "qemu-img compare (zstd, 16K blocks)" qemu-img compare -f raw -F raw disk.img "$URI"
  stop_nbdkit
else
  failed "nbdkit did not start with zstd.hxz"
fi

SOCK="$TMP/enc.sock"
URI="$(nbd_uri "$SOCK")"
if start_nbdkit "$SOCK" snapshot=enc.hxz password=+password.txt; then
  pass "nbdkit serves an encrypted snapshot (password=+FILE)"
  check "encrypted export matches" qemu-img compare -f raw -F raw disk.img "$URI"
  stop_nbdkit
else
  failed "nbdkit did not start with enc.hxz"
fi
if start_nbdkit "$SOCK" snapshot=enc.hxz password-file=password.txt; then
  pass "nbdkit serves an encrypted snapshot (password-file=FILE)"
  check "encrypted export matches (password-file)" qemu-img compare -f raw -F raw disk.img "$URI"
  stop_nbdkit
else
  failed "nbdkit did not start with enc.hxz and password-file="
fi

# verify-reads=true (issue 14): a block rewritten with its XXH3 checksum recomputed is served as
# is by plain reads and refused (EIO) by verified ones; the rest of the export still reads.
if [[ -x "${HEXZ_REWRITE_TOOL:-}" ]]; then
  check "a snapshot whose first block was rewritten" "$HEXZ_REWRITE_TOOL" "$TMP"
  SOCK="$TMP/rw.sock"
  URI="$(nbd_uri "$SOCK")"
  if start_nbdkit "$SOCK" snapshot=rewritten.hxz; then
    check "plain reads serve the rewritten bytes" bash -c \
      "! qemu-img compare -q -f raw -F raw rewritten.img '$URI'"
    stop_nbdkit
  else
    failed "nbdkit did not start with rewritten.hxz"
  fi
  if start_nbdkit "$SOCK" snapshot=rewritten.hxz verify-reads=true; then
    # (qemu-io, not nbdcopy: nbdcopy drops the connection with reads in flight at the first
    # error, which trips an assertion in nbdkit 1.32's connection code.)
    check "a qemu-io read of the rewritten chunk fails" bash -c \
      "qemu-io -r -f raw '$URI' -c 'read 0 4096' 2>&1 | grep -qi 'input/output error'"
    if qemu-io -r -f raw "$URI" -c "read -v 65536 4096" -c "read -v 524288 4096" \
      -c "read -v 1044480 4096" >rw-dump.txt 2>&1; then
      check "verified reads serve the other chunks exactly" python3 -c "
import re, sys
img = open('rewritten.img', 'rb').read()
n = 0
for line in open('rw-dump.txt'):
    m = re.match(r'^([0-9a-f]{8,}):  ((?:[0-9a-f]{2} )+)', line)
    if m:
        off = int(m.group(1), 16); got = bytes(int(h, 16) for h in m.group(2).split())
        if img[off:off + len(got)] != got: sys.exit('mismatch at %d' % off)
        n += len(got)
sys.exit(0 if n == 3 * 4096 else 'dumped %d bytes' % n)"
    else
      failed "qemu-io reads of the intact chunks"
      head -n 5 rw-dump.txt
    fi
    stop_nbdkit
  else
    failed "nbdkit did not start with rewritten.hxz verify-reads=true"
  fi
else
  echo "note: HEXZ_REWRITE_TOOL is not set; verify-reads=true is not exercised"
fi

# $HEXZ_PASSWORD opens it, and is gone from the environment of what nbdkit runs afterwards.
run_out="$(HEXZ_PASSWORD="$(head -n 1 password.txt)" nbdkit -U - "$HEXZ_PLUGIN" snapshot=enc.hxz \
  --run 'qemu-img compare -f raw -F raw disk.img "$uri" >/dev/null && echo compared; echo "env:${HEXZ_PASSWORD:-unset}"' 2>&1)" || true
if [[ "$run_out" == *compared* && "$run_out" == *env:unset* ]]; then
  pass "HEXZ_PASSWORD opens the snapshot and is removed from nbdkit's environment"
else
  failed "HEXZ_PASSWORD: $run_out"
fi

# Start-up errors: nbdkit must refuse to start, with a message naming the problem.
check_fails "encrypted without a password" "is encrypted" \
  env -u HEXZ_PASSWORD nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=enc.hxz
echo wrong >wrong.txt
check_fails "wrong password" "wrong password" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=enc.hxz password=+wrong.txt
check_fails "wrong password (password-file)" "wrong password" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=enc.hxz password-file=wrong.txt
: >empty.txt
check_fails "an empty password-file" "the first line is empty" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=enc.hxz password-file=empty.txt
check_fails "a missing password-file" "cannot open password-file" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=enc.hxz password-file=nowhere.txt
# Issue 14: a password means the snapshot must be encrypted (an unencrypted one may have replaced
# the encrypted original).
check_fails "a password for an unencrypted snapshot" "is not encrypted, but a password was given" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=vm.hxz password-file=password.txt
check_fails "missing snapshot" "missing.hxz" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=missing.hxz
echo junk >junk.hxz
check_fails "not a snapshot" "not a hexz snapshot" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=junk.hxz
"$HEXZ" pack --disk disk.img -o disk-only.hxz -q
check_fails "a stream the snapshot lacks" "no memory stream" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=disk-only.hxz stream=memory
check_fails "an unknown stream name" "unknown stream" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN" snapshot=vm.hxz stream=swap
check_fails "no snapshot parameter" "snapshot parameter is required" \
  nbdkit -f -U "$TMP/x.sock" "$HEXZ_PLUGIN"

finish
