#!/usr/bin/env bash
# `hexz mount --overlay SIDEDIR` through a real FUSE mount: writes at unaligned offsets (inside a
# block, across blocks, across a zero region, at the end of the stream, past it) read back as a
# model (a copy of the image patched with the same dd commands) says; the side file holds only
# whole blocks of current bytes; concurrent writers sharing blocks; the writes persist across a
# remount; `hexz commit SIDEDIR/disk.overlay --base SNAP` gives a thin snapshot equal to what
# the mount showed; and the refusals: another snapshot's overlay directory, a side file of the
# wrong size, a directory in use, a read-only mount (EROFS), ENOSPC in the side directory.
# common.sh sets -uo pipefail but not -e: its check helpers record failing commands and go on.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup overlay
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: this machine cannot mount FUSE file systems"
need_cmd fusermount3 cmp dd truncate
cd "$TMP" || exit 1

# --- inputs -----------------------------------------------------------------------------------
# disk.img: 16 MiB + 3000 bytes (a last partial block): random, zero regions, text-like data.
python3 - <<'EOF'
import random
rng = random.Random(18)
MiB = 1 << 20
parts = [rng.randbytes(4 * MiB), bytes(2 * MiB), rng.randbytes(4 * MiB),
         bytes(2 * MiB) , (b"hexz overlay test line\n" * 200000)[: 4 * MiB], rng.randbytes(3000)]
open("disk.img", "wb").write(b"".join(parts))
open("memory.img", "wb").write(rng.randbytes(2 * MiB + 512))
open("other.img", "wb").write(rng.randbytes(1 * MiB))
EOF
check "pack vm.hxz (disk + memory)" "$HEXZ" pack --disk disk.img --memory memory.img -o vm.hxz -q
check "pack other.hxz" "$HEXZ" pack --disk other.img -o other.hxz -q
printf 'it-secret-%s\n' "$RANDOM$RANDOM" >password.txt
check "pack enc.hxz (encrypted)" "$HEXZ" pack --disk other.img -o enc.hxz -q --encrypt \
  --password-file password.txt
cp disk.img model.img
cp memory.img model-mem.img
mkdir -p mnt mnt2
MOUNTS+=("$TMP/mnt" "$TMP/mnt2")

check "hexz mount --help lists --overlay" bash -c "\"$HEXZ\" mount --help | grep -q -- '--overlay SIDEDIR'"

# patch NAME SIZE: a file of SIZE random bytes.
patch() { head -c "$2" /dev/urandom >"$1"; }
# write_both FILE_IN_MOUNT MODEL PATCH OFFSET: the same dd into the mount and into the model.
write_both() {
  local target="$1" model="$2" src="$3" off="$4" size
  size="$(stat -c %s "$src")"
  dd if="$src" of="$target" bs="$size" count=1 seek="$off" oflag=seek_bytes conv=notrunc \
    status=none &&
    dd if="$src" of="$model" bs="$size" count=1 seek="$off" oflag=seek_bytes conv=notrunc \
      status=none
}
# holes_only FILE: the file has no allocated data at all.
holes_only() {
  python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.lseek(fd, 0, os.SEEK_DATA)
    sys.exit("the file has data")
except OSError as e:
    sys.exit(0 if e.errno == errno.ENXIO else str(e))' "$1"
}
# side_matches SIDE MODEL MAXBYTES: every allocated range of SIDE holds MODEL's bytes, starts
# and ends on a 4096-byte block boundary (or the end), and they add up to at most MAXBYTES.
side_matches() {
  python3 -c '
import errno, os, sys
side, model, most = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(side, os.O_RDONLY)
size = os.fstat(fd).st_size
m = open(model, "rb").read()
pos, total = 0, 0
while pos < size:
    try:
        start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as e:
        if e.errno == errno.ENXIO: break
        raise
    end = os.lseek(fd, start, os.SEEK_HOLE)
    if start % 4096 or (end % 4096 and end != size):
        sys.exit(f"extent [{start},{end}) is not block-aligned")
    if os.pread(fd, end - start, start) != m[start:end]:
        sys.exit(f"extent [{start},{end}) differs from the model")
    total += end - start
    pos = end
if total > most:
    sys.exit(f"{total} bytes allocated, more than {most}")
print(f"{total} bytes allocated")' "$1" "$2" "$3"
}

