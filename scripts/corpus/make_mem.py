#!/usr/bin/env python3
"""Generate mem.img: a synthetic but realistic-looking guest RAM dump.

The image is a sequence of 4 KiB pages laid out in runs ("extents") of one
kind each, like a real physical memory map:

  zero      free pages (the largest part, long runs)
  slab      kernel objects: arrays of fixed-size structs holding direct-map
            pointers (0xffff888...), per-cache constants (ops tables,
            flags), small integers, counters, free (zeroed) objects
  anon      user-space heap: malloc chunks with 0x55.../0x7f... pointers,
            small ints and interleaved strings
  text      file data / logs / source text not on the disk image: slices
            of real text files glued together (never page-aligned copies)
  pgtable   page tables: PTEs mapping runs of consecutive frames
  random    encrypted / compressed / hashed data (incompressible)
  cache     page cache: 4 KiB blocks copied from disk-v1.img (runs of
            consecutive blocks, as read-ahead leaves them).  Their memory
            offset never has the disk block's 64 KiB phase, so whole 64 KiB
            blocks match only for the few deliberate "large folio" copies.

Fast path: slab and anon pages are built from per-type 4 KiB templates with
big-integer masking, ((random & MASK) | CONST), so there is no per-byte
Python loop; 1 GiB takes well under a minute.  Deterministic for a given
--seed and disk image.  Python 3 stdlib only.

    make_mem.py --disk disk-v1.img --out mem.img [--size-mib 1024]
"""
import argparse
import glob
import os
import random
import struct
import sys
import time

PAGE = 4096
T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


# share of pages per kind (page cache handled by its own figure)
DEFAULT_MIX = {"zero": 0.35, "slab": 0.266, "anon": 0.08, "text": 0.165, "pgtable": 0.03,
               "random": 0.045}
MEAN_RUN = {"zero": 96, "slab": 6, "anon": 12, "text": 3, "pgtable": 2, "random": 6,
            "cache": 3}


# ------------------------------------------------------------ text corpus

TEXT_GLOBS = ["/usr/lib/python3*/*.py", "/usr/lib/python3*/*/*.py",
              "/usr/share/perl/5*/*.pm", "/usr/share/perl/5*/*/*.pm",
              "/usr/share/common-licenses/*", "/usr/include/*.h", "/usr/include/*/*.h",
              "/usr/share/doc/*/README*"]


def text_corpus(limit):
    files = set()
    for g in TEXT_GLOBS:
        files.update(glob.glob(g))
    out, total = [], 0
    for f in sorted(files):
        try:
            if not os.path.isfile(f) or os.path.islink(f):
                continue
            with open(f, "rb") as fh:
                data = fh.read(1 << 20)
        except OSError:
            continue
        if b"\0" in data[:4096] or len(data) < 256:
            continue
        out.append(data)
        total += len(data)
        if total >= limit:
            break
    if total < 1 << 20:  # tiny system: fall back to generated prose
        r = random.Random(7)
        words = [b"memory", b"page", b"kernel", b"buffer", b"device", b"request", b"error",
                 b"the", b"of", b"and", b"to", b"value", b"config", b"user", b"session"]
        out.append(b" ".join(r.choice(words) for _ in range(400000)))
    return b"\n".join(out)


# ------------------------------------------------------ struct templates

def u64s(vals):
    return struct.pack("<%dQ" % len(vals), *vals)


class SlabType:
    """One kmem cache: object layout -> (CONST, MASK) page templates."""

    def __init__(self, rng):
        self.size = rng.choice([32, 64, 64, 96, 128, 128, 192, 256, 512, 1024])
        nslots = self.size // 8
        cache_ptr = 0xFFFF888000000000 | (rng.getrandbits(30) << 6)
        ops_ptr = 0xFFFFFFFF81000000 | (rng.getrandbits(22) << 3)
        flags = rng.getrandbits(12)
        region = 0xFFFF888000000000 | (rng.getrandbits(14) << 24)  # objects live close together
        consts, masks = [], []
        for i in range(nslots):
            r = rng.random()
            if r < 0.30:                     # zero / padding
                c, m = 0, 0
            elif r < 0.50:                   # pointer to a nearby object
                c, m = region, 0x0000000000FFFFC0
            elif r < 0.60:                   # per-cache constant pointer
                c, m = cache_ptr, 0
            elif r < 0.66:                   # ops / function pointer
                c, m = ops_ptr, 0
            elif r < 0.82:                   # small integer (refcount, len, state)
                c, m = 0, rng.choice([0x3, 0x1F, 0xFF])
            elif r < 0.90:                   # flags word
                c, m = flags, 0x3
            elif r < 0.94:                   # 16-bit counter
                c, m = 0, 0xFFFF
            elif r < 0.98:                   # user pointer
                c, m = 0x00007F0000000000, 0x00000000FFFFFFF8
            else:                            # hash / cookie: random
                c, m = 0, 0xFFFFFFFFFFFFFFFF
            consts.append(c)
            masks.append(m)
        nobj = PAGE // self.size
        pad = (PAGE - nobj * self.size) // 8
        self.const = int.from_bytes(u64s(consts * nobj + [0] * pad), "little")
        self.mask = int.from_bytes(u64s(masks * nobj + [0] * pad), "little")
        self.nobj = nobj
        self.free_bias = rng.random() * 0.5


