#!/usr/bin/env python3
"""Fallback benchmark input when neither the corpus nor scripts/make-sample.sh is available.

Writes OUTDIR/disk.img and OUTDIR/memory.img (Python standard library only):

  disk.img    files found under /usr (binaries, libraries, text) laid out in 4 KiB-aligned
              extents, with holes (free space) between them; the tail is a hole.
  memory.img  4 KiB pages: ~40% zero, ~25% copies of disk.img pages (page cache), ~20%
              heap-like records, ~15% random bytes.

Usage: gen_sample.py OUTDIR [--disk-mb 256] [--memory-mb 128] [--seed 1]
"""

import argparse
import os
import random
import struct
import sys

PAGE = 4096


def iter_files(roots, rng):
    paths = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                paths.append(p)
    paths.sort()
    rng.shuffle(paths)
    return paths


def write_disk(path, size, rng):
    fill_target = size * 60 // 100
    written = 0
    with open(path + ".tmp", "wb") as out:
        out.truncate(size)
        pos = 0
        for p in iter_files(["/usr/bin", "/usr/lib", "/usr/share"], rng):
            if written >= fill_target or pos >= size:
                break
            try:
                with open(p, "rb") as f:
                    data = f.read(8 << 20)
            except OSError:
                continue
            if not data:
                continue
            data = data[: size - pos]
            out.seek(pos)
            out.write(data)
            written += len(data)
            pos += (len(data) + PAGE - 1) // PAGE * PAGE
            if rng.random() < 0.2:  # free space between files
                pos += rng.randint(1, 64) * PAGE
    os.replace(path + ".tmp", path)


def heap_page(rng):
    base = 0x00007F0000000000 + (rng.getrandbits(24) << 12)
    vals = []
    for _ in range(PAGE // 8):
        k = rng.random()
        if k < 0.3:
            vals.append(0)
        elif k < 0.6:
            vals.append(rng.randrange(256))
        elif k < 0.85:
            vals.append(base + rng.randrange(1 << 16) * 16)
        else:
            vals.append(rng.randrange(1 << 20))
    return struct.pack("<%dQ" % len(vals), *vals)


def write_memory(path, disk_path, size, rng):
    disk_pages = os.path.getsize(disk_path) // PAGE
    zero = bytes(PAGE)
    with open(disk_path, "rb") as disk, open(path + ".tmp", "wb") as out:
        for _ in range(size // PAGE):
            k = rng.random()
            if k < 0.40:
                out.write(zero)
            elif k < 0.65:
                disk.seek(rng.randrange(disk_pages) * PAGE)
                out.write(disk.read(PAGE).ljust(PAGE, b"\0"))
            elif k < 0.85:
                out.write(heap_page(rng))
            else:
                out.write(rng.randbytes(PAGE))
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--disk-mb", type=int, default=256)
    ap.add_argument("--memory-mb", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    disk = os.path.join(a.outdir, "disk.img")
    mem = os.path.join(a.outdir, "memory.img")
    write_disk(disk, a.disk_mb << 20, rng)
    write_memory(mem, disk, a.memory_mb << 20, rng)
    print("gen_sample: wrote %s (%d MiB) and %s (%d MiB)" % (disk, a.disk_mb, mem, a.memory_mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