# --- a writable mount -----------------------------------------------------------------------------
check "mount --overlay side (created)" "$HEXZ" mount vm.hxz mnt --overlay side
check "the mount is read-write" grep -q " $TMP/mnt rw,.* fuse.hexz " /proc/self/mountinfo
check "files are writable regular files" test "$(stat -c %F:%a mnt/disk)" = "regular file:644"
check "side files have the streams' sizes" test \
  "$(stat -c %s side/disk.overlay):$(stat -c %s side/memory.overlay)" = \
  "$(stat -c %s disk.img):$(stat -c %s memory.img)"
check "side files start as holes only" holes_only side/disk.overlay
check "overlay.json records the snapshot" grep -q '"format":"hexz-overlay"' side/overlay.json
check "unwritten disk reads as the snapshot" cmp mnt/disk disk.img

SIZE="$(stat -c %s disk.img)"
patch p1 1000
patch p2 12288
patch p3 12288
patch p4 10000
patch p5 500
patch p6 100
patch p7 70000
patch pm 777
check "dd 1000 bytes at 5000" write_both mnt/disk model.img p1 5000
check "dd 3 blocks at 1 MiB (aligned)" write_both mnt/disk model.img p2 $((1 << 20))
check "dd 3 blocks at 2 MiB + 100 (unaligned)" write_both mnt/disk model.img p3 $(((2 << 20) + 100))
check "dd 10000 bytes across the start of a zero region" \
  write_both mnt/disk model.img p4 $(((4 << 20) - 5000))
check "dd 500 bytes inside a zero region" write_both mnt/disk model.img p5 $(((5 << 20) + 123))
check "dd 70000 bytes across the end of a zero region" \
  write_both mnt/disk model.img p7 $(((12 << 20) - 30000))
check "dd 100 bytes ending at the end of the disk" write_both mnt/disk model.img p6 $((SIZE - 100))
check "dd 777 bytes into memory" write_both mnt/memory model-mem.img pm 12345
check_fails "a write past the end fails" "No space left" \
  dd if=p1 of=mnt/disk bs=1000 count=1 seek="$SIZE" oflag=seek_bytes conv=notrunc status=none
check_fails "truncating a file is refused" "not permitted" truncate -s 4096 mnt/disk
check_fails "creating a file is refused" "not permitted" touch mnt/new
check "the disk reads as the model" cmp mnt/disk model.img
check "the memory reads as the model" cmp mnt/memory model-mem.img
check "random preads from 8 threads match the model" \
  "${ITTOOL[@]}" verify-preads mnt/disk model.img --threads 8 --count 2000 --seed 21
check "the side file holds whole blocks of current bytes only" \
  side_matches side/disk.overlay model.img $((40 * 4096 + 80000))

# Concurrent writers: non-overlapping random ranges (many share a block), 4 threads.
check "4 concurrent writers sharing blocks" python3 - <<'EOF'
import os, random, threading
rng = random.Random(7)
size = os.path.getsize("model.img")
lo, hi = 7 << 20, 8 << 20           # random data region, away from the other writes
starts = sorted(rng.sample(range(lo, hi), 300))  # ~3.5 KiB apart: many ranges share a block
ranges = [(a, min(a + rng.randint(1, 3000), b)) for a, b in zip(starts, starts[1:] + [hi])]
data = {a: rng.randbytes(b - a) for a, b in ranges}
fd = os.open("mnt/disk", os.O_WRONLY)
def run(k):
    for a, b in ranges[k::4]:
        assert os.pwrite(fd, data[a], a) == b - a
threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
os.fsync(fd)
os.close(fd)
with open("model.img", "r+b") as m:
    for a, b in ranges:
        m.seek(a)
        m.write(data[a])
EOF
check "after concurrent writes the disk reads as the model" cmp mnt/disk model.img

# --- refusals while mounted -----------------------------------------------------------------------
check_fails "a second mount of the same overlay directory is refused" "in use by another mount" \
  "$HEXZ" mount vm.hxz mnt2 --overlay side
check_fails "commit while mounted is refused" "unmount it first" \
  "$HEXZ" commit side/disk.overlay --base vm.hxz -o busy.hxz -q
check "a read-only mount of the same snapshot next to it" "$HEXZ" mount vm.hxz mnt2
check_fails "the read-only mount refuses writes (EROFS)" "Read-only file system" \
  dd if=p1 of=mnt2/disk bs=1000 count=1 seek=0 oflag=seek_bytes conv=notrunc status=none
check "the read-only mount shows the snapshot, not the writes" cmp mnt2/disk disk.img
check "hexz umount (read-only)" "$HEXZ" umount mnt2
check "hexz umount (overlay)" "$HEXZ" umount mnt