class AnonType:
    """A heap region: 16..256 byte chunks of pointers/ints/doubles."""

    def __init__(self, rng):
        consts, masks = [], []
        heap = 0x0000550000000000 | (rng.getrandbits(24) << 12)
        while len(consts) < PAGE // 8:
            n = rng.choice([2, 2, 4, 4, 6, 8, 12, 16, 32])
            consts.append(0)
            masks.append(0x3F0)                 # malloc size field
            kind = rng.random()
            for _ in range(n - 1):
                if kind < 0.35:                 # pointers into the heap
                    consts.append(heap)
                    masks.append(0x0000000000FFFFF0)
                elif kind < 0.50:               # pointers into libraries / stack
                    consts.append(0x00007F0000000000)
                    masks.append(0x000000FFFFFFFFF8)
                elif kind < 0.75:               # small ints
                    consts.append(0)
                    masks.append(0xFF)
                elif kind < 0.85:               # doubles / 64-bit values
                    consts.append(0x4000000000000000)
                    masks.append(0x001FFFFFFFFFFFFF)
                else:                           # zeroed memory
                    consts.append(0)
                    masks.append(0)
        consts, masks = consts[:PAGE // 8], masks[:PAGE // 8]
        self.const = int.from_bytes(u64s(consts), "little")
        self.mask = int.from_bytes(u64s(masks), "little")


# ------------------------------------------------------------ generation

class Generator:
    def __init__(self, seed, text, disk):
        self.rng = random.Random(seed)
        tr = random.Random(seed + 1)
        self.slabs = [SlabType(tr) for _ in range(64)]
        self.anons = [AnonType(tr) for _ in range(24)]
        self.text = text
        self.disk = disk

    def rand_int(self):
        return int.from_bytes(self.rng.randbytes(PAGE), "little")

    def slab_pages(self, n):
        rng = self.rng
        t = rng.choice(self.slabs)
        out = []
        for _ in range(n):
            page = bytearray(((self.rand_int() & t.mask) | t.const).to_bytes(PAGE, "little"))
            nfree = int(t.nobj * t.free_bias * rng.random())
            if nfree:  # a run of free (zeroed) objects
                o = rng.randrange(t.nobj - nfree + 1) * t.size
                page[o:o + nfree * t.size] = bytes(nfree * t.size)
            out.append(page)
        return b"".join(out)

    def anon_pages(self, n):
        rng = self.rng
        t = rng.choice(self.anons)
        out = []
        for _ in range(n):
            page = bytearray(((self.rand_int() & t.mask) | t.const).to_bytes(PAGE, "little"))
            for _ in range(rng.randrange(0, 5)):   # strings in the heap
                ln = rng.randrange(16, 512)
                o = rng.randrange(0, PAGE - ln) & ~7
                s = rng.randrange(len(self.text) - ln)
                page[o:o + ln] = self.text[s:s + ln]
            out.append(page)
        return b"".join(out)

    def text_pages(self, n):
        rng = self.rng
        out = []
        for _ in range(n):
            parts, ln = [], 0
            while ln < PAGE:
                k = rng.randrange(300, 3000)
                s = rng.randrange(len(self.text) - k)
                parts.append(self.text[s:s + k])
                ln += k
            out.append(b"".join(parts)[:PAGE])
        return b"".join(out)

    def pgtable_pages(self, n):
        """x86-64 page tables: runs of PTEs mapping consecutive frames."""
        rng = self.rng
        out = []
        for _ in range(n):
            ents = []
            while len(ents) < 512:
                k = min(512 - len(ents), rng.choice([1, 4, 16, 64, 512]))
                if rng.random() < 0.3:
                    ents += [0] * k
                    continue
                pfn = rng.getrandbits(22)
                fl = rng.choice([0x8000000000000067, 0x8000000000000025, 0x0000000000000027,
                                 0x8000000000000063])
                ents += [fl | ((pfn + i) << 12) for i in range(k)]
            out.append(u64s(ents))
        return b"".join(out)

    def random_pages(self, n):
        return self.rng.randbytes(n * PAGE)


class Disk:
    """Random non-zero blocks of disk-v1.img, for page-cache copies."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.nblocks = os.path.getsize(path) // PAGE
        self.zero = bytes(PAGE)

    def read(self, block, n):
        self.f.seek(block * PAGE)
        return self.f.read(n * PAGE)

    def nonzero_block(self, rng, align=1, n=1):
        """A random block (multiple of `align`) whose next n blocks are all
        non-zero."""
        for _ in range(10000):
            b = rng.randrange(0, self.nblocks - n + 1) // align * align
            data = self.read(b, n)
            if all(data[o:o + PAGE] != self.zero for o in range(0, len(data), PAGE)):
                return b, data
        raise SystemExit("disk image has (almost) no data")


def build(args):
    npages = args.size_mib * 256
    text = text_corpus(32 << 20)
    log("text corpus: %.1f MB" % (len(text) / 1e6))
    disk = Disk(args.disk)
    g = Generator(args.seed, text, disk)
    rng = random.Random(args.seed + 2)
    mix = dict(DEFAULT_MIX)
    if args.only:
        mix = {args.only: 1.0}
    if not args.only:
        mix["cache"] = args.cache_frac
    kinds = sorted(mix)
    # runs of random length and kind, drawn against each kind's remaining
    # quota of pages so the shares come out (almost) exact
    quota = {k: int(round(mix[k] * npages)) for k in kinds}
    img = bytearray(npages * PAGE)
    plan = []   # (start page, kind, length)
    pos = 0
    counts = dict.fromkeys(kinds, 0)
    while pos < npages:
        avail = [k for k in kinds if quota[k] > 0] or ["zero"]
        k = rng.choices(avail, [max(quota[k], 1) / MEAN_RUN[k] for k in avail])[0]
        n = min(1 + int(rng.expovariate(1.0 / MEAN_RUN[k])), npages - pos, max(quota[k], 1))
        if k == "cache":
            n = min(n, 15)  # < 16 pages: never a whole 64 KiB block
        quota[k] -= n
        plan.append((pos, k, n))
        counts[k] += n
        pos += n

    gen = {"slab": g.slab_pages, "anon": g.anon_pages, "text": g.text_pages,
           "pgtable": g.pgtable_pages, "random": g.random_pages}
    for start, k, n in plan:
        if k == "zero":
            continue
        if k == "cache":
            # consecutive disk blocks; avoid the disk block's 64 KiB phase
            b, _ = disk.nonzero_block(rng)
            b = min(b, disk.nblocks - n)
            if (b - start) % 16 == 0:
                b = b + 1 if b + n < disk.nblocks else b - 1
            data = disk.read(b, n)
        else:
            data = gen[k](n)
        img[start * PAGE:(start + n) * PAGE] = data

    # a few large folios: whole 64 KiB disk blocks at 64 KiB-aligned addresses
    nfolio = 0 if args.only else int(round(npages / 16 * args.folio_frac))
    for _ in range(nfolio):
        _, blk = disk.nonzero_block(rng, align=16, n=16)
        slot = rng.randrange(npages // 16) * 16
        img[slot * PAGE:(slot + 16) * PAGE] = blk
    counts["folio"] = nfolio * 16
    log("pages by kind: " + ", ".join("%s %.1f%%" % (k, 100.0 * v / npages)
                                      for k, v in sorted(counts.items())))
    with open(args.out, "wb") as fh:
        fh.write(img)
    log("wrote %s (%d MiB)" % (args.out, args.size_mib))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--disk", required=True, help="disk-v1.img (page-cache source)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--cache-frac", type=float, default=0.063,
                    help="share of pages that are copies of disk-v1 blocks")
    ap.add_argument("--folio-frac", type=float, default=0.001,
                    help="share of 64 KiB blocks that are whole aligned disk 64 KiB blocks")
    ap.add_argument("--only", choices=sorted(DEFAULT_MIX), help=argparse.SUPPRESS)
    args = ap.parse_args()
    build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
