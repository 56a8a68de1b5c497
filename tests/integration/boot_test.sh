#!/usr/bin/env bash
# QEMU boots a small Linux whose root file system is a hexz snapshot served by the nbdkit plugin.
#
# The root file system is built here from Debian packages: an ext4 image (mke2fs -d) holding
# busybox-static as /bin/sh and a marker file with random content made for this run. It is
# packed into a snapshot and served over a unix socket by `nbdkit hexz`; QEMU (TCG) boots the
# Debian kernel (linux-image-amd64) with the disk on virtio-blk and
#   root=/dev/vda ro panic=-1 init=/bin/sh -- -c "echo; echo HEXZ-BOOT-OK; cat /marker"
# The test passes when the guest console shows HEXZ-BOOT-OK and the random marker, each at the
# start of a line: the marker exists only inside the snapshot. QEMU exits by itself when the
# shell ends (kernel panic, panic=-1, -no-reboot).
#
# Then the writable workflow (README "Run with writes, commit back"): a qcow2 overlay whose
# backing file is the nbdkit export; the guest boots from it read-write and writes a second
# random marker to /written; `hexz commit` folds the overlay into a thin snapshot over root.hxz;
# QEMU boots that one read-only (served by nbdkit) and must find the file.
#
# The initramfs is a minimal one built here (busybox and the kernel's own virtio/ext4 modules):
# it loads the modules, mounts root= read-only and switch_roots into init=. Debian's initrd
# works too but takes ~25 s more under TCG: HEXZ_BOOT_INITRD=debian uses /boot/initrd.img-*.
# HEXZ_BOOT_KERNEL=VERSION picks a kernel (default: the newest in /boot with its modules).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export PATH="$PATH:/usr/sbin:/sbin"

BOOT_TIMEOUT="${HEXZ_BOOT_TIMEOUT:-100}"

setup boot
[[ -n "${HEXZ_PLUGIN:-}" && -f "${HEXZ_PLUGIN}" ]] || {
  echo "HEXZ_PLUGIN is not set to nbdkit-hexz-plugin.so" >&2
  exit 1
}
need_cmd nbdkit qemu-system-x86_64 mke2fs modprobe
BUSYBOX="$(command -v busybox || true)"
[[ -n "$BUSYBOX" ]] || skip "busybox is not installed (package busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  skip "$BUSYBOX is dynamically linked; install busybox-static"
fi

# --- the kernel --------------------------------------------------------------------------------
kver="${HEXZ_BOOT_KERNEL:-}"
if [[ -z "$kver" ]]; then
  for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
    if [[ -d "/lib/modules/$k" ]]; then
      kver="$k"
      break
    fi
  done
fi
[[ -n "$kver" && -r "/boot/vmlinuz-$kver" ]] ||
  skip "no readable kernel in /boot with its modules (package linux-image-amd64)"
KERNEL="/boot/vmlinuz-$kver"
echo "kernel: $KERNEL"
cd "$TMP" || exit 1

# --- the root file system, packed into a snapshot ----------------------------------------------
MARKER="HEXZ-ROOT-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p rootfs/bin rootfs/dev rootfs/proc rootfs/sys rootfs/data
cp "$BUSYBOX" rootfs/bin/busybox
for applet in sh cat echo ls mount poweroff sync; do ln -s busybox "rootfs/bin/$applet"; done
printf '%s\n' "$MARKER" >rootfs/marker
head -c $((3 << 20)) /dev/urandom >rootfs/data/random.bin  # real data blocks besides busybox
check "mke2fs -d builds the root file system" mke2fs -q -F -t ext4 -L hexzroot -d rootfs root.img 64M
check "pack the root file system" "$HEXZ" pack --disk root.img -o root.hxz -q

# --- the initramfs -----------------------------------------------------------------------------
if [[ "${HEXZ_BOOT_INITRD:-}" == "debian" ]]; then
  INITRD="/boot/initrd.img-$kver"
  [[ -r "$INITRD" ]] || skip "no $INITRD"
else
  mkdir -p initramfs/bin initramfs/lib/modules initramfs/proc initramfs/sys initramfs/root
  cp "$BUSYBOX" initramfs/bin/busybox
  : >initramfs/modules
  while read -r kind path _; do
    [[ "$kind" == "insmod" ]] || continue  # "builtin NAME": nothing to load
    name="$(basename "$path")"
    case "$name" in
    *.ko) cp "$path" "initramfs/lib/modules/$name" ;;
    *.ko.xz) xz -dc "$path" >"initramfs/lib/modules/${name%.xz}" && name="${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$path" >"initramfs/lib/modules/${name%.zst}" && name="${name%.zst}" ;;
    *.ko.gz) gzip -dc "$path" >"initramfs/lib/modules/${name%.gz}" && name="${name%.gz}" ;;
    *) continue ;;
    esac
    grep -qx "$name" initramfs/modules || echo "$name" >>initramfs/modules
  done < <(modprobe --show-depends -S "$kver" virtio_pci 2>/dev/null
  modprobe --show-depends -S "$kver" virtio_blk 2>/dev/null
  modprobe --show-depends -S "$kver" ext4 2>/dev/null)
  cat >initramfs/init <<'EOF'
