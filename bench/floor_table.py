#!/usr/bin/env python3
"""hexz, the peer and the machine's floor side by side, from one benchmark run.

Reads the tool comparison (bench/compare.py --out) and one bench_floor JSON per input, and
prints a Markdown section: for each input, pack LZ4 / zstd-3, thread scaling, cat and extract,
with hexz's median wall time, the peer's, their ratio, the floor (bench_floor: primitives
only, on this machine's cores) and hexz's ratio to it, plus the zstd-3 size against
whole-stream zstd -3.

Usage: floor_table.py --compare compare.json --floor NAME=floor.json [--floor ...]
"""

import argparse
import json
import sys


def fmt(v, unit="s"):
    return "—" if v is None else ("%.2f %s" % (v, unit)).strip()


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else "%.2f×" % (a / b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", required=True)
    ap.add_argument("--floor", action="append", default=[], help="NAME=PATH (input name)")
    a = ap.parse_args()
    with open(a.compare) as f:
        compare = json.load(f)
    floors = {}
    for spec in a.floor:
        name, path = spec.split("=", 1)
        with open(path) as f:
            floors[name] = json.load(f)

    out = ["## Floor: hexz, the peer and the machine's floor (same run)", "",
           "Floor = the per-core throughput of the primitives on the input's own non-zero bytes "
           "(`bench_floor`: LZ4 / zstd-3 encode and decode of 64 KiB blocks, BLAKE3 of 4 KiB "
           "chunks) times the non-zero bytes, over the cores: pack = encode + BLAKE3, cat = "
           "decode. Wall times are medians of this run; extract is compared with `zstd -d -o "
           "FILE` plus the `sync` after it (hexz fsyncs) and, with `--no-sync`, without.", ""]
    for inp in compare["inputs"]:
        cfg = {c["id"]: c for c in inp["configs"]}

        def wall(cid):
            c = cfg.get(cid)
            return c["summary"]["wall"] if c and c.get("summary") else None

        def fsync(cid):
            c = cfg.get(cid)
            return c["summary"].get("fsync") if c and c.get("summary") else None

        fl = floors.get(inp["name"])
        fs = fl["floor_seconds"] if fl else {}
        out += ["### %s" % inp["name"], ""]
        if fl:
            pc = fl["per_core_mbps"]
            out += ["Per core on this input (MB/s): LZ4 encode %.0f, decode %.0f; zstd-3 encode "
                    "%.0f, decode %.0f; BLAKE3 %.0f. Non-zero bytes: %.1f MB of %.1f MB, %d "
                    "cores." % (pc["lz4_encode"], pc["lz4_decode"], pc["zstd3_encode"],
                                pc["zstd3_decode"], pc["blake3"], fl["nonzero_bytes"] / 1e6,
                                fl["size"] / 1e6, fl["cores"]), ""]
        out += ["| work | hexz | peer | hexz / peer | floor | hexz / floor |",
                "|---|---|---|---|---|---|"]
        rows = [
            ("pack LZ4", "hexz-lz4", "sqfs-lz4", "mksquashfs -comp lz4", fs.get("pack_lz4")),
            ("pack zstd-3", "hexz-zstd", "zstd", "zstd -3 -T0", fs.get("pack_zstd3")),
            ("cat to /dev/null, LZ4", "hexz-cat-lz4", "lz4-d", "lz4 -d -c", fs.get("cat_lz4")),
            ("cat to /dev/null, zstd", "hexz-cat-zstd", "zstd-d", "zstd -d -c",
             fs.get("cat_zstd3")),
        ]
        for label, h, p, plabel, floor in rows:
            out.append("| %s | %s | %s: %s | %s | %s | %s |" % (
                label, fmt(wall(h)), plabel, fmt(wall(p)), ratio(wall(h), wall(p)), fmt(floor),
                ratio(wall(h), floor)))
        t1, t2 = wall("hexz-t1"), wall("hexz-t2")
        out.append("| `--threads 2` against `--threads 1` (zstd) | %s / %s | | %s faster | | |" %
                   (fmt(t2), fmt(t1), ratio(t1, t2)))
        zf, zs = wall("zstd-d-file"), fsync("zstd-d-file")
        zfs = zf + zs if zf is not None and zs is not None else None
        out.append("| extract to a file, zstd (fsync) | %s | zstd -d -o FILE + sync: %s | %s | | |"
                   % (fmt(wall("hexz-x-zstd")), fmt(zfs), ratio(wall("hexz-x-zstd"), zfs)))
        out.append("| extract `--no-sync`, zstd | %s | zstd -d -o FILE: %s | %s | | |" % (
            fmt(wall("hexz-x-zstd-nosync")), fmt(zf), ratio(wall("hexz-x-zstd-nosync"), zf)))
        hz, pz = cfg.get("hexz-zstd"), cfg.get("zstd")
        if hz and pz and hz.get("out_size") and pz.get("out_size"):
            out.append("| zstd-3 size | %.1f MB | whole-stream zstd -3: %.1f MB | %+.1f%% | | |" % (
                hz["out_size"] / 1e6, pz["out_size"] / 1e6,
                100.0 * (hz["out_size"] / pz["out_size"] - 1)))
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
