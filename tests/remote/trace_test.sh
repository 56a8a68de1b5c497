#!/usr/bin/env bash
# Boot traces against nginx (issue 13): the nbdkit plugin records the blocks a client reads
# (record-trace=), `hexz trace add` stores the trace in a copy of the snapshot, and a second
# identical run over http has its blocks prefetched: its demand misses (the plugin's
# stats-file=) drop to near zero and nginx sees fewer requests. prefetch=false brings the
# misses back. A damaged trace file is refused with one clear error line and the snapshot still
# reads. The client is qemu-io: 40 reads of 4 KiB at scattered offsets, each one checked.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for t in nginx nbdkit qemu-io; do
  command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
: "${HEXZ_PLUGIN:?HEXZ_PLUGIN must name nbdkit-hexz-plugin.so}"
source "$here/lib.sh"
unset HEXZ_BASE_PATH HEXZ_CACHE_DIR  # every run starts cold

# --- a 64 MiB disk: random and zero regions; 40 read spots hold a known byte --------------------
# Each spot is the first 4 KiB of its own 64 KiB block (the default block size) in a random
# region, filled with the byte 0x10+i. The 40 blocks come in 10 runs of 4 neighbours (which a
# replay can fetch as one range each), read in a scattered order (pattern.txt): one run's
# blocks are never read one after the other.
python3 - "$WORK" <<'PY'
import os, random, sys
out = sys.argv[1]
rng = random.Random(13)
size = 64 << 20
disk = bytearray(rng.randbytes(size))
zeros = [(16 << 20, 24 << 20), (40 << 20, 44 << 20), (60 << 20, 64 << 20)]
for a, b in zeros:
    disk[a:b] = bytes(b - a)
def in_zero(b):
    return any(a <= b * 65536 < z for a, z in zeros)