#!/bin/busybox sh
# Minimal initramfs: load virtio and ext4, mount root= read-only, switch_root into init=.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /modules); do $bb insmod "/lib/modules/$m" 2>/dev/null; done
root=/dev/vda
init=/sbin/init
opts=ro
for arg in $($bb cat /proc/cmdline); do
  case "$arg" in
  root=*) root="${arg#root=}" ;;
  init=*) init="${arg#init=}" ;;
  rw) opts=rw ;;
  esac
done
n=0
while [ ! -b "$root" ] && [ $n -lt 200 ]; do $bb sleep 0.05; n=$((n + 1)); done
$bb mount -o "$opts" "$root" /root || { echo "initramfs: cannot mount $root"; exit 1; }
$bb mount --move /dev /root/dev
$bb umount /proc
exec $bb switch_root /root "$init" "$@"
EOF
  chmod 755 initramfs/init
  check "kernel modules for virtio-blk and ext4 found" test -s initramfs/modules
  check "build the initramfs" "${ITTOOL[@]}" newc initramfs.img initramfs
  INITRD="$TMP/initramfs.img"
fi

# --- serve the snapshot and boot ---------------------------------------------------------------
SOCK="$TMP/root.sock"
if ! start_nbdkit "$SOCK" snapshot=root.hxz; then
  failed "nbdkit did not start"
  finish
  exit 1
fi
pass "nbdkit serves root.hxz"

start=$SECONDS
timeout --kill-after=5 "$BOOT_TIMEOUT" qemu-system-x86_64 \
  -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$TMP/console.log" \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -drive "file=nbd+unix:///?socket=$SOCK,format=raw,if=virtio,readonly=on" \
  -append 'console=ttyS0 root=/dev/vda ro panic=-1 quiet init=/bin/sh -- -c "echo; echo HEXZ-BOOT-OK; cat /marker"' \
  >qemu.log 2>&1
rc=$?
elapsed=$((SECONDS - start))
echo "qemu exited with status $rc after ${elapsed}s"
tr -d '\r' <console.log >console.txt 2>/dev/null || : >console.txt
check "QEMU exited by itself within ${BOOT_TIMEOUT}s (status $rc)" test "$rc" -lt 124
check "the guest's /bin/sh ran (HEXZ-BOOT-OK at the start of a line)" \
  grep -qx "HEXZ-BOOT-OK" console.txt
check "the guest read the random marker from its root (the snapshot)" \
  grep -qx "$MARKER" console.txt
# --- run with writes: a qcow2 overlay over the export, then commit -------------------------------
# boot NAME DRIVE APPEND_EXTRA COMMAND: boots with DRIVE as virtio disk, console in NAME.txt.
boot() {
  local name="$1" drive="$2" extra="$3" command="$4"
  timeout --kill-after=5 "$BOOT_TIMEOUT" qemu-system-x86_64 \
    -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$TMP/$name.log" -kernel "$KERNEL" -initrd "$INITRD" -drive "$drive" \
    -append "console=ttyS0 root=/dev/vda $extra panic=-1 quiet init=/bin/sh -- -c \"$command\"" \
    >"qemu-$name.log" 2>&1
  local status=$?
  tr -d '\r' <"$TMP/$name.log" >"$name.txt" 2>/dev/null || : >"$name.txt"
  return $status
}
MARKER2="HEXZ-WRITTEN-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
check "a qcow2 overlay over the nbdkit export" \
  qemu-img create -q -f qcow2 -b "nbd+unix:///?socket=$SOCK" -F raw overlay.qcow2
boot write "file=overlay.qcow2,format=qcow2,if=virtio" rw \
  "mount -t proc proc /proc; echo $MARKER2 >/written; sync; mount -o remount,ro /; echo HEXZ-WRITE-OK"
check "the guest booted from the overlay and wrote /written" grep -qx "HEXZ-WRITE-OK" write.txt
stop_nbdkit
check "hexz commit folds the overlay into a thin snapshot (export stopped)" \
  "$HEXZ" commit overlay.qcow2 --base root.hxz -o root-v2.hxz -q
check "the committed snapshot depends on root.hxz" \
  sh -c "'$HEXZ' info root-v2.hxz | grep -q 'root.hxz'"
SOCK2="$TMP/root-v2.sock"
if start_nbdkit "$SOCK2" snapshot=root-v2.hxz; then
  boot reread "file=nbd+unix:///?socket=$SOCK2,format=raw,if=virtio,readonly=on" ro \
    "echo; echo HEXZ-BOOT-OK; cat /written"
  check "the committed snapshot boots read-only and holds the guest's file" \
    grep -qx "$MARKER2" reread.txt
  stop_nbdkit
else
  failed "nbdkit did not serve root-v2.hxz"
fi

if ((FAILED > 0)); then
  for n in write reread; do
    echo "--- guest console of the $n boot (last 20 lines) ---"
    tail -n 20 "$n.txt" 2>/dev/null
  done
  echo "--- guest console (last 30 lines) ---"
  tail -n 30 console.txt
  echo "--- qemu ---"
  tail -n 10 qemu.log
  echo "--- nbdkit ---"
  tail -n 10 "$SOCK.log"
fi
finish
