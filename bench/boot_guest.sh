# shellcheck shell=bash
# Guest side of bench/boot_bench.sh (sourced, not run): the kernel, a minimal initramfs that
# runs a boot-like read workload against a read-only root disk, and one timed QEMU (TCG) boot.
#
#   guest_kernel                   sets GUEST_KVER and GUEST_KERNEL (newest /boot/vmlinuz-* whose
#                                  modules are installed; GUEST_KVER preset = that version)
#   guest_initramfs OUT WORKLOAD   writes OUT (newc cpio): busybox, the virtio/ext4 modules, and an
#                                  /init that mounts /dev/vda read-only on /root, runs WORKLOAD
#                                  (a busybox sh script) and powers the guest off
#   guest_boot NAME T0 DRIVE...    boots QEMU with the -drive argument(s) DRIVE; the console goes
#                                  to $BENCH_DIR/NAME.console; prints the seconds from T0 (an
#                                  $EPOCHREALTIME value) to the marker line, or fails
#   guest_vda NAME                 the guest's /sys/block/vda/stat fields in boot NAME
#
# The guest prints "HEXZ-BENCH-MARKER" when the workload is done, then "HEXZ-BENCH-VDA <stat>"
# (the fields of /sys/block/vda/stat: reads completed, merged, sectors read, ...), then powers
# off. Uses busybox-static and ittool.py from tests/integration (no build step).

GUEST_MARKER="HEXZ-BENCH-MARKER"
GUEST_TIMEOUT="${GUEST_TIMEOUT:-240}"
GUEST_MEM_MB="${GUEST_MEM_MB:-512}"

guest_kernel() {
  local k
  if [[ -z "${GUEST_KVER:-}" ]]; then
    for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
      if [[ -d "/lib/modules/$k" ]]; then
        GUEST_KVER="$k"
        break
      fi
    done
  fi
  [[ -n "${GUEST_KVER:-}" && -r "/boot/vmlinuz-$GUEST_KVER" ]] || {
    echo "boot_guest: no readable kernel in /boot with its modules (linux-image-amd64)" >&2
    return 1
  }
  GUEST_KERNEL="/boot/vmlinuz-$GUEST_KVER"
}

# guest_initramfs OUT WORKLOAD: see the header. Needs guest_kernel first.
guest_initramfs() {
  local out="$1" workload="$2" dir busybox kind path name
  busybox="$(command -v busybox || true)"
  if [[ -z "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
    echo "boot_guest: a static busybox is needed (package busybox-static)" >&2
    return 1
  fi
  dir="$(mktemp -d "${BENCH_DIR:-/tmp}/initramfs.XXXXXX")"
  mkdir -p "$dir/bin" "$dir/lib/modules" "$dir/proc" "$dir/sys" "$dir/root"
  cp "$busybox" "$dir/bin/busybox"
  cp "$workload" "$dir/workload.sh"
  : >"$dir/modules"
  while read -r kind path _; do
    [[ "$kind" == "insmod" ]] || continue
    name="$(basename "$path")"
    case "$name" in
    *.ko) cp "$path" "$dir/lib/modules/$name" ;;
    *.ko.xz) xz -dc "$path" >"$dir/lib/modules/${name%.xz}" && name="${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$path" >"$dir/lib/modules/${name%.zst}" && name="${name%.zst}" ;;
    *.ko.gz) gzip -dc "$path" >"$dir/lib/modules/${name%.gz}" && name="${name%.gz}" ;;
    *) continue ;;
    esac
    grep -qx "$name" "$dir/modules" || echo "$name" >>"$dir/modules"
  done < <(for m in virtio_pci virtio_blk ext4; do
    /usr/sbin/modprobe --show-depends -S "$GUEST_KVER" "$m" 2>/dev/null || true
  done)
  [[ -s "$dir/modules" ]] || echo "boot_guest: note: virtio/ext4 look built in (no modules)" >&2
  cat >"$dir/init" <<'EOF'
#!/bin/busybox sh
# Loads virtio and ext4, mounts /dev/vda read-only on /root, runs /workload.sh, powers off.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /modules); do $bb insmod "/lib/modules/$m" 2>/dev/null; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 400 ]; do $bb sleep 0.05; n=$((n + 1)); done
if $bb mount -t ext4 -o ro /dev/vda /root; then
  $bb sh /workload.sh </dev/null >/dev/null 2>&1
  echo HEXZ-BENCH-MARKER
  echo "HEXZ-BENCH-VDA $($bb cat /sys/block/vda/stat)"
else
  echo "HEXZ-BENCH-FAILED: cannot mount /dev/vda"
fi
$bb poweroff -f
EOF
  chmod 755 "$dir/init"
  python3 "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/ittool.py" newc "$out" "$dir"
  rm -rf "$dir"
}

# guest_boot NAME T0 DRIVE...: see the header.
guest_boot() {
  local name="$1" t0="$2" console="$BENCH_DIR/$1.console" tfile="$BENCH_DIR/$1.marker" d
  shift 2
  local drives=()
  for d in "$@"; do drives+=(-drive "$d"); done
  rm -f "$tfile"
  : >"$console"
  timeout --kill-after=5 "$GUEST_TIMEOUT" qemu-system-x86_64 \
    -accel tcg -m "$GUEST_MEM_MB" -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -serial stdio -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" "${drives[@]}" \
    -append "console=ttyS0 quiet panic=-1" 2>"$BENCH_DIR/$name.qemu.log" </dev/null |
    while IFS= read -r line; do
      line="${line%$'\r'}"
      if [[ "$line" == "$GUEST_MARKER" && ! -e "$tfile" ]]; then echo "$EPOCHREALTIME" >"$tfile"; fi
      printf '%s\n' "$line" >>"$console"
    done
  [[ -s "$tfile" ]] || {
    echo "boot_guest: $name: no marker (console: $console, qemu: $BENCH_DIR/$name.qemu.log)" >&2
    tail -n 5 "$console" "$BENCH_DIR/$name.qemu.log" >&2
    return 1
  }
  python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$(cat "$tfile")"
}

# guest_vda NAME: the guest's /sys/block/vda/stat fields from boot NAME, space-separated.
guest_vda() {
  sed -n 's/^HEXZ-BENCH-VDA //p' "$BENCH_DIR/$1.console" | tr -s ' ' | sed 's/^ //'
}
