# Shared helpers of the remote tests: free ports, nginx and a throwaway Ceph radosgw, all on
# 127.0.0.1 in a private temporary directory, stopped by PID when the test exits.
# Installs nothing: scripts/install-deps.sh provides nginx, ceph-mon, ceph-osd, radosgw, curl.
set -euo pipefail

: "${HEXZ:?HEXZ must name the hexz binary}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hexz-remote.XXXXXX")"
chmod 755 "$WORK"  # nginx workers run as an unprivileged user
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # give each daemon a moment, then insist
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [[ "${HEXZ_REMOTE_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {  # URL: waits up to 20 s for any HTTP answer (an https certificate is not checked)
  for _ in $(seq 1 200); do
    if curl -s -k -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  fail "no server at $1"
}

# make_cert DIR: a self-signed certificate for 127.0.0.1 (DIR/cert.pem, DIR/key.pem), valid for
# a day, made with openssl.
make_cert() {
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 \
    || fail "openssl could not make a certificate in $1"
}

# start_nginx ROOT [tls]: serves ROOT on a free port; sets NGINX_URL and NGINX_PID.
# With "tls": https with a fresh self-signed certificate, NGINX_CERT (trust it with HEXZ_CA_FILE).
# /limited/ answers 503 to requests above 2 per second (a transient failure retries recover).
# /private/ answers 403.
start_nginx() {
  local root="$1" tls="${2:-}" port dir listen scheme=http
  port="$(free_port)"
  dir="$WORK/nginx"
  mkdir -p "$dir"
  listen="listen 127.0.0.1:$port;"
  if [[ "$tls" == tls ]]; then
    make_cert "$dir/tls"
    NGINX_CERT="$dir/tls/cert.pem"
    listen="listen 127.0.0.1:$port ssl; ssl_certificate $NGINX_CERT; ssl_certificate_key $dir/tls/key.pem;"
    scheme=https
  fi
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  limit_req_zone \$binary_remote_addr zone=limited:1m rate=2r/s;
  server {
    $listen
    root $root;
    location /limited/ { limit_req zone=limited; limit_req_status 503; }
    location /private/ { return 403; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_URL="$scheme://127.0.0.1:$port"
  NGINX_LOG="$dir/access.log"
  wait_http "$NGINX_URL/"
}

# start_radosgw: a single-node Ceph cluster (one mon, one memstore OSD, pool size 1) and
# radosgw (beast) on free ports; creates an S3 user. Sets S3_ENDPOINT, AWS_* and RGW_PIDS.
start_radosgw() {
  local dir="$WORK/ceph" mon_port rgw_port fsid
  mkdir -p "$dir"/{mon,osd,run,log}
  mon_port="$(free_port)"
  rgw_port="$(free_port)"
  fsid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc
ms bind ipv6 = false
paxos propose interval = 0.1
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
[mon]
mon data = $dir/mon/\$name
[osd]
osd data = $dir/osd/\$name
osd objectstore = memstore
memstore device bytes = 1073741824
osd max object size = 134217728
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw enable usage log = false
CONF
  local conf=(-c "$dir/ceph.conf")
  : >"$dir/keyring"
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap" >/dev/null 2>&1
  ceph-mon "${conf[@]}" -f -i a >"$dir/log/mon.out" 2>&1 &
  PIDS+=($!)
  local osd_id
  osd_id="$(timeout 30 ceph "${conf[@]}" osd create 2>/dev/null)"
  mkdir -p "$dir/osd/osd.$osd_id"
  ceph-osd "${conf[@]}" -i "$osd_id" --mkfs >"$dir/log/osd-mkfs.out" 2>&1
  ceph-osd "${conf[@]}" -f -i "$osd_id" >"$dir/log/osd.out" 2>&1 &
  PIDS+=($!)
  mkdir -p "$dir/rgw"
  radosgw "${conf[@]}" -f -n client.rgw >"$dir/log/rgw.out" 2>&1 &
  RGW_PID=$!
  PIDS+=("$RGW_PID")
  S3_ENDPOINT="http://127.0.0.1:$rgw_port"
  wait_http "$S3_ENDPOINT/"
  export AWS_ACCESS_KEY_ID=hexztestaccess
  export AWS_SECRET_ACCESS_KEY=hexztestsecret0123456789
  export AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="$S3_ENDPOINT"
  unset AWS_SESSION_TOKEN
  timeout 60 radosgw-admin "${conf[@]}" user create --uid hexz --display-name hexz \
    --access-key "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" >/dev/null 2>&1 \
    || fail "radosgw-admin user create failed"
  CEPH_CONF_DIR="$dir"
}

# s3_request METHOD BUCKET[/KEY] [curl args...]: a signed request with curl (bucket creation).
s3_curl() {
  local method="$1" path="$2"
  shift 2
  curl -sS -f -X "$method" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$S3_ENDPOINT/$path"
}

# serve_memory_check NAME SNAP IMAGE [serve-memory options...]: serves SNAP with `hexz
# serve-memory` to the fake Firecracker (two regions with a gap), which touches every page from
# four threads, compares each with IMAGE, checks that a removed range reads zeros and hangs up;
# the server must then exit 0. Skipped (with a note) where userfaultfd is not permitted.
serve_memory_check() {
  local name="$1" snap="$2" image="$3"
  shift 3
  if [[ -z "${FAKE_FIRECRACKER:-}" ]] || [[ "$(id -u)" != 0 ]]; then
    echo "SKIP $name: needs root (userfaultfd) and FAKE_FIRECRACKER"
    return 0
  fi
  local sock="$WORK/uffd-$name.sock" size pages first
  size="$(stat -c %s "$image")"
  pages=$(((size + 4095) / 4096))
  first=$((pages / 2 * 4096))
  "$HEXZ" serve-memory "$snap" --socket "$sock" -q --stats "$@" 2>"$WORK/serve-$name.txt" &
  local spid=$!
  "$FAKE_FIRECRACKER" vmm --socket "$sock" --image "$image" --threads 4 --remove \
    --regions "$first,$((pages * 4096 - first))" >"$WORK/vmm-$name.txt" 2>&1 ||
    fail "$name: the fake VMM saw wrong memory: $(cat "$WORK/vmm-$name.txt")"
  wait "$spid" || fail "$name: serve-memory failed: $(cat "$WORK/serve-$name.txt")"
  [[ ! -e "$sock" ]] || fail "$name: socket left behind"
  pass "$name: $(cat "$WORK/vmm-$name.txt"); $(cut -c1-160 "$WORK/serve-$name.txt")"
}
