#!/usr/bin/env python3
"""Build disk-v1.img and disk-v2.img for the hexz benchmark corpus.

disk-v1.img  raw ext4 image (2 GiB at scale 1) holding ~1.5 GB of real
             Debian files taken from this machine: the files of a
             deterministic sample of the installed dpkg packages (binaries,
             shared libraries, headers, docs, locale data, ...), a slice of
             /var/cache/apt/archives (compressed .deb archives), and the
             matching dpkg database / logs / a few /etc files.
disk-v2.img  the same system "a few weeks later": ~10% of the packages
             (by bytes) removed, ~10% new ones added (installed packages
             not in v1, and packages from the apt cache unpacked with
             dpkg-deb -x), ~15% upgraded (real old->new versions where the
             apt cache has two versions of a package; otherwise files are
             rebuilt/edited/replaced), config and log files edited, apt
             cache partly cleaned and refilled.  The image is made by a
             fresh mke2fs from the new tree, so the block layout shifts.

Everything is deterministic: candidates are ranked by SHA-256 of
(seed, name), per-file edits use a Random seeded from the path, timestamps
are fixed, mke2fs gets a fixed UUID / hash seed / clock, and
ext4_normalize.py fixes the host ctimes that mke2fs copies.

Only Python 3 stdlib, plus the dpkg-deb and mke2fs commands.
"""
import argparse
import bisect
import glob
import gzip
import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep scripts/corpus/ free of __pycache__
sys.path.insert(0, HERE)
import ext4_normalize  # noqa: E402

GiB = 1 << 30
EPOCH_V1 = 1704067200            # 2024-01-01 00:00:00 UTC
EPOCH_V2 = EPOCH_V1 + 45 * 86400  # six weeks later
UUID_V1 = "4865787a-636f-7270-7573-2d6469736b31"
UUID_V2 = "4865787a-636f-7270-7573-2d6469736b32"
HASH_SEED = "4865787a-636f-7270-7573-2d6861736831"

DPKG_INFO = "/var/lib/dpkg/info"
DPKG_STATUS = "/var/lib/dpkg/status"
APT_CACHE = "/var/cache/apt/archives"

# never copied: virtual/volatile trees, other users' data, secrets
EXCLUDE_PREFIXES = ("/proc/", "/sys/", "/dev/", "/run/", "/tmp/", "/var/tmp/",
                    "/home/", "/root/", "/var/cache/", "/var/lib/dpkg/",
                    "/var/log/", "/boot/", "/work/", "/media/", "/mnt/")
EXCLUDE_PARTS = ("/etc/shadow", "/etc/gshadow", "/etc/ssl/private",
                 "/etc/ssh/ssh_host_", "/etc/machine-id", "/private/")

T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def rank(seed, name):
    return hashlib.sha256(("%s\0%s" % (seed, name)).encode("utf-8", "surrogateescape")).digest()


def rng_for(seed, name):
    return random.Random(int.from_bytes(rank(seed, name)[:8], "little"))


# ----------------------------------------------------------------- packages

class Pkg:
    __slots__ = ("name", "listname", "files", "nbytes", "maxfile", "source")

    def __init__(self, name, listname, files, source="installed"):
        self.name = name          # package name without :arch
        self.listname = listname  # name of the dpkg info files (may have :arch)
        self.files = files        # list of (abs path in image, kind 'f'/'l', size, host source path)
        self.nbytes = sum(f[2] for f in files)
        self.maxfile = max([f[2] for f in files] or [0])
        self.source = source


def excluded(path):
    if path.startswith(EXCLUDE_PREFIXES):
        return True
    return any(p in path for p in EXCLUDE_PARTS)


def pristine_conffiles(status_text):
    """{path: md5} of the conffiles dpkg knows, from the status file."""
    out = {}
    for st in status_text.split("\n\n"):
        i = st.find("\nConffiles:\n")
        if i < 0:
            continue
        for line in st[i + 12:].split("\n"):
            if not line.startswith(" "):
                break
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("/etc/"):
                out[parts[0]] = parts[1]
    return out


def is_pristine(path, conffiles):
    """/etc files are only taken when they are a package's unmodified
    conffile, so no local configuration (let alone a secret) is copied."""
    want = conffiles.get(path)
    if not want:
        return False
    try:
        with open(path, "rb") as fh:
            return hashlib.md5(fh.read()).hexdigest() == want
    except OSError:
        return False


