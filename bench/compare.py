#!/usr/bin/env python3
"""Times `hexz pack` / `hexz extract` against peer tools on the same inputs, interleaved.

For every input (e.g. disk=.../disk-v1.img memory=.../mem.img) and every repetition, each
configuration runs once, in a shuffled order within the repetition, so that drift in machine
load spreads evenly over all tools. Compression runs come first in a repetition; the
decompression runs then read the files written in that same repetition.

Every run: `sync` first (not timed) so no earlier dirty pages are being written back, then
`/usr/bin/time -f '%e %M %U %S'` around the command; wall time is also taken with
perf_counter (finer than %e). The inputs are read once before the first run so they are in
the page cache for every run, and so is the file every decompression run reads. After the first repetition each hexz snapshot is extracted and
compared with its input (cmp), outside the timed part.

Writes a JSON file that bench/report.py turns into docs/benchmarks.md.
Standard library only.
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

TIME = "/usr/bin/time"


def log(msg):
    print("compare: " + msg, file=sys.stderr, flush=True)


def help_text(hexz, sub):
    r = subprocess.run([hexz, sub, "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def warm(path):
    """Reads `path` once so that it sits in the page cache (holes are read too: cheap)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def allocated(path):
    st = os.stat(path)
    return st.st_blocks * 512


