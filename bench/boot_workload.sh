# The guest's boot-like read workload (busybox sh inside the initramfs of bench/boot_guest.sh;
# the corpus disk's root is mounted read-only on /root). It does what the early part of a
# Debian boot does to its disk: starts dynamically linked programs (the loader pages in the
# parts of the binaries and shared libraries they touch, scattered over the disk), imports
# Python and Perl modules (many small files), and reads configuration files in /etc. Sized
# like the boot (338 requests, 20.3 MB): about 370 virtio reads, 23 MB, on disk-v1.img.
# Output is discarded; errors do not stop it (a missing file is skipped).
R=/root
run() { chroot "$R" "$@" >/dev/null 2>&1; }

run /usr/lib/systemd/systemd --version
run /usr/bin/journalctl --version
run /usr/bin/dbus-daemon --version
run /usr/bin/ls -l /etc /usr/lib/systemd/system
run /usr/bin/apt-get --version
run /usr/bin/gpg --version
run /usr/bin/openssl version -a
run /usr/bin/curl --version
run /usr/bin/perl -MPOSIX -MFile::Spec -MGetopt::Long -e 1
run /usr/bin/python3 -c 'import os, re, json, ssl, socket, logging, subprocess, email.parser, http.client, sqlite3, argparse'
for f in fstab passwd group shadow nsswitch.conf hostname hosts host.conf resolv.conf \
  login.defs environment locale.gen os-release ld.so.conf adduser.conf sysctl.conf; do
  cat "$R/etc/$f" >/dev/null 2>&1
done