def scan_installed(conffiles):
    """Regular files and symlinks of every installed package, by dpkg's lists.
    Paths are canonicalised (parent dir resolved, so /bin/x == /usr/bin/x)
    and each path belongs to the first package (in name order) listing it."""
    realdir = {}
    seen = set()
    pkgs = {}
    for lst in sorted(glob.glob(os.path.join(DPKG_INFO, "*.list"))):
        listname = os.path.basename(lst)[:-5]
        name = listname.split(":")[0]
        files = []
        with open(lst, "rb") as fh:
            raw = fh.read().split(b"\n")
        for line in raw:
            p = line.decode("utf-8", "surrogateescape")
            if not p.startswith("/") or p == "/.":
                continue
            d, b = os.path.split(p)
            rd = realdir.get(d)
            if rd is None:
                rd = realdir[d] = os.path.realpath(d)
            cp = os.path.join(rd, b)
            if cp in seen or excluded(cp) or cp.count("/") < 2:
                continue  # top-level entries come from the skeleton
            try:
                st = os.lstat(cp)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                if cp.startswith("/etc/") and not is_pristine(cp, conffiles):
                    continue
                files.append((cp, "f", st.st_size, cp))
            elif stat.S_ISLNK(st.st_mode):
                files.append((cp, "l", 0, cp))
            else:
                continue
            seen.add(cp)
        if files and name not in pkgs:
            pkgs[name] = Pkg(name, listname, files)
    return pkgs


def deb_name(fn):
    return os.path.basename(fn).split("_")[0]


def deb_version(fn):
    parts = os.path.basename(fn).split("_")
    return parts[1].replace("%3a", ":") if len(parts) > 2 else ""


def version_sort(debs):
    """Sort .deb paths of one package by dpkg version order (insertion sort,
    the lists are tiny)."""
    out = []
    for d in debs:
        i = len(out)
        while i > 0 and subprocess.run(
                ["dpkg", "--compare-versions", deb_version(out[i - 1]), "gt", deb_version(d)]
        ).returncode == 0:
            i -= 1
        out.insert(i, d)
    return out


def scan_cache():
    debs = sorted(glob.glob(os.path.join(APT_CACHE, "*.deb")))
    by_name = {}
    for d in debs:
        by_name.setdefault(deb_name(d), []).append(d)
    multi = {n: version_sort(v) for n, v in by_name.items() if len(v) > 1}
    return debs, by_name, multi


