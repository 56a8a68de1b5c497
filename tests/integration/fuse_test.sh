#!/usr/bin/env bash
# `hexz mount` / `hexz umount` through a real FUSE mount: file list and sizes, whole-file
# comparison with the sources, random preads from several threads, read-only refusals, clear
# errors (missing or busy mount point, not a snapshot, no FUSE), the foreground mode, an
# encrypted snapshot, --verify-reads against a rewritten block, and unmounting with fusermount3.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup fuse
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: this machine cannot mount FUSE file systems"
need_cmd fusermount3 cmp setsid
make_images
cd "$TMP" || exit 1

check "pack disk+memory" "$HEXZ" pack --disk disk.img --memory memory.img -o vm.hxz -q
check "pack disk only (16K blocks, zstd)" "$HEXZ" pack --disk disk.img -o disk.hxz -q \
  --block-size 16K --compression zstd
printf 'it-secret-%s\n' "$RANDOM$RANDOM" >password.txt
check "pack encrypted" "$HEXZ" pack --disk disk.img --memory memory.img -o enc.hxz -q \
  --encrypt --password-file password.txt
mkdir -p mnt mnt2

# --- default (detached) mount -------------------------------------------------------------------
MOUNTS+=("$TMP/mnt" "$TMP/mnt2")
check "mount vm.hxz (detached)" "$HEXZ" mount vm.hxz mnt --cache-size 16M
check "mount table shows fuse.hexz" grep -q " $TMP/mnt .* fuse.hexz " /proc/self/mountinfo
check "directory lists disk and memory" test "$(ls mnt | tr '\n' ' ')" = "disk memory "
check "disk has the exact size" test "$(stat -c %s mnt/disk)" = "$(stat -c %s disk.img)"
check "memory has the exact size" test "$(stat -c %s mnt/memory)" = "$(stat -c %s memory.img)"
check "files are read-only regular files" test "$(stat -c %F:%a mnt/disk)" = "regular file:444"
check "disk matches its source" cmp mnt/disk disk.img
check "memory matches its source" cmp mnt/memory memory.img
check "random preads from 8 threads (disk)" \
  "${ITTOOL[@]}" verify-preads mnt/disk disk.img --threads 8 --count 3000 --seed 11
check "random preads from 8 threads (memory)" \
  "${ITTOOL[@]}" verify-preads mnt/memory memory.img --threads 8 --count 2000 --seed 12
check_fails "writing is refused" "read-only" sh -c 'echo x >> mnt/disk'
check_fails "creating a file is refused" "read-only" touch mnt/new
check_fails "a busy mount point is refused" "busy" "$HEXZ" mount vm.hxz mnt
check_fails "a missing mount point is refused" "does not exist" "$HEXZ" mount vm.hxz nowhere
check_fails "a file is not a mount point" "not a directory" "$HEXZ" mount vm.hxz disk.img
echo "not a snapshot" >junk.hxz
check_fails "a non-snapshot is refused" "not a hexz snapshot" "$HEXZ" mount junk.hxz mnt2
check "the refused mount left nothing mounted" bash -c "! grep -q ' $TMP/mnt2 ' /proc/self/mountinfo"
bash -c 'cd mnt && exec sleep 60' &
BUSY=$!
PIDS+=("$BUSY")
sleep 0.2
check_fails "umount of a busy mount is refused" "busy" "$HEXZ" umount mnt
kill "$BUSY"
wait "$BUSY" 2>/dev/null
check "hexz umount" "$HEXZ" umount mnt
check "unmounted" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"
check_fails "umount of a directory that is not mounted" "not mounted" "$HEXZ" umount mnt
check_fails "umount of a missing directory" "does not exist" "$HEXZ" umount nowhere

# --- -o allow_other (a VMM running as another user) -----------------------------------------------
check_fails "an unknown mount option is refused" "unsupported mount option" \
  "$HEXZ" mount vm.hxz mnt -o exec
check "mount -o allow_other" "$HEXZ" mount vm.hxz mnt -o allow_other
check "the mount has allow_other" grep -q " $TMP/mnt .*allow_other" /proc/self/mountinfo
check "hexz umount (allow_other)" "$HEXZ" umount mnt

# --- foreground mode, a disk-only snapshot, SIGTERM unmounts --------------------------------------
"$HEXZ" mount --foreground disk.hxz mnt >fg.log 2>&1 &
FG=$!
PIDS+=("$FG")
if wait_for 20 is_mounted mnt; then
  pass "foreground mount is live"
  check "disk-only snapshot lists only disk" test "$(ls mnt)" = "disk"
  check "disk (zstd, 16K blocks) matches its source" cmp mnt/disk disk.img
  check "random preads (disk-only)" \
    "${ITTOOL[@]}" verify-preads mnt/disk disk.img --threads 4 --count 1000 --seed 13
  kill -TERM "$FG"
  wait "$FG"
  rc=$?
  check "SIGTERM ends the foreground mount with status 0 (got $rc)" test "$rc" = 0
  check "SIGTERM unmounted it" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"
