#!/usr/bin/env bash
# Boot from a bucket (issue 13): QEMU (TCG) boots the Debian kernel with the corpus disk as a
# read-only root, runs a boot-like read workload (bench/boot_workload.sh) and prints a marker;
# the figure is the time from starting the server to the marker line on the serial console.
#
#   bench/boot_bench.sh [--runs N] [--corpus DISK.img] [--workdir DIR] [--cases LIST] [--keep]
#
# Cases (each run N times, default 3; medians and the single values are printed side by side):
#   local-raw  QEMU reads DISK.img itself (the time starts with QEMU)
#   local-hxz  `hexz pack` of DISK.img (default settings), served by the nbdkit plugin on a unix
#              socket (the time starts with nbdkit, so it includes opening the snapshot)
#   a          the snapshot on nginx (127.0.0.1) behind bench/delay_proxy.py, which adds 20 ms to
#              every request; nbdkit plugin with snapshot=http://...; no trace in the file
#   b          the same with a trace: one recording boot (record-trace=FILE), then
#              `hexz trace add`, the traced copy published on nginx, N boots with replay
#   c          DISK.img converted with `qemu-img convert -c -O qcow2`, on the same nginx + proxy,
#              read by QEMU's curl block driver (package qemu-block-extra)
#   d          curl downloads DISK.img through the proxy, then QEMU boots the local copy (the
#              time starts with the download)
# Per case: HTTP requests and bytes sent (nginx's access log, split into the ones before the
# server was ready and the rest), the guest's virtio reads (/sys/block/vda/stat), and for the
# plugin the reader's statistics (stats-file=, once the plugin has it). The markdown table
# (bench/boot_report.py) goes to standard output: docs/benchmarks.md, "Issue 13".
#
# Options: --runs N; --corpus DISK.img (default /work/perf-tmp/corpus/disk-v1.img);
# --workdir DIR keeps the packed and converted images there and reuses them while they are newer
# than the corpus (delete disk.hxz after changing the packer; default: a fresh temporary
# directory), and copies results.tsv, table.md and trace.json there; --cases LIST (comma-separated, default all); --delay-ms MS (20);
# --keep leaves the temporary directory (logs, consoles) in place.
# Environment: HEXZ (default build/tools/hexz/hexz), HEXZ_PLUGIN (default
# build/plugins/nbdkit/nbdkit-hexz-plugin.so). Builds nothing. Uses nginx, nbdkit,
# qemu-system-x86_64 (TCG), qemu-img, qemu-block-extra, curl, busybox-static, python3; all
# servers listen on 127.0.0.1 only and are stopped by PID on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
HEXZ="${HEXZ:-$repo/build/tools/hexz/hexz}"
HEXZ_PLUGIN="${HEXZ_PLUGIN:-$repo/build/plugins/nbdkit/nbdkit-hexz-plugin.so}"
RUNS=3
CORPUS=/work/perf-tmp/corpus/disk-v1.img
WORKDIR=""
CASES="local-raw,local-hxz,a,b,c,d"
DELAY_MS=20
KEEP=0
while (($#)); do
  case "$1" in
  --runs) RUNS="$2"; shift ;;
  --corpus) CORPUS="$2"; shift ;;
  --workdir) WORKDIR="$2"; shift ;;
  --cases) CASES="$2"; shift ;;
  --delay-ms) DELAY_MS="$2"; shift ;;
  --keep) KEEP=1 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "boot_bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$PATH:/usr/sbin:/sbin"
