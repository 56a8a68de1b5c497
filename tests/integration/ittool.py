#!/usr/bin/env python3
"""Helpers for the integration tests (tests/integration/*.sh) and the mount/NBD benchmarks.

Subcommands:
  images OUTDIR              write disk.img, memory.img and manifest.json (test images with
                             random, compressible, duplicate, constant and zero regions)
  verify-preads FILE SOURCE  random preads of FILE from several threads, compared with SOURCE
  bench-preads FILE...       cold random 4 KiB preads: p50/p90/p99 latency in microseconds
  check-info JSON SIZE       checks `nbdinfo --json` output: size, read-only, multi-conn
  check-map MAP IMAGE        checks `nbdinfo --map` output against IMAGE's all-zero chunks
  qemu-io-args MANIFEST      prints qemu-io -c arguments (one per line): pattern reads (-P)
  qemu-io-dump-args          prints qemu-io -c arguments for spot reads dumped with -v
  check-dump OUTPUT IMAGE    compares those dumps with IMAGE
  zero-runs IMAGE            prints the merged all-zero chunk runs of IMAGE
  newc OUT DIR               writes DIR as an initramfs (cpio "newc") with a /dev/console node
"""
import argparse
import concurrent.futures
import json
import os
import random
import statistics
import sys
import time

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 4096


# ---- test images --------------------------------------------------------------------------------

def _text(rng, n):
    words = [b"snapshot", b"kernel", b"block", b"index", b"qemu", b"fuse", b"nbd", b"chunk",
             b"page", b"memory", b"disk", b"lz4", b"zstd", b"hexz", b"\n", b"  ", b"0x1f2e"]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" " + str(rng.randrange(100000)).encode() + b" "
    return bytes(out[:n])


def make_images(outdir):
    """Writes the test images and a manifest of their constant and zero regions."""
    rng = random.Random(7)
    disk_size = 24 * MiB + 1536  # a multiple of 512, not of the 4 KiB chunk
    disk = bytearray(disk_size)
    rand_a = rng.randbytes(4 * MiB)
    disk[2 * MiB:6 * MiB] = rand_a                       # incompressible
    disk[6 * MiB:10 * MiB] = _text(rng, 4 * MiB)         # compressible
    # [10 MiB, 13 MiB + 12 KiB) stays zero (aligned zero run)
    disk[13 * MiB + 12 * KiB:14 * MiB] = _text(rng, MiB - 12 * KiB)
    disk[14 * MiB:18 * MiB] = rand_a                     # duplicate of [2 MiB, 6 MiB)
    disk[18 * MiB:20 * MiB + 100] = _text(rng, 2 * MiB + 100)
    # [20 MiB + 100, 20 MiB + 20000) stays zero (unaligned zero run)
    disk[20 * MiB + 20000:24 * MiB] = rng.randbytes(4 * MiB - 20000)
    disk[64 * KiB:1 * MiB - 4096] = _text(rng, 1 * MiB - 64 * KiB - 4096)
    disk[4096:64 * KiB] = rng.randbytes(60 * KiB)
    # Constant spans for qemu-io -P spot reads, across chunk and block boundaries.
    patterns = [
        (64 * KiB - 2048, 4096, 0x5A),          # across the first 64 KiB block boundary
        (3 * 4096 - 100, 200, 0xA5),            # across a 4 KiB chunk boundary, unaligned
        (1 * MiB - 4096, 4096, 0x11),           # right before the zero run at 1 MiB
        (6 * MiB - 3000, 6000, 0xC3),           # random/text boundary
        (disk_size - 1536, 1536, 0x77),         # the partial last chunk
    ]
    for off, length, byte in patterns:
        disk[off:off + length] = bytes([byte]) * length
    # [1 MiB, 2 MiB) stays zero
    zeros = [(1 * MiB, 1 * MiB), (10 * MiB, 3 * MiB + 12 * KiB), (20 * MiB + 100, 19900)]

    mem_size = 8 * MiB + 100  # not even a multiple of 512
    mem = bytearray(mem_size)
    mem[0:3 * MiB] = rng.randbytes(3 * MiB)
    mem[4 * MiB:6 * MiB] = _text(rng, 2 * MiB)
    mem[6 * MiB:7 * MiB] = rand_a[:MiB]  # dedups against the disk
    mem[7 * MiB + 5:mem_size] = rng.randbytes(mem_size - 7 * MiB - 5)

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "disk.img"), "wb") as f:
        f.write(disk)
    with open(os.path.join(outdir, "memory.img"), "wb") as f:
        f.write(mem)
    manifest = {"disk_size": disk_size, "memory_size": mem_size,
                "patterns": [{"offset": o, "length": n, "byte": b} for o, n, b in patterns],
                "zero_spans": [{"offset": o, "length": n} for o, n in zeros]}
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---- reads through a mount ------------------------------------------------------------------------