starts = []
while len(starts) < 10:
    s = rng.randrange(size // 65536 - 4)
    if not any(in_zero(b) for b in range(s - 1, s + 5)) and all(abs(s - t) > 8 for t in starts):
        starts.append(s)
spots = [s + k for k in range(4) for s in starts]  # every run's first block, then second, ...
with open(os.path.join(out, "pattern.txt"), "w") as f:
    for i, b in enumerate(spots):
        disk[b * 65536:b * 65536 + 4096] = bytes([0x10 + i]) * 4096
        f.write(f"{b * 65536} {0x10 + i:#x}\n")
open(os.path.join(out, "disk.img"), "wb").write(disk)
PY
mkdir -p "$WORK/www"
"$HEXZ" pack -q --disk "$WORK/disk.img" --chunk-size 4K -o "$WORK/www/disk.hxz"
start_nginx "$WORK/www"
URL="$NGINX_URL"
cd "$WORK"

QEMU_IO_ARGS=()
while read -r off byte; do QEMU_IO_ARGS+=(-c "read -P $byte $off 4k"); done <pattern.txt

NBD_PID=""
# serve NAME ARGS...: nbdkit with the hexz plugin on NAME.sock; waits until it accepts.
serve() {
  local sock="$WORK/$1.sock"
  shift
  rm -f "$sock"
  nbdkit -f --exit-with-parent -U "$sock" "$HEXZ_PLUGIN" "$@" >"$sock.log" 2>&1 &
  NBD_PID=$!
  PIDS+=("$NBD_PID")
  for _ in $(seq 300); do
    [[ -S "$sock" ]] && return 0
    kill -0 "$NBD_PID" 2>/dev/null || break
    sleep 0.05
  done
  fail "nbdkit $* did not start: $(cat "$sock.log")"
}
unserve() {
  kill "$NBD_PID" 2>/dev/null || true
  wait "$NBD_PID" 2>/dev/null || true
}
# run NAME ARGS...: serves with ARGS plus stats-file=NAME.json, reads the pattern (checking
# every byte), stops the server; sets REQUESTS to nginx's requests from start to stop and
# READ_REQUESTS to those made while the client was reading.
run() {
  local name="$1" before reading
  shift
  before="$(wc -l <"$NGINX_LOG")"
  serve "$name" "$@" "stats-file=$WORK/$name.json"
  # Let the server's background work (index preload, trace replay) finish first, as a booting
  # VM's firmware gives it time: wait until nginx has seen no request for 0.3 s (at most 10 s).
  # The assertions below are on the reader's own counts, not on timing.
  local n quiet=0
  for _ in $(seq 100); do
    n="$(wc -l <"$NGINX_LOG")"
    sleep 0.1
    if [[ "$(wc -l <"$NGINX_LOG")" == "$n" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
    ((quiet < 3)) || break
  done
  reading="$(wc -l <"$NGINX_LOG")"
  qemu-io -f raw -r "${QEMU_IO_ARGS[@]}" "nbd+unix:///?socket=$WORK/$name.sock" >"$name.io" 2>&1 ||
    fail "$name: qemu-io failed: $(tail -n 5 "$name.io")"
  if grep -q "Pattern verification failed" "$name.io"; then fail "$name: wrong bytes read"; fi
  [[ "$(grep -c '^read 4096/4096 bytes' "$name.io")" == 40 ]] || fail "$name: not 40 reads: $(cat "$name.io")"
  READ_REQUESTS=$(($(wc -l <"$NGINX_LOG") - reading))
  unserve
  [[ -s "$name.json" ]] || fail "$name: no stats file written"
  REQUESTS=$(($(wc -l <"$NGINX_LOG") - before))
}
# stat NAME KEY: a number from NAME.json
stat_of() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1.json" "$2"; }

# --- record on the plain snapshot ----------------------------------------------------------------
run record "snapshot=$URL/disk.hxz" "record-trace=$WORK/boot.trace"
req_record=$REQUESTS
rreq_record=$READ_REQUESTS
miss_record="$(stat_of record demand_block_misses)"
[[ -s boot.trace ]] || fail "record-trace wrote no trace"
[[ "$miss_record" -gt 30 ]] || fail "recording run: only $miss_record demand misses (expected > 30)"
"$HEXZ" trace show boot.trace --json --events >trace.json || fail "trace show --json"
python3 - trace.json pattern.txt <<'PY' || fail "the trace does not list the read blocks in order"
import json, sys
t = json.load(open(sys.argv[1]))
spots = [int(l.split()[0]) for l in open(sys.argv[2])]
blocks = [e["logical_offset"] // 65536 for e in t["events"] if e["kind"] == "block"]
seen = []
for b in blocks:
    if b in {s // 65536 for s in spots} and b not in seen:
        seen.append(b)
want = [s // 65536 for s in spots]
assert seen == want, f"trace order {seen} != read order {want}"
assert t["summary"]["blocks"] >= 40, t["summary"]
PY
pass "recorded: $miss_record demand misses, $req_record requests ($rreq_record while reading); trace: $(python3 -c 'import json; s = json.load(open("trace.json"))["summary"]; print(s["blocks"], "blocks,", s["index_pages"], "index pages,", s["stored_bytes"], "stored bytes")')"

# --- store it in a copy, republish, replay -------------------------------------------------------
cp www/disk.hxz traced.hxz
"$HEXZ" trace add -q traced.hxz boot.trace || fail "hexz trace add"
mv traced.hxz www/traced.hxz
"$HEXZ" info "$URL/traced.hxz" | grep -qi "trace" || fail "hexz info does not list the trace"
"$HEXZ" cat "$URL/traced.hxz" | cmp - disk.img || fail "the traced snapshot reads differently"
run replay "snapshot=$URL/traced.hxz"
req_replay=$REQUESTS
rreq_replay=$READ_REQUESTS
miss_replay="$(stat_of replay demand_block_misses)"
[[ "$miss_replay" -le 2 ]] || fail "replay: $miss_replay demand misses (expected <= 2): $(cat replay.json)"
[[ "$(stat_of replay prefetched_blocks)" -ge 40 ]] || fail "replay prefetched too little: $(cat replay.json)"
[[ "$rreq_replay" -le 2 && "$rreq_replay" -lt "$rreq_record" ]] ||
  fail "replay: $rreq_replay requests while reading (recording run: $rreq_record)"
[[ "$req_replay" -lt "$req_record" ]] ||
  fail "replay made $req_replay requests in all, not fewer than the recording run's $req_record"
pass "replayed: $miss_replay demand misses, $req_replay requests ($rreq_replay while reading; recording: $miss_record misses, $req_record requests, $rreq_record while reading); $(cat replay.json)"

run noprefetch "snapshot=$URL/traced.hxz" prefetch=false
miss_off="$(stat_of noprefetch demand_block_misses)"
[[ "$miss_off" -gt 30 ]] || fail "prefetch=false: only $miss_off demand misses (expected > 30)"
[[ "$(stat_of noprefetch prefetched_blocks)" == 0 ]] || fail "prefetch=false prefetched: $(cat noprefetch.json)"
pass "prefetch=false: $miss_off demand misses, $REQUESTS requests ($READ_REQUESTS while reading)"

# --- a damaged trace is refused; the snapshot still reads ----------------------------------------
cp www/disk.hxz victim.hxz
size="$(stat -c %s boot.trace)"
cp boot.trace damaged.trace
printf '\xff\xfe' | dd of=damaged.trace bs=1 seek=$((size / 2)) conv=notrunc status=none
head -c $((size - 7)) boot.trace >truncated.trace
for bad in damaged.trace truncated.trace; do
  set +e
  "$HEXZ" trace add victim.hxz "$bad" 2>err.txt
  rc=$?
  set -e
  [[ "$rc" != 0 ]] || fail "a $bad was accepted"
  if [[ "$(wc -l <err.txt)" != 1 ]] || ! grep -q '^hexz: error: ' err.txt; then
    fail "$bad: expected one 'hexz: error:' line, got: $(cat err.txt)"
  fi
  pass "$bad refused (exit $rc): $(cat err.txt)"
done
cmp victim.hxz www/disk.hxz || fail "a refused trace changed the snapshot"
"$HEXZ" cat victim.hxz | cmp - disk.img || fail "the snapshot does not read after a refused trace"
pass "the snapshot is unchanged and reads"

# --- remove --------------------------------------------------------------------------------------
cp www/traced.hxz removed.hxz
"$HEXZ" trace remove -q removed.hxz || fail "hexz trace remove"
if "$HEXZ" trace show removed.hxz >/dev/null 2>&1; then fail "the trace is still there"; fi
"$HEXZ" cat removed.hxz | cmp - disk.img || fail "the snapshot without its trace reads differently"
pass "hexz trace remove"
echo "all trace tests passed"
