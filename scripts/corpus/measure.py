#!/usr/bin/env python3
"""Measure a corpus made by make-corpus.sh and compare with the figures the
benchmark issues quote.

    measure.py OUTDIR [--scale 1|0.125]

Prints (and writes to OUTDIR/REPORT.txt):
  * file sizes;
  * `lz4 -1` and `zstd -3 -T0` compressed size of each image;
  * share of disk-v2.img's non-zero 4 KiB / 64 KiB blocks found in disk-v1.img;
  * share of mem.img's 4 KiB / 64 KiB pages found in disk-v1.img.
Targets are the issues' figures, scaled by --scale for byte sizes.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep scripts/corpus/ free of __pycache__
sys.path.insert(0, HERE)
import block_overlap  # noqa: E402

MB = 1e6
# figures quoted in the issues (full-size corpus)
TARGETS = {
    ("disk-v1.img", "lz4"): 842 * MB,
    ("disk-v1.img", "zstd"): 635 * MB,
    ("mem.img", "lz4"): 336 * MB,
    ("mem.img", "zstd"): 229 * MB,
}


def compressed_size(cmd, path):
    p = subprocess.Popen(cmd + [path], stdout=subprocess.PIPE)
    total = 0
    while True:
        b = p.stdout.read(1 << 20)
        if not b:
            break
        total += len(b)
    if p.wait() != 0:
        raise SystemExit("%s failed on %s" % (cmd[0], path))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    out = a.outdir
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    def vs(val, target, unit="MB"):
        if target is None:
            return ""
        rel = (val - target) / target * 100
        return "   target %8.1f %s (%+.1f%%)" % (target / MB, unit, rel)

    imgs = ["disk-v1.img", "disk-v2.img", "mem.img"]
    say("corpus in %s (scale %g)" % (os.path.abspath(out), a.scale))
    say()
    say("sizes")
    for f in imgs:
        say("  %-12s %14d bytes (%.2f GiB)" % (f, os.path.getsize(os.path.join(out, f)),
                                             os.path.getsize(os.path.join(out, f)) / 2**30))
    info = os.path.join(out, "disks.txt")
    if os.path.exists(info):
        with open(info) as fh:
            for l in fh:
                say("  " + l.rstrip())
    say()
    say("compressed sizes (whole image through the CLI)")
    for f in imgs:
        path = os.path.join(out, f)
        for name, cmd in (("lz4", ["lz4", "-1", "-c"]), ("zstd", ["zstd", "-3", "-T0", "-c", "-q"])):
            t = time.time()
            n = compressed_size(cmd, path)
            tgt = TARGETS.get((f, name))
            if tgt is not None:
                tgt *= a.scale
            say("  %-12s %-4s %8.1f MB  (%.3f of input, %4.1fs)%s"
                % (f, name, n / MB, n / os.path.getsize(path), time.time() - t, vs(n, tgt)))
    say()
    sizes = [4096, 65536]
    t = time.time()
    idx = block_overlap.ref_index(os.path.join(out, "disk-v1.img"), sizes)
    r2 = block_overlap.overlap(None, os.path.join(out, "disk-v2.img"), sizes, index=idx)
    rm = block_overlap.overlap(None, os.path.join(out, "mem.img"), sizes, index=idx)
    say("block overlap with disk-v1.img (aligned blocks, all-zero blocks excluded; %.1fs)"
        % (time.time() - t))
    targets_v2 = {4096: "74%", 65536: "3.8%"}
    for bs in sizes:
        r = r2[bs]
        say("  disk-v2 %2d KiB: %6d of %6d non-zero blocks in v1 = %5.1f%%   target %s"
            % (bs // 1024, r["found"], r["nonzero"], 100 * r["found_of_nonzero"], targets_v2[bs]))
    targets_mem = {4096: "6.4%", 65536: "0.1%"}
    for bs in sizes:
        r = rm[bs]
        say("  mem     %2d KiB: %6d of %6d blocks in v1 = %5.2f%% of all (%5.2f%% of the"
            " %d non-zero)   target %s"
            % (bs // 1024, r["found"], r["blocks"], 100 * r["found_of_all"],
               100 * r["found_of_nonzero"], r["nonzero"], targets_mem[bs]))
    with open(os.path.join(out, "REPORT.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