def verify_preads(path, source, threads, count, seed):
    size = os.path.getsize(source)
    got_size = os.path.getsize(path)
    if got_size != size:
        sys.exit(f"size of {path} is {got_size}, expected {size}")
    rng = random.Random(seed)
    lengths = [1, 511, 4096, 4097, 65536, 65536 + 13, 300000, 1 << 20]
    jobs = []
    for _ in range(count):
        n = rng.choice(lengths)
        r = rng.random()
        if r < 0.2:  # near a chunk or block boundary
            unit = rng.choice([4096, 65536, 16384])
            off = max(0, (rng.randrange(size) // unit) * unit - rng.randrange(1, 64))
        elif r < 0.25:  # near or past the end
            off = max(0, size - rng.randrange(1, 5000))
        else:
            off = rng.randrange(size)
        jobs.append((off, n))

    def run(batch):
        fd = os.open(path, os.O_RDONLY)
        sfd = os.open(source, os.O_RDONLY)
        try:
            for off, n in batch:
                got = os.pread(fd, n, off)
                want = os.pread(sfd, n, off)
                if got != want:
                    return f"mismatch at offset {off} length {n} ({len(got)} vs {len(want)} bytes)"
        finally:
            os.close(fd)
            os.close(sfd)
        return None

    batches = [jobs[i::threads] for i in range(threads)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        errors = [e for e in pool.map(run, batches) if e]
    if errors:
        sys.exit(f"{path}: " + "; ".join(errors[:3]))
    print(f"{path}: {count} random preads from {threads} threads match {source}")


def bench_preads(paths, count, seed, fadvise_random):
    """Cold random 4 KiB-aligned preads, each offset read once; latencies in microseconds."""
    rng = random.Random(seed)
    samples = []
    for path in paths:
        size = os.path.getsize(path)
        fd = os.open(path, os.O_RDONLY)
        if fadvise_random:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        offsets = rng.sample(range(size // 4096), min(count, size // 4096))
        for block in offsets:
            t0 = time.perf_counter_ns()
            data = os.pread(fd, 4096, block * 4096)
            t1 = time.perf_counter_ns()
            if len(data) != 4096:
                sys.exit(f"short read at {block * 4096}")
            samples.append((t1 - t0) / 1000.0)
        os.close(fd)
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(p / 100.0 * len(samples)))]

    print(json.dumps({"reads": len(samples), "p50_us": round(pct(50), 1),
                      "p90_us": round(pct(90), 1), "p99_us": round(pct(99), 1),
                      "mean_us": round(statistics.fmean(samples), 1)}))


# ---- NBD checks ---------------------------------------------------------------------------------

def check_info(json_path, size):
    with open(json_path) as f:
        info = json.load(f)
    exports = info.get("exports") or []
    if len(exports) != 1:
        sys.exit(f"expected one export, got {len(exports)}")
    e = exports[0]
    problems = []
    if int(e.get("export-size", -1)) != size:
        problems.append(f"export-size {e.get('export-size')} != {size}")
    if e.get("is_read_only") is not True:
        problems.append("not read-only")
    if e.get("can_multi_conn") is not True:
        problems.append("no multi-conn")
    if "base:allocation" not in (e.get("contexts") or []):
        problems.append("no base:allocation context (extents)")
    if problems:
        sys.exit("nbdinfo: " + ", ".join(problems))
    print(f"nbdinfo: size {size}, read-only, multi-conn, base:allocation")


def zero_runs(image, chunk=CHUNK):
    """Merged runs of all-zero chunks (the last, partial chunk included)."""
    runs = []
    zero = bytes(chunk)
    with open(image, "rb") as f:
        off = 0
        while True:
            data = f.read(chunk)
            if not data:
                break
            if data == zero[:len(data)]:
                if runs and runs[-1][0] + runs[-1][1] == off:
                    runs[-1][1] += len(data)
                else:
                    runs.append([off, len(data)])
            off += len(data)
    return [tuple(r) for r in runs]


def check_map(map_path, image):
    """`nbdinfo --map` lines: OFFSET LENGTH TYPE DESCRIPTION; type bit 1 = zero."""
    size = os.path.getsize(image)
    got = []
    pos = 0
    with open(map_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            off, length, typ = int(parts[0]), int(parts[1]), int(parts[2])
            if off != pos:
                sys.exit(f"extent map has a gap or overlap at {pos} (next extent at {off})")
            pos = off + length
            if typ & 2:
                if got and got[-1][0] + got[-1][1] == off:
                    got[-1] = (got[-1][0], got[-1][1] + length)
                else:
                    got.append((off, length))
    if pos != size:
        sys.exit(f"extent map covers {pos} bytes, the image has {size}")
    want = zero_runs(image)
    if got != want:
        sys.exit(f"zero extents differ:\n  got  {got[:10]}\n  want {want[:10]}")
    print(f"extents: {len(got)} zero runs ({sum(n for _, n in got)} bytes) as expected")


def qemu_io_args(manifest_path):
    with open(manifest_path) as f:
        m = json.load(f)
    for p in m["patterns"]:
        print(f"read -P 0x{p['byte']:02x} {p['offset']} {p['length']}")
    for z in m["zero_spans"]:
        print(f"read -P 0 {z['offset']} {z['length']}")
    # Reads that straddle a constant span and the zero run after it.
    print(f"read -P 0x11 {1 * MiB - 4096} 4096")
    print(f"read -P 0 {1 * MiB} 8192")


# Spot reads dumped with `read -v` and compared with the image: across chunk (4 KiB) and block
# (64 KiB) boundaries, and across data/zero and data/constant edges.
SPOT_READS = [(4096 - 7, 14), (64 * KiB - 5, 10), (3 * 64 * KiB - 33, 66), (1 * MiB - 20, 40),
              (2 * MiB + 64 * KiB - 33, 66), (6 * MiB - 3010, 20), (14 * MiB - 4000, 8000),
              (20 * MiB + 90, 20), (20 * MiB + 19990, 20), (24 * MiB - 10, 20),
              (24 * MiB + 1535, 1)]


def qemu_io_dump_args():
    for off, n in SPOT_READS:
        print(f"read -v {off} {n}")


def check_dump(output_path, image):
    """Compares the hex dumps of `qemu-io -c 'read -v OFF LEN'` with the image."""
    import re
    line_re = re.compile(r"^([0-9a-f]{8,}):  ((?:[0-9a-f]{2} )+)")
    checked = 0
    with open(image, "rb") as img, open(output_path) as out:
        for line in out:
            m = line_re.match(line)
            if not m:
                continue
            off = int(m.group(1), 16)
            got = bytes(int(h, 16) for h in m.group(2).split())
            img.seek(off)
            want = img.read(len(got))
            if got != want:
                sys.exit(f"qemu-io read at {off}: {got.hex()} != image {want.hex()}")
            checked += len(got)
    want_total = sum(n for _, n in SPOT_READS)
    if checked != want_total:
        sys.exit(f"qemu-io dumped {checked} bytes, expected {want_total}")
    print(f"qemu-io: {len(SPOT_READS)} spot reads ({checked} bytes) match the image")


# ---- initramfs ----------------------------------------------------------------------------------

def write_newc(out_path, root):
    """Archives `root` (dirs, regular files, symlinks) plus /dev and /dev/console as newc cpio."""
    import stat as st
    entries = []  # (name, mode, data, rdev_major, rdev_minor)
    names = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in [rel_dir] + [os.path.join(rel_dir, f) for f in sorted(filenames)]:
            full = os.path.join(root, name)
            name = os.path.normpath(name)
            info = os.lstat(full)
            if st.S_ISLNK(info.st_mode):
                entries.append((name, 0o120777, os.readlink(full).encode(), 0, 0))
            elif st.S_ISDIR(info.st_mode):
                entries.append((name, 0o040755, b"", 0, 0))
            elif st.S_ISREG(info.st_mode):
                with open(full, "rb") as f:
                    entries.append((name, 0o100000 | (info.st_mode & 0o777), f.read(), 0, 0))
            names.add(name)
        for d in dirnames:  # symlinks to directories are listed here, not walked
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                name = os.path.normpath(os.path.join(rel_dir, d))
                entries.append((name, 0o120777, os.readlink(full).encode(), 0, 0))
                names.add(name)
    if "dev" not in names:
        entries.append(("dev", 0o040755, b"", 0, 0))
    entries.append(("dev/console", 0o020600, b"", 5, 1))
    entries = [e for e in entries if e[0] != "."]

    def pad(n):
        return b"\0" * ((4 - n % 4) % 4)

    with open(out_path, "wb") as out:
        trailer = ("TRAILER!!!", 0, b"", 0, 0)
        for ino, (name, mode, data, major, minor) in enumerate(entries + [trailer], 1):
            bname = name.encode() + b"\0"
            fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(bname), 0]
            header = b"070701" + b"".join(b"%08x" % v for v in fields)
            out.write(header + bname + pad(len(header) + len(bname)))
            out.write(data + pad(len(data)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("images")
    p.add_argument("outdir")
    p = sub.add_parser("verify-preads")
    p.add_argument("file")
    p.add_argument("source")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("bench-preads")
    p.add_argument("files", nargs="+")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fadvise-random", action="store_true")
    p = sub.add_parser("check-info")
    p.add_argument("json")
    p.add_argument("size", type=int)
    p = sub.add_parser("check-map")
    p.add_argument("map")
    p.add_argument("image")
    p = sub.add_parser("qemu-io-args")
    p.add_argument("manifest")
    p = sub.add_parser("qemu-io-dump-args")
    p = sub.add_parser("check-dump")
    p.add_argument("output")
    p.add_argument("image")
    p = sub.add_parser("newc")
    p.add_argument("out")
    p.add_argument("dir")
    p = sub.add_parser("zero-runs")
    p.add_argument("image")
    a = ap.parse_args()
    if a.cmd == "images":
        make_images(a.outdir)
    elif a.cmd == "verify-preads":
        verify_preads(a.file, a.source, a.threads, a.count, a.seed)
    elif a.cmd == "bench-preads":
        bench_preads(a.files, a.count, a.seed, a.fadvise_random)
    elif a.cmd == "check-info":
        check_info(a.json, a.size)
    elif a.cmd == "check-map":
        check_map(a.map, a.image)
    elif a.cmd == "qemu-io-args":
        qemu_io_args(a.manifest)
    elif a.cmd == "qemu-io-dump-args":
        qemu_io_dump_args()
    elif a.cmd == "check-dump":
        check_dump(a.output, a.image)
    elif a.cmd == "newc":
        write_newc(a.out, a.dir)
    elif a.cmd == "zero-runs":
        for off, n in zero_runs(a.image):
            print(off, n)


if __name__ == "__main__":
    main()