for t in nginx nbdkit qemu-system-x86_64 qemu-img curl python3 busybox; do
  command -v "$t" >/dev/null || { echo "boot_bench: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -x "$HEXZ" ]] || { echo "boot_bench: HEXZ=$HEXZ is not the hexz binary" >&2; exit 1; }
[[ -f "$HEXZ_PLUGIN" ]] || { echo "boot_bench: HEXZ_PLUGIN=$HEXZ_PLUGIN not found" >&2; exit 1; }
[[ -r "$CORPUS" ]] || { echo "boot_bench: no corpus disk $CORPUS (scripts/make-corpus.sh)" >&2; exit 1; }
CORPUS="$(realpath "$CORPUS")"
has_case() { [[ ",$CASES," == *",$1,"* ]]; }
# The trace interface (record-trace=, stats-file=, `hexz trace`) is used when the build has it.
HAVE_TRACE=0
if nbdkit "$HEXZ_PLUGIN" --help 2>/dev/null | grep -q 'record-trace='; then HAVE_TRACE=1; fi
unset HEXZ_CACHE_DIR HEXZ_BASE_PATH  # every boot starts cold: no disk cache shared between runs

BENCH_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hexz-bootbench.XXXXXX")"
chmod 755 "$BENCH_DIR"
IMAGES="${WORKDIR:-$BENCH_DIR/images}"
mkdir -p "$IMAGES"
IMAGES="$(realpath "$IMAGES")"
WWW="$BENCH_DIR/www"
mkdir -p "$WWW"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((KEEP)); then echo "boot_bench: kept $BENCH_DIR"; else rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

source "$here/boot_guest.sh"
guest_kernel
GUEST_INITRD="$BENCH_DIR/initramfs.img"
guest_initramfs "$GUEST_INITRD" "$here/boot_workload.sh"
log "kernel $GUEST_KERNEL, corpus $CORPUS, $RUNS runs per case, cases $CASES, trace support $HAVE_TRACE"
log "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

# --- the images (reused from --workdir when newer than the corpus) -------------------------------
fresh() { [[ -s "$1" && "$1" -nt "$CORPUS" ]]; }
if has_case local-hxz || has_case a || has_case b; then
  if ! fresh "$IMAGES/disk.hxz"; then
    log "hexz pack $CORPUS"
    s=$EPOCHREALTIME
    "$HEXZ" pack --disk "$CORPUS" -o "$IMAGES/disk.hxz" -q -f
    log "packed in $(python3 -c "print(f'{$EPOCHREALTIME - $s:.1f}')") s"
  fi
  ln -sf "$IMAGES/disk.hxz" "$WWW/disk.hxz"
fi
if has_case c; then
  if ! fresh "$IMAGES/disk.qcow2"; then
    log "qemu-img convert -c -O qcow2 $CORPUS"
    qemu-img convert -c -O qcow2 "$CORPUS" "$IMAGES/disk.qcow2.tmp"
    mv "$IMAGES/disk.qcow2.tmp" "$IMAGES/disk.qcow2"
  fi
  ln -sf "$IMAGES/disk.qcow2" "$WWW/disk.qcow2"
fi
ln -sf "$CORPUS" "$WWW/disk.img"

# --- nginx and the delay proxy -------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
NGX="$BENCH_DIR/nginx"
mkdir -p "$NGX"
NGINX_PORT="$(free_port)"
ACCESS_LOG="$NGX/access.log"
cat >"$NGX/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log;
events { worker_connections 512; }
http {
  log_format bench '\$msec \$status \$request_method \$uri \$bytes_sent \$request_time "\$http_range" \$connection';
  access_log $ACCESS_LOG bench;
  client_body_temp_path $NGX/body;
  proxy_temp_path $NGX/proxy;
  fastcgi_temp_path $NGX/fastcgi;
  uwsgi_temp_path $NGX/uwsgi;
  scgi_temp_path $NGX/scgi;
  sendfile on;
  keepalive_requests 100000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WWW;
  }
}
CONF
nginx -c "$NGX/nginx.conf" -p "$NGX" >"$NGX/stdout.log" 2>&1 &
PIDS+=($!)
python3 "$here/delay_proxy.py" --upstream "127.0.0.1:$NGINX_PORT" --delay-ms "$DELAY_MS" \
  --port-file "$BENCH_DIR/proxy.port" >"$BENCH_DIR/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
  [[ -s "$BENCH_DIR/proxy.port" ]] && curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break
  sleep 0.05
done
URL="http://127.0.0.1:$(cat "$BENCH_DIR/proxy.port")"
curl -sf -o /dev/null -r 0-0 "$URL/disk.img" || { echo "boot_bench: nginx/proxy not answering" >&2; exit 1; }
log "nginx on 127.0.0.1:$NGINX_PORT, delay proxy ($DELAY_MS ms) at $URL"

# --- one run -------------------------------------------------------------------------------------
RESULTS="$BENCH_DIR/results.tsv"
printf 'case\trun\tseconds\tready\tstart_req\tstart_bytes\treq\tbytes\tvda\tstats\n' >"$RESULTS"
log_lines() { wc -l <"$ACCESS_LOG"; }
# log_sum FROM TO: "requests bytes" of access-log lines FROM+1..TO
log_sum() { awk -v a="$1" -v b="$2" 'NR > a && NR <= b { n++; s += $5 } END { printf "%d %.0f\n", n, s }' "$ACCESS_LOG"; }

NBD_PID=""
# start_plugin SOCK ARGS...: nbdkit with the hexz plugin on a unix socket; waits until it serves.
start_plugin() {
  local sock="$1"
  shift
  rm -f "$sock"
  nbdkit -f --exit-with-parent -U "$sock" "$HEXZ_PLUGIN" "$@" >"$sock.log" 2>&1 &
  NBD_PID=$!
  PIDS+=("$NBD_PID")
  until [[ -S "$sock" ]]; do
    kill -0 "$NBD_PID" 2>/dev/null || { echo "boot_bench: nbdkit failed:" >&2; cat "$sock.log" >&2; return 1; }
    sleep 0.01
  done
}
stop_plugin() {
  kill "$NBD_PID" 2>/dev/null || true
  wait "$NBD_PID" 2>/dev/null || true
}

