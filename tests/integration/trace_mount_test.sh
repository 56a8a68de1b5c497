#!/usr/bin/env bash
# Boot traces through FUSE (issue 13): `hexz mount --record-trace FILE` of a local snapshot,
# dd reads a fixed scattered pattern from the mounted disk, the unmount writes the trace, and
# `hexz trace show --json --events` lists the read blocks in the order they were read. Then the
# trace is stored in the snapshot (`hexz trace add`): a second mount replays it, and the same
# reads find their blocks prefetched (--stats-file); --no-prefetch turns that off.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup trace-mount
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: this machine cannot mount FUSE file systems"
need_cmd fusermount3 dd cmp
"$HEXZ" mount --help 2>/dev/null | grep -q -- '--record-trace' ||
  skip "this hexz mount has no --record-trace (the FUSE side of issue 13)"
cd "$TMP" || exit 1
unset HEXZ_CACHE_DIR

# 16 MiB of random bytes (no two 64 KiB blocks alike); 12 spots, each the first 4 KiB of its own
# block, read in a scattered order.
python3 - <<'PY'
import random
rng = random.Random(1313)
open("disk.img", "wb").write(rng.randbytes(16 << 20))
with open("pattern.txt", "w") as f:
    for b in rng.sample(range(256), 12):
        f.write(f"{b}\n")
PY
check "pack (4 KiB chunks, 64 KiB blocks)" "$HEXZ" pack -q --disk disk.img --chunk-size 4K -o disk.hxz
mkdir -p mnt
MOUNTS+=("$TMP/mnt")

# mount_run NAME ARGS...: mounts disk.hxz (or ARGS' snapshot) in the foreground with ARGS, reads
# the pattern with dd (direct I/O where FUSE allows it, so the kernel reads nothing ahead),
# compares each piece with disk.img, unmounts and waits for the mount process to end.
mount_run() {
  local name="$1" snap="$2" b ok=1
  shift 2
  "$HEXZ" mount --foreground "$@" "$snap" mnt >"$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  if ! wait_for 20 is_mounted mnt; then
    failed "$name: the mount did not come up: $(cat "$name.log")"
    return 1
  fi
  sleep 0.3  # the replay of a local trace takes milliseconds; let it run before the reads
  local direct=(iflag=direct)
  # the probe reads the first spot: it is the first block read either way
  dd if=mnt/disk of=/dev/null bs=4k skip=$(($(head -n 1 pattern.txt) * 16)) count=1 "${direct[@]}" \
    status=none 2>/dev/null || direct=()
  while read -r b; do
    dd if=mnt/disk of="$name.piece" bs=4k skip=$((b * 16)) count=1 "${direct[@]}" status=none || ok=0
    cmp -s "$name.piece" <(dd if=disk.img bs=4k skip=$((b * 16)) count=1 status=none) || ok=0
  done <pattern.txt
  "$HEXZ" umount mnt || fusermount3 -u mnt
  wait "$pid"
  local rc=$?
  if ((ok)); then pass "$name: 12 scattered reads match the source"; else failed "$name: a read differs"; fi
  check "$name: the mount process ended with status 0 (got $rc)" test "$rc" = 0
}

mount_run record disk.hxz --record-trace "$TMP/boot.trace"
check "the unmount wrote the trace" test -s boot.trace
"$HEXZ" trace show boot.trace --json --events >trace.json 2>trace.err
check "hexz trace show --json --events" test -s trace.json
check "the trace lists the read blocks in the order they were read" python3 - <<'PY'
import json
t = json.load(open("trace.json"))
want = [int(l) for l in open("pattern.txt")]
seen = []
for e in t["events"]:
    if e["kind"] != "block" or e["stream"] != "disk":
        continue
    b = e["logical_offset"] // 65536
    if b in want and b not in seen:
        seen.append(b)
assert seen == want, f"trace order {seen}, read order {want}"
assert t["summary"]["blocks"] >= len(want), t["summary"]
times = [e["time_ms"] for e in t["events"]]
assert times == sorted(times), "time_ms decreases"
PY

check "hexz trace add stores it in the snapshot" "$HEXZ" trace add -q disk.hxz boot.trace
check "hexz info lists the trace" sh -c "'$HEXZ' info disk.hxz | grep -qi trace"
check "the snapshot with its trace still reads the same" sh -c "'$HEXZ' cat disk.hxz | cmp - disk.img"
mount_run replay disk.hxz --stats-file "$TMP/replay.json"
check "replay: the stats file was written" test -s replay.json
check "replay: at most 2 demand misses, 12+ blocks prefetched ($(cat replay.json 2>/dev/null))" \
  python3 -c 'import json; s = json.load(open("replay.json")); assert s["demand_block_misses"] <= 2 and s["prefetched_blocks"] >= 12, s'
mount_run noprefetch disk.hxz --no-prefetch --stats-file "$TMP/off.json"
check "--no-prefetch: every read block was a demand miss ($(cat off.json 2>/dev/null))" \
  python3 -c 'import json; s = json.load(open("off.json")); assert s["demand_block_misses"] >= 12 and s["prefetched_blocks"] == 0, s'
finish