def extract_deb(deb, dest):
    """dpkg-deb -x into dest; returns a Pkg whose host sources are in dest."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    subprocess.run(["dpkg-deb", "-x", deb, dest], check=True)
    files = []
    for root, dirs, names in os.walk(dest):
        dirs.sort()
        for n in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            src = os.path.join(root, n)
            rel = "/" + os.path.relpath(src, dest)
            # merged-/usr: a deb may still ship /bin, /lib ...
            for a, b in (("/bin/", "/usr/bin/"), ("/sbin/", "/usr/sbin/"),
                         ("/lib/", "/usr/lib/"), ("/lib64/", "/usr/lib64/"),
                         ("/lib32/", "/usr/lib32/")):
                if rel.startswith(a):
                    rel = b + rel[len(a):]
                    break
            if excluded(rel) or rel.count("/") < 2:
                continue
            st = os.lstat(src)
            if stat.S_ISREG(st.st_mode):
                files.append((rel, "f", st.st_size, src))
            elif stat.S_ISLNK(st.st_mode):
                files.append((rel, "l", 0, src))
    return Pkg(deb_name(deb), deb_name(deb), files, source=deb)


def deb_control(deb):
    r = subprocess.run(["dpkg-deb", "-f", deb], capture_output=True, check=True)
    return r.stdout.decode("utf-8", "replace").rstrip("\n")


def pick_by_bytes(cands, seed, budget, cap=None, key=lambda p: p.name, size=lambda p: p.nbytes):
    """Walk candidates in rank order, take those that fit, until budget."""
    out, total = [], 0
    for c in sorted(cands, key=lambda c: rank(seed, key(c))):
        s = size(c)
        if s <= 0 or (cap is not None and s > cap):
            continue
        if total + s > budget * 1.15 and total > 0.5 * budget:
            continue
        out.append(c)
        total += s
        if total >= budget:
            break
    return out, total


# ------------------------------------------------------------------ staging

SKELETON_DIRS = ["boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "root",
                 "run", "srv", "sys", "tmp", "usr/bin", "usr/lib", "usr/lib64", "usr/sbin",
                 "usr/share", "usr/local/bin", "var/cache/apt/archives/partial",
                 "var/lib/dpkg/info", "var/lib/apt/lists", "var/log/apt", "var/tmp",
                 "var/spool", "var/mail", "var/backups", "home/user"]
SKELETON_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib",
                  "lib64": "usr/lib64"}


class Stage:
    def __init__(self, root):
        self.root = os.path.realpath(root)

    def path(self, abspath):
        return self.root + abspath

    def _check(self, dst):
        parent = os.path.realpath(os.path.dirname(dst))
        if parent != self.root and not parent.startswith(self.root + "/"):
            raise RuntimeError("refusing to write outside the staging tree: %s" % dst)

    def mkparent(self, dst):
        d = os.path.dirname(dst)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)

    def ok_dest(self, abspath):
        """False if an existing component of the destination is a symlink
        or a non-directory (conflicting package layouts): skip the entry."""
        cur = self.root
        for comp in abspath.strip("/").split("/")[:-1]:
            cur = os.path.join(cur, comp)
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False
        return True

    def remove(self, abspath):
        dst = self.path(abspath)
        try:
            st = os.lstat(dst)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            return
        os.unlink(dst)

    def put_file(self, abspath, src, mtime=None, check=False):
        dst = self.path(abspath)
        if check and not self.ok_dest(abspath):
            return False
        self.mkparent(dst)
        if check:
            self._check(dst)
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                return False
            os.unlink(dst)
        shutil.copyfile(src, dst)
        st = os.stat(src)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        mt = st.st_mtime_ns if mtime is None else int(mtime * 1e9)
        os.utime(dst, ns=(mt, mt))
        return True

    def put_symlink(self, abspath, target, mtime, check=False):
        dst = self.path(abspath)
        if check and not self.ok_dest(abspath):
            return False
        self.mkparent(dst)
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                return False
            os.unlink(dst)
        os.symlink(target, dst)
        os.utime(dst, ns=(int(mtime * 1e9),) * 2, follow_symlinks=False)
        return True

    def write(self, abspath, data, mtime, mode=0o644):
        """Replace a file's content (new inode: never writes through links)."""
        dst = self.path(abspath)
        self.mkparent(dst)
        self._check(dst)
        tmp = dst + ".hexz-tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.utime(tmp, ns=(int(mtime * 1e9),) * 2)
        os.replace(tmp, dst)

    def read(self, abspath):
        with open(self.path(abspath), "rb") as fh:
            return fh.read()

    def mode(self, abspath):
        return stat.S_IMODE(os.lstat(self.path(abspath)).st_mode)

    def prune_empty_dirs(self, abspath):
        d = os.path.dirname(self.path(abspath))
        keep = {os.path.join(self.root, s) for s in SKELETON_DIRS}
        while d.startswith(self.root + "/") and d not in keep:
            try:
                os.rmdir(d)
            except OSError:
                return
            d = os.path.dirname(d)

    def install_pkg(self, pkg, mtime=None, check=False):
        n = 0
        for abspath, kind, size, src in pkg.files:
            if kind == "f":
                ok = self.put_file(abspath, src, mtime=mtime, check=check)
            else:
                lt = os.lstat(src)
                ok = self.put_symlink(abspath, os.readlink(src),
                                      lt.st_mtime if mtime is None else mtime, check=check)
            n += bool(ok)
        return n

    def skeleton(self):
        os.makedirs(self.root, exist_ok=True)
        for d in SKELETON_DIRS:
            os.makedirs(self.path("/" + d), exist_ok=True)
        for l, t in SKELETON_LINKS.items():
            if not os.path.lexists(self.path("/" + l)):
                os.symlink(t, self.path("/" + l))
        os.chmod(self.path("/tmp"), 0o1777)
        os.chmod(self.path("/var/tmp"), 0o1777)
        os.chmod(self.path("/root"), 0o700)

    def finish(self, epoch):
        """Fixed mtime on every directory (their content just changed)."""
        for root, dirs, files in os.walk(self.root, topdown=False):
            os.utime(root, ns=(epoch * 10**9,) * 2)
        for l in SKELETON_LINKS:
            os.utime(self.path("/" + l), ns=(epoch * 10**9,) * 2, follow_symlinks=False)

    def du(self):
        total, nfiles = 0, 0
        for root, dirs, files in os.walk(self.root):
            for n in files:
                st = os.lstat(os.path.join(root, n))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
                    nfiles += 1
        return total, nfiles


# -------------------------------------------------------- file modifications

def classify(data):
    h = data[:8]
    if h[:4] == b"\x7fELF":
        return "elf"
    if h[:2] == b"\x1f\x8b":
        return "gzip"
    if (h[:6] == b"\xfd7zXZ\x00" or h[:4] in (b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"\x89PNG")
            or h[:3] == b"BZh" or h[:2] == b"\xff\xd8"):
        return "compressed"
    if b"\0" in data[:8192]:
        return "binary"
    return "text"


DIGITS = bytes.maketrans(b"0123456789", b"1234567890")