else
  failed "foreground mount did not come up"
  cat fg.log
fi

# --- encrypted snapshot ---------------------------------------------------------------------------
check "mount encrypted (--password-file)" "$HEXZ" mount enc.hxz mnt --password-file password.txt
check "encrypted disk matches" cmp mnt/disk disk.img
check "encrypted memory matches" cmp mnt/memory memory.img
check "random preads (encrypted)" \
  "${ITTOOL[@]}" verify-preads mnt/memory memory.img --threads 8 --count 1000 --seed 14
check "fusermount3 -u unmounts it" fusermount3 -u mnt
check "unmounted by fusermount3" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"
check "mount encrypted (HEXZ_PASSWORD)" \
  env HEXZ_PASSWORD="$(head -n1 password.txt)" "$HEXZ" mount enc.hxz mnt
check "encrypted disk matches (HEXZ_PASSWORD)" cmp mnt/disk disk.img
check "hexz umount (encrypted)" "$HEXZ" umount mnt
# An encrypted thin snapshot over enc.hxz (format 1.2): its own password mounts the chain.
python3 -c "
import sys
d = bytearray(open('disk.img', 'rb').read())
d[4096:4096 + 5000] = bytes((i * 7) & 0xff for i in range(5000))
open('disk2.img', 'wb').write(d)"
printf 'thin-secret\n' >thin-password.txt
check "pack an encrypted thin snapshot of enc.hxz" "$HEXZ" pack --disk disk2.img --base enc.hxz \
  -o enc-thin.hxz -q --encrypt --password-file thin-password.txt --base-password-file password.txt
check "mount the encrypted thin snapshot with its own password" \
  "$HEXZ" mount enc-thin.hxz mnt --password-file thin-password.txt
check "encrypted thin disk matches" cmp mnt/disk disk2.img
check "hexz umount (encrypted thin)" "$HEXZ" umount mnt
echo "wrong" >wrong.txt
check_fails "a wrong password is refused" "wrong password" \
  "$HEXZ" mount enc.hxz mnt --password-file wrong.txt
check_fails "no password and no terminal" "password is needed" \
  env -u HEXZ_PASSWORD setsid -w "$HEXZ" mount enc.hxz mnt </dev/null
check "nothing left mounted" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"

# --- verified reads (issue 14): a block rewritten with its XXH3 checksum recomputed --------------
if [[ -x "${HEXZ_REWRITE_TOOL:-}" ]]; then
  check "a snapshot whose first block was rewritten" "$HEXZ_REWRITE_TOOL" "$TMP"
  check "mount it without --verify-reads" "$HEXZ" mount rewritten.hxz mnt
  check "plain reads return the rewritten bytes" bash -c "! cmp -s mnt/disk rewritten.img"
  check "hexz umount (rewritten, plain)" "$HEXZ" umount mnt
  check "mount it with --verify-reads" "$HEXZ" mount rewritten.hxz mnt --verify-reads
  check "a read of the rewritten chunk fails (EIO), disk" bash -c \
    "! dd if=mnt/disk of=/dev/null bs=4096 count=1 2>dd.err && grep -q 'Input/output error' dd.err"
  check "a read of the rewritten chunk fails (EIO), memory" bash -c \
    "! dd if=mnt/memory of=/dev/null bs=4096 count=1 2>dd.err && grep -q 'Input/output error' dd.err"
  check "the chunks after it read back exactly" bash -c \
    "cmp <(dd if=mnt/disk bs=64K skip=1 status=none) <(dd if=rewritten.img bs=64K skip=1 status=none)"
  check "hexz umount (rewritten, verified)" "$HEXZ" umount mnt
else
  echo "note: HEXZ_REWRITE_TOOL is not set; mount --verify-reads is not exercised"
fi

# --- no FUSE on the machine (simulated: /dev hidden in a private mount namespace) -----------------
if unshare -m --propagation private true 2>/dev/null; then
  check_fails "no FUSE gives a clear error" "FUSE is not available" \
    unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /dev && exec "$0" mount "$1" "$2"' \
    "$HEXZ" vm.hxz mnt
else
  echo "note: unshare -m is not permitted here; the no-FUSE error is not exercised"
fi

finish