# run_case CASE RUN: one boot of CASE; appends a line to $RESULTS.
run_case() {
  local c="$1" r="$2" name="$1-$2" t0 t1 secs l0 l1 l2 sock="$BENCH_DIR/$1-$2.sock" stats=""
  local extra=()
  if ((HAVE_TRACE)); then
    stats="$BENCH_DIR/$name.stats.json"
    rm -f "$stats"
    extra+=("stats-file=$stats")
  fi
  l0="$(log_lines)"
  l1="$l0"
  t0=$EPOCHREALTIME
  t1=$t0
  case "$c" in
  local-raw)
    secs="$(guest_boot "$name" "$t0" "file=$CORPUS,format=raw,if=virtio,readonly=on")" ;;
  local-hxz | a | b | b-record)
    local snap="$IMAGES/disk.hxz"
    case "$c" in
    a) snap="$URL/disk.hxz" ;;
    b) snap="$URL/disk-trace.hxz" ;;
    b-record) snap="$URL/disk.hxz"; extra+=("record-trace=$BENCH_DIR/boot.trace") ;;
    esac
    start_plugin "$sock" "snapshot=$snap" "${extra[@]}"
    t1=$EPOCHREALTIME
    l1="$(log_lines)"
    secs="$(guest_boot "$name" "$t0" "file=nbd+unix:///?socket=$sock,format=raw,if=virtio,readonly=on")"
    stop_plugin ;;
  c)
    secs="$(guest_boot "$name" "$t0" "file=$URL/disk.qcow2,format=qcow2,if=virtio,readonly=on")" ;;
  d)
    curl -sf -o "$BENCH_DIR/download.img" "$URL/disk.img"
    t1=$EPOCHREALTIME
    l1="$(log_lines)"
    secs="$(guest_boot "$name" "$t0" "file=$BENCH_DIR/download.img,format=raw,if=virtio,readonly=on")"
    rm -f "$BENCH_DIR/download.img" ;;
  esac
  l2="$(log_lines)"
  local st="{}"
  [[ -n "$stats" && -s "$stats" ]] && st="$(tr -d '\n' <"$stats")"
  local vda
  vda="$(guest_vda "$name")"
  local ready
  ready="$(python3 -c "print(f'{$t1 - $t0:.2f}')")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$secs" "$ready" "$(log_sum "$l0" "$l1" | tr ' ' '\t')" \
    "$(log_sum "$l1" "$l2" | tr ' ' '\t')" "$vda" "$st" >>"$RESULTS"
  log "$name: ${secs}s (server ready / download done after ${ready}s); requests/bytes at start $(log_sum "$l0" "$l1"), during boot $(log_sum "$l1" "$l2"); vda $vda; stats $st"
}

# The recording boot of (b) first; then the cases in rounds (each round boots every case once),
# so that a change in the machine's load during the run falls on all cases alike.
if has_case b; then
  if ((HAVE_TRACE)); then
    run_case b-record 1
    cp "$IMAGES/disk.hxz" "$WWW/disk-trace.hxz.tmp"
    "$HEXZ" trace add -q "$WWW/disk-trace.hxz.tmp" "$BENCH_DIR/boot.trace"
    mv "$WWW/disk-trace.hxz.tmp" "$WWW/disk-trace.hxz"
    "$HEXZ" trace show "$BENCH_DIR/boot.trace" --json >"$BENCH_DIR/trace.json"
    log "trace: $(tr -d '\n' <"$BENCH_DIR/trace.json")"
  else
    log "case b skipped: this build has no record-trace= (the trace interface of issue 13)"
  fi
fi
ORDERED=()
for c in local-raw local-hxz a b c d; do
  [[ "$c" == b ]] && ((!HAVE_TRACE)) && continue
  has_case "$c" && ORDERED+=("$c")
done
for r in $(seq "$RUNS"); do
  for c in "${ORDERED[@]}"; do run_case "$c" "$r"; done
done

log "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
# --- the table -----------------------------------------------------------------------------------
report=(--delay-ms "$DELAY_MS" --runs "$RUNS")
[[ -s "$BENCH_DIR/trace.json" ]] && report+=(--trace-json "$BENCH_DIR/trace.json")
python3 "$here/boot_report.py" "$RESULTS" "${report[@]}" | tee "$BENCH_DIR/table.md"
if [[ -n "$WORKDIR" ]]; then
  cp "$RESULTS" "$BENCH_DIR/table.md" "$IMAGES/"
  [[ -s "$BENCH_DIR/trace.json" ]] && cp "$BENCH_DIR/trace.json" "$IMAGES/"
fi