def mutate_line(line, rng):
    if any(48 <= c <= 57 for c in line[:200]):
        i = rng.randrange(len(line))
        return line[:i] + line[i:].translate(DIGITS)
    if len(line) > 8 and rng.random() < 0.5:
        i = rng.randrange(len(line) // 2)
        return line[:i] + line[i:][::-1] if rng.random() < 0.2 else line[:i] + b" " + line[i:]
    return line + b"  # updated"


def edit_text(data, rng, frac):
    """Rewrite/insert/delete about `frac` of the lines (at least one)."""
    lines = data.split(b"\n")
    k = max(1, int(len(lines) * frac))
    for _ in range(k):
        i = rng.randrange(len(lines))
        r = rng.random()
        if r < 0.55:
            lines[i] = mutate_line(lines[i], rng)
        elif r < 0.85 or len(lines) < 3:
            lines.insert(i, lines[rng.randrange(len(lines))])
        else:
            del lines[i]
    return b"\n".join(lines)


def rebuild_binary(data, rng):
    """A 'recompiled' binary: a shared prefix, then the rest shifted by a few
    bytes (new code) with scattered small changes (relocations), and a
    slightly different length.  Compressibility stays that of the original;
    4 KiB blocks past the prefix no longer match."""
    n = len(data)
    if n < 256:
        return data + bytes(rng.randrange(1, 64))
    keep = int(n * rng.uniform(0.0, 0.3))
    shift = rng.randrange(1, 4096)
    src = rng.randrange(max(1, n - shift))
    tail = bytearray(data[keep:])
    m = len(tail)
    for _ in range(m // 1024 + 1):
        p = rng.randrange(m)
        tail[p] = (tail[p] + rng.randrange(1, 256)) & 0xFF
    delta = int(n * rng.uniform(-0.02, 0.04))
    if delta > 0:
        s = rng.randrange(max(1, n - delta))
        tail += data[s:s + delta]
    elif delta < 0:
        del tail[delta:]
    return data[:keep] + data[src:src + shift] + bytes(tail)


def changelog_entry(pkg, rng):
    ver = "%d.%d.%d-%d" % (rng.randrange(1, 20), rng.randrange(0, 40), rng.randrange(0, 30),
                          rng.randrange(1, 4))
    return ("%s (%s) bookworm-security; urgency=medium\n\n"
            "  * Non-maintainer upload by the Security Team.\n"
            "  * Fix CVE-2024-%05d: out-of-bounds read in parser.\n"
            "  * Backport upstream fix for memory leak (Closes: #%d)\n\n"
            " -- Debian Security Team <team@security.debian.org>  Mon, 12 Feb 2024 10:%02d:00 +0000\n\n"
            % (pkg, ver, rng.randrange(20000, 40000), rng.randrange(1000000, 1070000),
               rng.randrange(60))).encode()


class Upgrader:
    """Turns a v1 package into an 'upgraded' one inside the staging tree."""

    def __init__(self, stage, keep_prob, replace_pool):
        self.stage = stage
        self.keep_prob = keep_prob
        self.pool = sorted(replace_pool)  # (size, path) of ELF-candidate files not in the corpus
        self.pool_sizes = [s for s, _ in self.pool]
        self.used = set()
        self.stats = {}

    def other_binary(self, size, rng):
        i = bisect.bisect_left(self.pool_sizes, size)
        for j in sorted(range(max(0, i - 12), min(len(self.pool), i + 12)),
                        key=lambda j: abs(self.pool_sizes[j] - size)):
            s, p = self.pool[j]
            if p in self.used or not (0.8 * size <= s <= 1.25 * size):
                continue
            try:
                with open(p, "rb") as fh:
                    if fh.read(4) != b"\x7fELF":
                        continue
                    fh.seek(0)
                    self.used.add(p)
                    return fh.read()
            except OSError:
                continue
        return None

    def upgrade(self, pkg, mtime):
        for abspath, kind, size, src in pkg.files:
            if kind != "f":
                continue
            rng = rng_for("v2-upgrade-file", abspath)
            base = os.path.basename(abspath)
            if base == "copyright" or rng.random() < self.keep_prob:
                self._count("unchanged", size)
                continue
            try:
                data = self.stage.read(abspath)
                mode = self.stage.mode(abspath)
            except FileNotFoundError:
                continue
            cls = classify(data)
            new = None
            if cls == "elf" and rng.random() < 0.3:
                new = self.other_binary(len(data), rng)
                if new is not None:
                    cls = "elf-replaced"
            if new is None:
                if cls == "text":
                    new = edit_text(data, rng, rng.uniform(0.01, 0.06))
                elif cls == "gzip" and len(data) < (4 << 20):
                    try:
                        plain = gzip.decompress(data)
                        if base.startswith("changelog"):
                            plain = changelog_entry(pkg.name, rng) + plain
                        else:
                            plain = edit_text(plain, rng, 0.02)
                        new = gzip.compress(plain, 9, mtime=0)
                    except (OSError, EOFError, ValueError):
                        new = rebuild_binary(data, rng)
                else:
                    new = rebuild_binary(data, rng)
            self.stage.write(abspath, new, mtime, mode)
            self._count(cls, size)

    def _count(self, k, size):
        c = self.stats.setdefault(k, [0, 0])
        c[0] += 1
        c[1] += size


# ----------------------------------------------------- dpkg database & logs

def read_status_text():
    with open(DPKG_STATUS, "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def read_status(text):
    out = {}
    for st in text.split("\n\n"):
        st = st.strip("\n")
        if not st.startswith("Package: "):
            continue
        name = st.split("\n", 1)[0][9:].strip()
        out.setdefault(name, st)
    return out


def bump_version(stanza, rng):
    lines = stanza.split("\n")
    for i, l in enumerate(lines):
        if l.startswith("Version: "):
            v = l[9:]
            lines[i] = "Version: " + (v + "+deb12u%d" % rng.randrange(1, 4))
    return "\n".join(lines)


def write_dpkg_db(stage, pkgs, status, mtime, extra_stanzas=None):
    stanzas = []
    for p in sorted(pkgs, key=lambda p: p.name):
        st = (extra_stanzas or {}).get(p.name) or status.get(p.name)
        if st:
            stanzas.append(st)
        # file list / md5sums as dpkg would keep them
        lst = os.path.join(DPKG_INFO, p.listname + ".list")
        if p.source == "installed" and os.path.exists(lst):
            stage.put_file("/var/lib/dpkg/info/%s.list" % p.listname, lst, mtime=mtime)
            md5 = os.path.join(DPKG_INFO, p.listname + ".md5sums")
            if os.path.exists(md5):
                stage.put_file("/var/lib/dpkg/info/%s.md5sums" % p.listname, md5, mtime=mtime)
        else:
            data = "".join(f[0] + "\n" for f in p.files).encode("utf-8", "surrogateescape")
            stage.write("/var/lib/dpkg/info/%s.list" % p.listname, data, mtime)
    stage.write("/var/lib/dpkg/status", ("\n\n".join(stanzas) + "\n").encode(), mtime)


def dpkg_log_lines(t0, action, pkgs, rng):
    out = []
    t = t0
    for p in pkgs:
        t += rng.randrange(1, 4)
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        ver = "1.%d-%d" % (rng.randrange(100), rng.randrange(1, 5))
        out.append("%s %s %s:amd64 <none> %s\n" % (ts, action, p, ver))
        out.append("%s status unpacked %s:amd64 %s\n" % (ts, p, ver))
        out.append("%s status installed %s:amd64 %s\n" % (ts, p, ver))
    return "".join(out).encode()


def write_etc_basics(stage, mtime):
    users = ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
             "bin:x:2:2:bin:/bin:/usr/sbin/nologin", "sys:x:3:3:sys:/dev:/usr/sbin/nologin",
             "sync:x:4:65534:sync:/bin:/bin/sync", "man:x:6:12:man:/var/cache/man:/usr/sbin/nologin",
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
             "systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin",
             "user:x:1000:1000:Benchmark User,,,:/home/user:/bin/bash"]
    groups = ["root:x:0:", "daemon:x:1:", "bin:x:2:", "sys:x:3:", "adm:x:4:user", "tty:x:5:",
              "disk:x:6:", "sudo:x:27:user", "users:x:100:user", "nogroup:x:65534:", "user:x:1000:"]
    stage.write("/etc/passwd", ("\n".join(users) + "\n").encode(), mtime)
    stage.write("/etc/group", ("\n".join(groups) + "\n").encode(), mtime)
    stage.write("/etc/hostname", b"hexz-bench\n", mtime)
    stage.write("/etc/hosts", b"127.0.0.1\tlocalhost\n127.0.1.1\thexz-bench\n::1\tlocalhost ip6-localhost\n", mtime)
    stage.write("/etc/fstab", b"# <file system> <mount point> <type> <options> <dump> <pass>\n"
                b"/dev/vda1 / ext4 errors=remount-ro 0 1\n", mtime)
    stage.write("/home/user/.bashrc", b"# ~/.bashrc\n[ -z \"$PS1\" ] && return\nHISTSIZE=1000\n"
                b"alias ll='ls -l'\n", mtime)


# -------------------------------------------------------------------- mkfs

def mkfs(stage_root, img, size, uuid, epoch):
    if os.path.exists(img):
        os.unlink(img)
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(epoch), LC_ALL="C")
    cmd = ["mke2fs", "-q", "-t", "ext4", "-b", "4096", "-d", stage_root,
           "-E", "root_owner=0:0,hash_seed=%s" % HASH_SEED, "-U", uuid,
           img, "%dk" % (size // 1024)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    ext4_normalize.normalize(img)


# -------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--scale", type=float, default=1.0, help="1 = 2 GiB images, 0.125 = --small")
    ap.add_argument("--deb-share", type=float, default=0.12,
                    help="part of v1's file bytes that are apt-cache .deb archives")
    ap.add_argument("--remove", type=float, default=0.10, help="v2: part of package bytes removed")
    ap.add_argument("--add", type=float, default=0.12, help="v2: new package bytes, as part of v1's")
    ap.add_argument("--upgrade", type=float, default=0.18, help="v2: part of package bytes upgraded")
    ap.add_argument("--keep-prob", type=float, default=0.20,
                    help="v2: chance a file of an upgraded package is unchanged")
    ap.add_argument("--work-dir", help="scratch space for the staging tree (default: a"
                    " directory in /dev/shm when it has room, else OUTDIR/.work)")
    ap.add_argument("--keep-work", action="store_true", help="keep the staging tree")
    a = ap.parse_args()
    work = pick_work_dir(a.work_dir, os.path.abspath(a.outdir), a.scale)
    try:
        return build(a, work)
    finally:
        if not a.keep_work and os.path.exists(work):
            shutil.rmtree(work)


def pick_work_dir(explicit, out, scale):
    if explicit:
        return os.path.abspath(explicit)
    need = 4.5e9 * scale + 1e9
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > need and os.access("/dev/shm", os.W_OK):
            return "/dev/shm/hexz-corpus-%d" % os.getpid()
    except OSError:
        pass
    return os.path.join(out, ".work")


def build(a, work):

    os.umask(0o022)
    out = os.path.abspath(a.outdir)
    os.makedirs(out, exist_ok=True)
    log("scratch directory: %s" % work)
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    size = int(round(2 * GiB * a.scale / (1 << 20))) << 20
    target = 1.5e9 * a.scale          # bytes of files in v1
    deb_bytes = a.deb_share * target
    pkg_budget = target - deb_bytes
    # keep single packages / files from dominating (a few 100 MB packages
    # would make the v1/v2 layout comparison a coin toss on their alignment)
    cap = 0.03 * target
    file_cap = 0.01 * target

    log("scanning installed packages and the apt cache")
    status_text = read_status_text()
    installed = scan_installed(pristine_conffiles(status_text))
    status = read_status(status_text)
    debs, debs_by_name, multi = scan_cache()
    log("%d installed packages (%.2f GB of files), %d cached .debs, %d with several versions"
        % (len(installed), sum(p.nbytes for p in installed.values()) / 1e9, len(debs), len(multi)))

    # real upgrades: packages cached in two versions (old -> v1, new -> v2)
    real_old, real_new = {}, {}
    for name in sorted(multi):
        old, new = multi[name][0], multi[name][-1]
        real_old[name] = extract_deb(old, os.path.join(work, "deb-old", name))
        real_new[name] = extract_deb(new, os.path.join(work, "deb-new", name))
    inst_names = set(installed)
    installed = {n: p for n, p in installed.items() if p.maxfile <= file_cap}
    pool = [p for n, p in installed.items() if n not in real_old]
    chosen, got = pick_by_bytes(pool, "v1", pkg_budget - sum(p.nbytes for p in real_old.values()),
                                cap=cap)
    v1_pkgs = sorted(chosen + list(real_old.values()), key=lambda p: p.name)
    v1_names = {p.name for p in v1_pkgs}

    old_debs = [multi[n][0] for n in sorted(multi)]
    cand_debs = [d for d in debs if d not in set(sum((multi[n] for n in multi), []))]
    dsize = {d: os.path.getsize(d) for d in debs}
    v1_debs, _ = pick_by_bytes(cand_debs, "apt-v1",
                               deb_bytes - sum(dsize[d] for d in old_debs),
                               cap=0.03 * target, key=os.path.basename, size=dsize.get)
    v1_debs = sorted(v1_debs + old_debs)

    # ---------------------------------------------------------------- v1
    stage = Stage(os.path.join(work, "stage"))
    stage.skeleton()
    log("v1: staging %d packages (%.0f MB) + %d .debs (%.0f MB)"
        % (len(v1_pkgs), sum(p.nbytes for p in v1_pkgs) / 1e6, len(v1_debs),
           sum(dsize[d] for d in v1_debs) / 1e6))
    for p in v1_pkgs:
        stage.install_pkg(p, check=p.source != "installed")
    for d in v1_debs:
        stage.put_file("/var/cache/apt/archives/" + os.path.basename(d), d, mtime=EPOCH_V1 - 3600)
    v1_status = {n: status[n] for n in v1_names if n in status}
    for n in real_old:
        v1_status[n] = deb_control(multi[n][0]).replace("Package: %s\n" % n,
                                                          "Package: %s\nStatus: install ok installed\n" % n, 1)
    write_dpkg_db(stage, v1_pkgs, v1_status, EPOCH_V1)
    lrng = random.Random(1)
    v1_log = dpkg_log_lines(EPOCH_V1 - 86400, "install", [p.name for p in v1_pkgs], lrng)
    stage.write("/var/log/dpkg.log", v1_log, EPOCH_V1)
    stage.write("/var/log/apt/history.log",
                ("\nStart-Date: 2023-12-31  00:00:00\nCommandline: apt-get install %s\nEnd-Date: 2023-12-31  01:00:00\n"
                 % " ".join(p.name for p in v1_pkgs)).encode(), EPOCH_V1)
    write_etc_basics(stage, EPOCH_V1)
    stage.finish(EPOCH_V1)
    v1_bytes, v1_files = stage.du()
    log("v1: staging tree has %d files, %.0f MB; running mke2fs" % (v1_files, v1_bytes / 1e6))
    img1 = os.path.join(out, "disk-v1.img")
    mkfs(stage.root, img1, size, UUID_V1, EPOCH_V1)
    log("v1: wrote %s" % img1)

    # ---------------------------------------------------------------- v2
    regular = [p for p in v1_pkgs if p.source == "installed"]
    reg_bytes = sum(p.nbytes for p in regular)
    removed, rb = pick_by_bytes(regular, "v2-remove", a.remove * reg_bytes)
    rem_names = {p.name for p in removed}
    rest = [p for p in regular if p.name not in rem_names]
    upgraded, ub = pick_by_bytes(rest, "v2-upgrade", a.upgrade * reg_bytes - sum(
        p.nbytes for p in real_old.values()))
    upg_names = {p.name for p in upgraded}

    # new packages: half installed-but-not-in-v1, half unpacked from the apt cache
    add_budget = a.add * reg_bytes
    not_in_v1 = [p for n, p in installed.items() if n not in v1_names and n not in real_old]
    added_inst, ai = pick_by_bytes(not_in_v1, "v2-add", add_budget / 2, cap=cap)
    new_debs_cand = [d for d in cand_debs
                     if deb_name(d) not in inst_names and d not in v1_debs
                     and dsize[d] < 0.02 * target]
    added_debs, added_deb_pkgs, ad = [], [], 0
    for d in sorted(new_debs_cand, key=lambda d: rank("v2-add-deb", os.path.basename(d))):
        if ad >= add_budget / 2:
            break
        p = extract_deb(d, os.path.join(work, "deb-add", deb_name(d)))
        if (not p.files or p.maxfile > file_cap
                or p.nbytes > add_budget / 2 - ad + 0.01 * target):
            continue
        added_debs.append(d)
        added_deb_pkgs.append(p)
        ad += p.nbytes
    log("v2: removing %d packages (%.0f MB), upgrading %d (%.0f MB) + %d real version upgrades, "
        "adding %d installed (%.0f MB) + %d unpacked .debs (%.0f MB)"
        % (len(removed), rb / 1e6, len(upgraded), ub / 1e6, len(real_old), len(added_inst),
           ai / 1e6, len(added_debs), ad / 1e6))

    for p in removed:
        for f in p.files:
            stage.remove(f[0])
            stage.prune_empty_dirs(f[0])
        for ext in (".list", ".md5sums"):
            stage.remove("/var/lib/dpkg/info/%s%s" % (p.listname, ext))
    for n, p in real_old.items():
        for f in p.files:
            stage.remove(f[0])
        stage.install_pkg(real_new[n], check=True)

    used_paths = set()
    for p in v1_pkgs + added_inst:
        used_paths.update(f[3] for f in p.files)
    repl_pool = []
    for n, p in installed.items():
        if n in v1_names or n in {q.name for q in added_inst}:
            continue
        for abspath, kind, fsize, src in p.files:
            if kind == "f" and fsize >= 16384 and ("/lib" in abspath or "/bin/" in abspath):
                repl_pool.append((fsize, src))
    upg = Upgrader(stage, a.keep_prob, repl_pool)
    for p in upgraded:
        upg.upgrade(p, EPOCH_V2 - 7 * 86400)
    log("v2: upgrade edits by kind (files, MB): " + ", ".join(
        "%s %d/%.0f" % (k, v[0], v[1] / 1e6) for k, v in sorted(upg.stats.items())))

    for p in added_inst:
        stage.install_pkg(p, check=True)
    for p in added_deb_pkgs:
        stage.install_pkg(p, check=True)

    # in-place edits of configuration and other text files under /etc
    etc_files = []
    for root, dirs, files in os.walk(stage.path("/etc")):
        dirs.sort()
        for fn in sorted(files):
            full = os.path.join(root, fn)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            etc_files.append(full[len(stage.root):])
    n_etc = 0
    for path in sorted(etc_files, key=lambda p: rank("v2-etc", p))[:max(1, len(etc_files) // 5)]:
        data = stage.read(path)
        if classify(data) != "text":
            continue
        rng = rng_for("v2-etc", path)
        stage.write(path, edit_text(data, rng, rng.uniform(0.02, 0.1)), EPOCH_V2 - 86400,
                    stage.mode(path))
        n_etc += 1

    # apt cache: autoclean part of it, keep the newly downloaded archives
    old_set = set(old_debs)
    kept = [d for d in v1_debs if d not in old_set]
    drop, _ = pick_by_bytes(kept, "v2-apt-clean", 0.3 * sum(dsize[d] for d in kept),
                            key=os.path.basename, size=dsize.get)
    for d in drop + old_debs:
        stage.remove("/var/cache/apt/archives/" + os.path.basename(d))
    for d in [multi[n][-1] for n in sorted(multi)] + added_debs:
        stage.put_file("/var/cache/apt/archives/" + os.path.basename(d), d, mtime=EPOCH_V2 - 7200)

    # dpkg database and logs
    v2_pkgs = [p for p in v1_pkgs if p.name not in rem_names and p.name not in real_old]
    v2_pkgs += list(real_new.values()) + added_inst + added_deb_pkgs
    v2_status = {}
    for p in v2_pkgs:
        if p.name in real_new:
            v2_status[p.name] = deb_control(multi[p.name][-1]).replace(
                "Package: %s\n" % p.name, "Package: %s\nStatus: install ok installed\n" % p.name, 1)
        elif p.source != "installed":
            v2_status[p.name] = deb_control(p.source).replace(
                "Package: %s\n" % p.name, "Package: %s\nStatus: install ok installed\n" % p.name, 1)
        elif p.name in upg_names and p.name in status:
            v2_status[p.name] = bump_version(status[p.name], rng_for("v2-ver", p.name))
        elif p.name in status:
            v2_status[p.name] = status[p.name]
    for p in v1_pkgs:
        if p.name in real_old:
            for ext in (".list", ".md5sums"):
                stage.remove("/var/lib/dpkg/info/%s%s" % (p.listname, ext))
    write_dpkg_db(stage, v2_pkgs, v2_status, EPOCH_V2)
    lrng = random.Random(2)
    v2_log = (v1_log
              + dpkg_log_lines(EPOCH_V2 - 20 * 86400, "remove", sorted(rem_names), lrng)
              + dpkg_log_lines(EPOCH_V2 - 10 * 86400, "upgrade",
                               sorted(upg_names | set(real_new)), lrng)
              + dpkg_log_lines(EPOCH_V2 - 5 * 86400, "install",
                               sorted(p.name for p in added_inst + added_deb_pkgs), lrng))
    stage.write("/var/log/dpkg.log", v2_log, EPOCH_V2)
    stage.write("/var/log/apt/history.log", stage.read("/var/log/apt/history.log") +
                ("\nStart-Date: 2024-02-10  09:00:00\nCommandline: apt-get upgrade\n"
                 "Upgrade: %s\nEnd-Date: 2024-02-10  09:10:00\n"
                 % ", ".join(sorted(upg_names | set(real_new)))).encode(), EPOCH_V2)
    stage.write("/etc/hostname", b"hexz-bench-2\n", EPOCH_V2)
    stage.finish(EPOCH_V2)
    v2_bytes, v2_files = stage.du()
    log("v2: %d /etc files edited; staging tree has %d files, %.0f MB; running mke2fs"
        % (n_etc, v2_files, v2_bytes / 1e6))
    img2 = os.path.join(out, "disk-v2.img")
    mkfs(stage.root, img2, size, UUID_V2, EPOCH_V2)
    log("v2: wrote %s" % img2)

    with open(os.path.join(out, "disks.txt"), "w") as fh:
        fh.write("disk-v1.img: %d files, %d bytes of file data, %d packages, %d .debs\n"
                 % (v1_files, v1_bytes, len(v1_pkgs), len(v1_debs)))
        fh.write("disk-v2.img: %d files, %d bytes of file data, %d packages; removed %d, "
                 "upgraded %d (+%d real versions), added %d, /etc edits %d\n"
                 % (v2_files, v2_bytes, len(v2_pkgs), len(removed), len(upgraded),
                    len(real_new), len(added_inst) + len(added_deb_pkgs), n_etc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
