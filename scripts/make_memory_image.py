#!/usr/bin/env python3
"""Writes a synthetic guest RAM dump that looks like a real one.

The image is a sequence of 4 KiB pages of four kinds, laid out in runs (real RAM
has long zero regions, file pages read ahead together, heaps, and so on):

  zero      ~40%  never-touched or freed pages: all zero bytes
  pagecache ~25%  exact copies of non-zero 4 KiB pages of the disk image, taken at
                  4 KiB-aligned offsets, often several consecutive ones (page cache);
                  a snapshot tool should deduplicate these against the disk stream
  data      ~20%  heap/slab-like pages: fragments of file content at unaligned
                  offsets, pointer-like words, partly zero-filled tails; compressible
                  but not duplicates of anything on the disk
  random    ~15%  incompressible bytes (keys, compressed or encrypted buffers)

Everything comes from one seeded PRNG and the disk image, so the same inputs and
seed give a byte-identical file. The file is written densely (zero pages are real
zero bytes, as a hypervisor dump would have them). Python 3 standard library only.
"""

import argparse
import errno
import os
import random
import struct
import sys

PAGE = 4096
ZERO_PAGE = bytes(PAGE)
KINDS = ("zero", "pagecache", "data", "random")
DEFAULT_FRACTIONS = (0.40, 0.25, 0.20, 0.15)
# Longest run, in pages, for each kind.
MAX_RUN = {"zero": 256, "pagecache": 32, "data": 16, "random": 8}


def data_extents(fd, size):
    """(start, end) byte ranges holding data; holes are skipped via SEEK_DATA/SEEK_HOLE."""
    if not hasattr(os, "SEEK_DATA"):
        yield (0, size)
        return
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole after pos
                return
            yield (pos, size)  # SEEK_DATA unsupported here: treat the rest as data
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield (start, end)
        pos = end


def scan_disk_pages(path):
    """Indexes of the non-zero 4 KiB pages of `path`."""
    pages = set()
    with open(path, "rb") as f:
        fd = f.fileno()
        for start, end in data_extents(fd, os.fstat(fd).st_size):
            p, last = start // PAGE, (end + PAGE - 1) // PAGE
            f.seek(p * PAGE)
            while p < last:
                n = min(256, last - p)
                buf = f.read(n * PAGE)
                for i in range(len(buf) // PAGE):
                    if buf[i * PAGE:(i + 1) * PAGE] != ZERO_PAGE:
                        pages.add(p + i)
                p += n
    return sorted(pages)


def split_into_runs(rng, kind, count):
    runs = []
    while count > 0:
        # Mostly short runs with an occasional long one.
        n = min(count, max(1, int(rng.paretovariate(1.2))), MAX_RUN[kind])
        runs.append((kind, n))
        count -= n
    return runs


class DataPageMaker:
    """Builds heap-like pages from fragments of a pool of real file bytes."""

    def __init__(self, rng, pool):
        self.rng = rng
        self.pool = pool if len(pool) >= 2 * PAGE else self._fallback_pool(rng)

    @staticmethod
    def _fallback_pool(rng):
        words = [b"kernel", b"memory", b"page", b"struct", b"inode", b"dentry", b"task",
                 b"socket", b"buffer", b"/usr/lib/", b"libc.so.6", b"GLIBC_2.34", b"\n"]
        return b" ".join(rng.choice(words) for _ in range(200_000))

    def page(self):
        rng = self.rng
        out = bytearray()
        # Some pages are only partly used: a used prefix, then zeros.
        used = PAGE if rng.random() < 0.7 else rng.randrange(64, PAGE)
        while len(out) < used:
            r = rng.random()
            if r < 0.70:
                # A fragment of real file content at an arbitrary (unaligned) offset.
                n = rng.randrange(16, 1025)
                o = rng.randrange(0, len(self.pool) - n)
                out += self.pool[o:o + n]
            elif r < 0.90:
                # A small struct: a few kernel-direct-map-like pointers and counters.
                for _ in range(rng.randrange(2, 9)):
                    if rng.random() < 0.6:
                        out += struct.pack("<Q", 0xFFFF888000000000 | (rng.getrandbits(30) << 3))
                    else:
                        out += struct.pack("<Q", rng.randrange(0, 1 << 16))
            else:
                # Small zeroed padding between allocations.
                out += bytes(rng.choice((8, 16, 32, 64, 128)))
        del out[used:]
        out += bytes(PAGE - used)
        if bytes(out) == ZERO_PAGE:  # keep the kinds honest
            out[0] = 1
        return bytes(out)


def load_pool(disk, disk_pages, rng, pool_bytes):
    """Reads a pool of non-zero disk pages (file contents and metadata)."""
    if not disk_pages:
        return b""
    count = min(len(disk_pages), pool_bytes // PAGE)
    picks = sorted(rng.sample(disk_pages, count))
    chunks = []
    with open(disk, "rb") as f:
        for p in picks:
            f.seek(p * PAGE)
            chunks.append(f.read(PAGE))
    return b"".join(chunks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disk", required=True, help="disk image to take page-cache pages from")
    ap.add_argument("--output", required=True, help="memory image to write")
    ap.add_argument("--size-mb", type=int, default=128, help="size in MiB (default 128)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--fractions", default=",".join(str(x) for x in DEFAULT_FRACTIONS),
                    help="zero,pagecache,data,random page fractions (default 0.4,0.25,0.2,0.15)")
    args = ap.parse_args()

    fractions = [float(x) for x in args.fractions.split(",")]
    if len(fractions) != 4 or any(x < 0 for x in fractions) or sum(fractions) <= 0:
        ap.error("--fractions needs four non-negative numbers")
    if args.size_mb <= 0:
        ap.error("--size-mb must be positive")

    rng = random.Random(args.seed)
    total_pages = args.size_mb * (1 << 20) // PAGE

    disk_pages = scan_disk_pages(args.disk)
    if not disk_pages:
        # Nothing to copy: page-cache pages become data pages.
        fractions = [fractions[0], 0.0, fractions[1] + fractions[2], fractions[3]]
    total_fraction = sum(fractions)
    counts = [int(round(total_pages * f / total_fraction)) for f in fractions]
    counts[0] += total_pages - sum(counts)  # rounding goes to zero pages

    runs = []
    for kind, count in zip(KINDS, counts):
        runs += split_into_runs(rng, kind, count)
    rng.shuffle(runs)

    data_maker = DataPageMaker(rng, load_pool(args.disk, disk_pages, rng, 8 << 20))

    written = dict.fromkeys(KINDS, 0)
    tmp = args.output + ".tmp"
    with open(args.disk, "rb") as disk, open(tmp, "wb") as out:
        for kind, n in runs:
            if kind == "zero":
                out.write(bytes(PAGE * n))
            elif kind == "pagecache":
                # A file read ahead: consecutive disk pages from a random start.
                i = rng.randrange(len(disk_pages))
                for k in range(n):
                    disk.seek(disk_pages[(i + k) % len(disk_pages)] * PAGE)
                    out.write(disk.read(PAGE))
            elif kind == "data":
                for _ in range(n):
                    out.write(data_maker.page())
            else:
                out.write(rng.randbytes(PAGE * n))
            written[kind] += n
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, args.output)

    size = os.path.getsize(args.output)
    assert size == total_pages * PAGE, (size, total_pages)
    parts = " ".join(f"{k}={written[k]} ({100.0 * written[k] / total_pages:.1f}%)" for k in KINDS)
    print(f"memory.img: {total_pages} pages: {parts}; "
          f"disk pages available for page cache: {len(disk_pages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