def rm(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Config:
    """One command to time.

    kind: 'pack' (reads the input, writes `out`) or 'unpack' (reads a pack output).
    tool: 'hexz' or 'peer'. cmd: argv list; stdout_null: send stdout to /dev/null.
    """

    def __init__(self, cid, label, kind, tool, cmd, out=None, stdout_null=False, note="",
                 source=None, stream=None, roundtrip=False):
        self.cid = cid
        self.label = label
        self.kind = kind
        self.tool = tool
        self.cmd = cmd
        self.out = out
        self.stdout_null = stdout_null
        self.note = note
        self.source = source  # for unpack: id of the pack config whose output it reads
        self.stream = stream
        self.roundtrip = roundtrip
        self.runs = []
        self.fsync = []
        self.error = None
        self.out_size = None
        self.out_alloc = None


def build_configs(name, inp, stream, work, hexz, nproc, caps):
    """The configurations for one input. `caps` says which optional hexz flags exist."""
    d = os.path.join(work, "out", name)
    os.makedirs(d, exist_ok=True)
    o = lambda ext: os.path.join(d, name + ext)  # noqa: E731
    sflag = "--disk" if stream == "disk" else "--memory"
    cfgs = [
        Config("lz4", "lz4 -1", "pack", "peer", ["lz4", "-1", "-f", "-q", inp, o(".lz4")], o(".lz4")),
        Config("sqfs-lz4", "mksquashfs -comp lz4", "pack", "peer",
               ["mksquashfs", inp, o(".lz4.sqfs"), "-comp", "lz4", "-noappend", "-quiet",
                "-no-progress", "-processors", str(nproc)], o(".lz4.sqfs")),
        Config("sqfs-zstd", "mksquashfs -comp zstd -Xcompression-level 3", "pack", "peer",
               ["mksquashfs", inp, o(".zstd.sqfs"), "-comp", "zstd", "-Xcompression-level", "3",
                "-noappend", "-quiet", "-no-progress", "-processors", str(nproc)], o(".zstd.sqfs")),
        Config("zstd", "zstd -3 -T0", "pack", "peer",
               ["zstd", "-3", "-T0", "-f", "-q", inp, "-o", o(".zst")], o(".zst")),
        Config("qcow2", "qemu-img convert -c qcow2 zstd", "pack", "peer",
               ["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd",
                "-m", "2", "-W", inp, o(".qcow2")], o(".qcow2")),
    ]
    hx = lambda cid, label, extra, note="": Config(  # noqa: E731
        cid, label, "pack", "hexz",
        [hexz, "pack", sflag, inp, "-o", o("." + cid + ".hxz"), "--force", "-q"] + extra,
        o("." + cid + ".hxz"), note=note, stream=stream, roundtrip=True)
    cfgs.append(hx("hexz-lz4", "hexz pack --compression lz4", ["--compression", "lz4"]))
    cfgs.append(hx("hexz-zstd", "hexz pack --compression zstd --level 3",
                   ["--compression", "zstd", "--level", "3"]))
    if caps["train_dict"]:
        cfgs.append(hx("hexz-zstd-dict", "hexz pack zstd -3 --train-dict",
                       ["--compression", "zstd", "--level", "3", "--train-dict"]))
    if caps["threads"]:
        # Thread scaling with the default codec (zstd level 3).
        cfgs.append(hx("hexz-t1", "hexz pack (defaults) --threads 1", ["--threads", "1"]))
        cfgs.append(hx("hexz-t2", "hexz pack (defaults) --threads 2", ["--threads", "2"]))
    else:
        # Without --threads, approximate scaling by pinning the default pack to 1 or 2 CPUs.
        note = "CLI has no --threads: pinned with taskset"
        for n in (1, 2):
            c = hx("hexz-t%d" % n, "hexz pack taskset %d CPU%s" % (n, "" if n == 1 else "s"),
                   [], note)
            c.cmd = ["taskset", "-c", ",".join(str(i) for i in range(n))] + c.cmd
            cfgs.append(c)
    # Decompression.
    cfgs += [
        Config("zstd-d", "zstd -d -c > /dev/null", "unpack", "peer",
               ["zstd", "-d", "-c", "-q", o(".zst")], None, stdout_null=True, source="zstd"),
        Config("zstd-d-file", "zstd -d -o FILE", "unpack", "peer",
               ["zstd", "-d", "-f", "-q", o(".zst"), "-o", o(".zst.out")], o(".zst.out"),
               source="zstd"),
        Config("lz4-d", "lz4 -d -c > /dev/null", "unpack", "peer",
               ["lz4", "-d", "-c", "-q", o(".lz4")], None, stdout_null=True, source="lz4"),
        Config("hexz-x-lz4", "hexz extract (lz4 snapshot) FILE", "unpack", "hexz",
               [hexz, "extract", o(".hexz-lz4.hxz"), sflag, o(".x-lz4.out"), "--force", "-q"],
               o(".x-lz4.out"), source="hexz-lz4"),
        Config("hexz-x-zstd", "hexz extract (zstd-3 snapshot) FILE", "unpack", "hexz",
               [hexz, "extract", o(".hexz-zstd.hxz"), sflag, o(".x-zstd.out"), "--force", "-q"],
               o(".x-zstd.out"), source="hexz-zstd"),
        Config("hexz-x-zstd-nosync", "hexz extract --no-sync (zstd-3 snapshot) FILE", "unpack",
               "hexz", [hexz, "extract", o(".hexz-zstd.hxz"), sflag, o(".x-zstd-ns.out"),
                        "--force", "-q", "--no-sync"],
               o(".x-zstd-ns.out"), source="hexz-zstd"),
        # Like-for-like with `zstd -d -c > /dev/null`: decode the whole stream to stdout.
        Config("hexz-cat-lz4", "hexz cat (lz4 snapshot) > /dev/null", "unpack", "hexz",
               [hexz, "cat", o(".hexz-lz4.hxz"), "--stream", stream], None, stdout_null=True,
               source="hexz-lz4"),
        Config("hexz-cat-zstd", "hexz cat (zstd-3 snapshot) > /dev/null", "unpack", "hexz",
               [hexz, "cat", o(".hexz-zstd.hxz"), "--stream", stream], None, stdout_null=True,
               source="hexz-zstd"),
    ]
    return cfgs


def run_one(cfg, tfile):
    """Runs cfg once (after sync); returns a run dict or raises RuntimeError."""
    if cfg.out:
        rm(cfg.out)
    subprocess.run(["sync"], check=False)
    argv = [TIME, "-f", "%e %M %U %S", "-o", tfile] + cfg.cmd
    t0 = time.perf_counter()
    # Every command's stdout goes to /dev/null (the "> /dev/null" of the decompressors).
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError("exit %d: %s" % (r.returncode, " | ".join(err[-3:])))
    with open(tfile) as f:
        line = f.read().strip().splitlines()[-1]
    e, m, u, s = line.split()
    run = {"wall": wall, "time_e": float(e), "rss_kib": int(m), "user": float(u), "sys": float(s)}
    if cfg.out and os.path.exists(cfg.out):
        cfg.out_size = os.path.getsize(cfg.out)
        cfg.out_alloc = allocated(cfg.out)
        if cfg.tool == "peer":
            # What the peer would pay to make its output durable, as hexz does (fsync): packed
            # files and extracted images alike.
            t0 = time.perf_counter()
            subprocess.run(["sync", cfg.out], check=False)
            cfg.fsync.append(time.perf_counter() - t0)
    return run


def roundtrip(cfg, inp, work):
    """Extracts cfg's snapshot and compares it with the input. Returns (ok, message)."""
    out = os.path.join(work, "roundtrip.out")
    rm(out)
    hexz = cfg.cmd[cfg.cmd.index("pack") - 1]
    flag = "--disk" if cfg.stream == "disk" else "--memory"
    r = subprocess.run([hexz, "extract", cfg.out, flag, out, "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "extract failed: " + r.stderr.strip()
    c = subprocess.run(["cmp", inp, out], capture_output=True, text=True)
    rm(out)
    if c.returncode != 0:
        return False, "cmp: " + (c.stdout + c.stderr).strip()
    return True, "identical"


def hexz_info(hexz, path):
    r = subprocess.run([hexz, "info", path, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return None


def summarize(cfg):
    if not cfg.runs:
        return None
    med = lambda k: statistics.median(r[k] for r in cfg.runs)  # noqa: E731
    return {
        "wall": med("wall"),
        "wall_min": min(r["wall"] for r in cfg.runs),
        "wall_max": max(r["wall"] for r in cfg.runs),
        "cpu": med("user") + med("sys"),
        "user": med("user"),
        "sys": med("sys"),
        "rss_kib": max(r["rss_kib"] for r in cfg.runs),
        "fsync": statistics.median(cfg.fsync) if cfg.fsync else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hexz", required=True)
    ap.add_argument("--input", action="append", required=True,
                    help="NAME=STREAM=PATH, e.g. disk-v1.img=disk=/work/corpus/disk-v1.img")
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    nproc = os.cpu_count() or 1
    for tool in ("lz4", "zstd", "mksquashfs", "qemu-img", "taskset", "cmp", "sync"):
        if not shutil.which(tool):
            log("missing tool %s (run bench/run_benchmarks.sh, which installs it)" % tool)
            return 1
    if not os.access(TIME, os.X_OK):
        log("missing %s (apt-get install time)" % TIME)
        return 1
    pack_help = help_text(a.hexz, "pack")
    caps = {"threads": "--threads" in pack_help, "train_dict": "--train-dict" in pack_help}
    log("hexz pack flags: --threads %s, --train-dict %s" %
        ("yes" if caps["threads"] else "MISSING", "yes" if caps["train_dict"] else "MISSING"))

    os.makedirs(a.work, exist_ok=True)
    tfile = os.path.join(a.work, "time.out")
    rng = random.Random(a.seed)
    inputs = []
    for spec in a.input:
        name, stream, path = spec.split("=", 2)
        inputs.append({"name": name, "stream": stream, "path": os.path.abspath(path),
                       "size": os.path.getsize(path), "allocated": allocated(path),
                       "configs": build_configs(name, path, stream, a.work, a.hexz, nproc, caps)})

    log("warming the page cache with the inputs")
    for inp in inputs:
        warm(inp["path"])
    load_before = open("/proc/loadavg").read().split()[:3]
    started = time.time()

    for rep in range(a.reps):
        for inp in inputs:
            packs = [c for c in inp["configs"] if c.kind == "pack"]
            unpacks = [c for c in inp["configs"] if c.kind == "unpack"]
            rng.shuffle(packs)
            rng.shuffle(unpacks)
            for cfg in packs + unpacks:
                if cfg.error:
                    continue
                if cfg.source:
                    src = next(c for c in inp["configs"] if c.cid == cfg.source)
                    if src.error:
                        cfg.error = "its input (%s) failed" % src.label
                        continue
                if cfg.kind == "unpack" and cfg.source:
                    # The snapshot or archive read: in the page cache, as for every peer
                    # (hexz packs with O_DIRECT, so its outputs are not cached by writing).
                    src = next(c for c in inp["configs"] if c.cid == cfg.source)
                    if src.out and os.path.exists(src.out):
                        warm(src.out)
                try:
                    run = run_one(cfg, tfile)
                except RuntimeError as e:
                    cfg.error = str(e)
                    log("%s %s: FAILED %s" % (inp["name"], cfg.label, e))
                    continue
                cfg.runs.append(run)
                log("rep %d/%d %-12s %-45s %7.2f s %7d KiB" %
                    (rep + 1, a.reps, inp["name"], cfg.label, run["wall"], run["rss_kib"]))
                if cfg.kind == "unpack" and cfg.out:
                    rm(cfg.out)  # do not let extracted images pile up in the page cache
            if rep == 0:
                for cfg in inp["configs"]:
                    if cfg.roundtrip and not cfg.error:
                        ok, msg = roundtrip(cfg, inp["path"], a.work)
                        cfg.roundtrip_result = {"ok": ok, "message": msg}
                        log("round trip %s %s: %s" % (inp["name"], cfg.label, msg))
                        cfg.info = hexz_info(a.hexz, cfg.out)

    result = {
        "reps": a.reps,
        "nproc": nproc,
        "caps": caps,
        "started": started,
        "seconds": time.time() - started,
        "loadavg_before": load_before,
        "loadavg_after": open("/proc/loadavg").read().split()[:3],
        "inputs": [],
    }
    for inp in inputs:
        result["inputs"].append({
            "name": inp["name"], "stream": inp["stream"], "path": inp["path"],
            "size": inp["size"], "allocated": inp["allocated"],
            "configs": [{
                "id": c.cid, "label": c.label, "kind": c.kind, "tool": c.tool,
                "cmd": " ".join(c.cmd), "note": c.note, "error": c.error,
                "out_size": c.out_size, "out_alloc": c.out_alloc, "runs": c.runs,
                "summary": summarize(c),
                "roundtrip": getattr(c, "roundtrip_result", None),
                "info": getattr(c, "info", None),
            } for c in inp["configs"]],
        })
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    log("wrote %s (%.0f s)" % (a.out, result["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
