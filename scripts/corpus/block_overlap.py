#!/usr/bin/env python3
"""Measure how many aligned blocks of TARGET already exist in REF.

For every block size given (default 4 KiB and 64 KiB) both files are cut
into aligned blocks (offset 0, bs, 2*bs, ...; a short tail block is padded
with zeros, as a block device would be).  All-zero blocks are set apart:
they are counted but never looked up, since every image has them.

    block_overlap.py REF TARGET [--block 4096] [--block 65536] [--json]

Reported per block size:
    blocks            aligned blocks in TARGET
    nonzero           of those, blocks that are not all zeros
    found             non-zero TARGET blocks whose content occurs
                      (at any aligned position) in REF
    found/nonzero     the "overlap" figure the benchmark issues quote
    found/blocks      the same against all blocks

Python 3 stdlib only; SHA-1 of each block (hashlib, uses the CPU's SHA
instructions where present), one sequential pass over each file.
"""
import argparse
import hashlib
import json
import os
import sys

CHUNK = 16 << 20  # read size, a multiple of every supported block size


def iter_chunks(path):
    with open(path, "rb", buffering=0) as f:
        while True:
            buf = f.read(CHUNK)
            if not buf:
                return
            yield buf


def block_hashes(path, sizes, want_set):
    """One pass over `path`.  For each block size returns either a set of
    digests of non-zero blocks (want_set) or (blocks, nonzero, digests-list)."""
    zero = {bs: bytes(bs) for bs in sizes}
    sets = {bs: set() for bs in sizes}
    lists = {bs: [] for bs in sizes}
    counts = {bs: [0, 0] for bs in sizes}
    sha1 = hashlib.sha1
    for buf in iter_chunks(path):
        n = len(buf)
        for bs in sizes:
            z = zero[bs]
            out_set = sets[bs]
            out_list = lists[bs]
            c = counts[bs]
            if n % bs:
                padded = buf + bytes(bs - n % bs)
            else:
                padded = buf
            if padded.count(0) == len(padded):  # whole chunk is zeros
                c[0] += len(padded) // bs
                continue
            for off in range(0, len(padded), bs):
                blk = padded[off:off + bs]
                c[0] += 1
                if blk == z:
                    continue
                c[1] += 1
                d = sha1(blk).digest()
                if want_set:
                    out_set.add(d)
                else:
                    out_list.append(d)
    if want_set:
        return sets, counts
    return lists, counts


def ref_index(ref, sizes):
    """Digest sets of REF's non-zero blocks, reusable for several targets."""
    return block_hashes(ref, sizes, True)


def overlap(ref, target, sizes, index=None):
    ref_sets, ref_counts = index if index is not None else ref_index(ref, sizes)
    tgt_lists, tgt_counts = block_hashes(target, sizes, False)
    res = {}
    for bs in sizes:
        s = ref_sets[bs]
        found = sum(1 for d in tgt_lists[bs] if d in s)
        blocks, nonzero = tgt_counts[bs]
        res[bs] = {
            "block_size": bs,
            "ref_blocks": ref_counts[bs][0],
            "ref_nonzero": ref_counts[bs][1],
            "ref_unique_nonzero": len(s),
            "blocks": blocks,
            "nonzero": nonzero,
            "found": found,
            "found_of_nonzero": found / nonzero if nonzero else 0.0,
            "found_of_all": found / blocks if blocks else 0.0,
        }
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref")
    ap.add_argument("target")
    ap.add_argument("--block", type=int, action="append",
                    help="block size in bytes (repeatable; default 4096 and 65536)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = ap.parse_args(argv)
    sizes = a.block or [4096, 65536]
    for bs in sizes:
        if bs <= 0 or CHUNK % bs:
            ap.error("block size must divide %d" % CHUNK)
    res = overlap(a.ref, a.target, sizes)
    if a.json:
        json.dump({str(k): v for k, v in res.items()}, sys.stdout, indent=1)
        print()
        return 0
    print("REF    %s (%d bytes)" % (a.ref, os.path.getsize(a.ref)))
    print("TARGET %s (%d bytes)" % (a.target, os.path.getsize(a.target)))
    for bs in sizes:
        r = res[bs]
        print("  %6d B blocks: %9d in target, %9d non-zero, %9d of those in ref"
              " = %6.2f%% of non-zero (%6.2f%% of all)"
              % (bs, r["blocks"], r["nonzero"], r["found"],
                 100 * r["found_of_nonzero"], 100 * r["found_of_all"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