# --- remount: the writes persist ------------------------------------------------------------------
check "remount with the same overlay directory (and --stats-file)" \
  "$HEXZ" mount vm.hxz mnt --overlay side --stats-file stats.json
check "the writes persist (disk)" cmp mnt/disk model.img
check "the writes persist (memory)" cmp mnt/memory model-mem.img
check "hexz umount (remount)" "$HEXZ" umount mnt
check "--stats-file is written when the overlay mount ends" wait_for 10 test -s stats.json

# --- another snapshot's overlay, damaged side files -----------------------------------------------
out="$("$HEXZ" mount other.hxz mnt --overlay side 2>&1)" && rc=0 || rc=$?
if ((rc != 0)) && [[ "$(printf '%s\n' "$out" | wc -l)" == 1 && "$out" == "hexz: error: "*"another snapshot"* ]]; then
  pass "another snapshot's overlay directory: one error line, exit $rc"
else
  failed "another snapshot's overlay directory (exit $rc): $out"
fi
check "the refused mount left nothing mounted" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"
cp -r --sparse=always side side-bad
truncate -s +4096 side-bad/disk.overlay
check_fails "a side file of the wrong size is refused" "bytes (the snapshot's disk size)" \
  "$HEXZ" mount vm.hxz mnt --overlay side-bad
mkdir side-nometa
truncate -s "$SIZE" side-nometa/disk.overlay
check_fails "side files without overlay.json are refused" "not a hexz overlay directory" \
  "$HEXZ" mount vm.hxz mnt --overlay side-nometa
check_fails "the mount point as overlay directory is refused" "lies under it" \
  "$HEXZ" mount vm.hxz mnt --overlay mnt
check_fails "an overlay directory whose parent is missing is refused" "parent does not exist" \
  "$HEXZ" mount vm.hxz mnt --overlay nowhere/side
check_fails "an overlay on an encrypted snapshot is refused" "not supported" \
  "$HEXZ" mount enc.hxz mnt --overlay side-enc --password-file password.txt
check "nothing left mounted" bash -c "! grep -q ' $TMP/mnt ' /proc/self/mountinfo"

# --- commit ---------------------------------------------------------------------------------------
check_fails "commit over another base is refused" "another snapshot" \
  "$HEXZ" commit side/disk.overlay --base other.hxz -o wrong.hxz -q
check "hexz commit side/disk.overlay --base vm.hxz" \
  "$HEXZ" commit side/disk.overlay --base vm.hxz -o new.hxz -q
check "the new snapshot verifies" "$HEXZ" verify new.hxz
check "the new snapshot is thin over vm.hxz" bash -c "\"$HEXZ\" info new.hxz | grep -q vm.hxz"
check "the new snapshot is small (< 2 MiB; vm.hxz has $(stat -c %s vm.hxz) bytes)" \
  test "$(stat -c %s new.hxz)" -lt $((2 << 20))
check "extract the new snapshot's disk" "$HEXZ" extract new.hxz --disk new-disk.img -q
check "the committed disk equals the model (what the mount showed)" cmp new-disk.img model.img
check "a read-only mount of the new snapshot shows the model" "$HEXZ" mount new.hxz mnt2
check "the mounted new snapshot equals the model" cmp mnt2/disk model.img
check "hexz umount (new snapshot)" "$HEXZ" umount mnt2
check "hexz commit side/memory.overlay --base vm.hxz" \
  "$HEXZ" commit side/memory.overlay --base vm.hxz -o newmem.hxz -q
check "extract the committed memory" "$HEXZ" extract newmem.hxz --memory new-mem.img -q
check "the committed memory equals the model" cmp new-mem.img model-mem.img

# --- ENOSPC in the side directory (needs a small tmpfs: root only) --------------------------------
mkdir small
if mount -t tmpfs -o size=256k tmpfs small 2>/dev/null; then
  MOUNTS+=("$TMP/small")
  check "mount with the overlay on a 256 KiB tmpfs" "$HEXZ" mount vm.hxz mnt --overlay small/side
  patch big $((1 << 20))
  check_fails "a write beyond the space left fails with ENOSPC" "No space left" \
    dd if=big of=mnt/disk bs=1M count=1 seek=$((8 << 20)) oflag=seek_bytes conv=notrunc,fsync \
    status=none
  check "hexz umount (small)" "$HEXZ" umount mnt
  umount small
else
  echo "note: cannot mount a tmpfs here (not root); ENOSPC is not exercised"
fi

finish
