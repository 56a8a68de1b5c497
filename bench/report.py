#!/usr/bin/env python3
"""Renders docs/benchmarks.md from bench/compare.py's JSON and Google Benchmark JSON files.

Usage: report.py --compare results.json --micro a.json [--micro b.json ...]
                 --machine machine.json --command "..." [--sample-note TEXT]
                 [--observations bench/observations.md] --out docs/benchmarks.md
Standard library only.
"""

import argparse
import datetime
import json
import os
import sys

MIB = 1 << 20


def mb(n):
    return "%.1f MiB" % (n / MIB) if n is not None else "—"


def secs(s):
    if s is None:
        return "—"
    return "%.3f" % s if s < 10 else "%.2f" % s


def rate(nbytes, s):
    return "%.0f" % (nbytes / s / 1e6) if s else "—"


def ratio(a, b):
    return a / b if a is not None and b else None


def fx(r, digits=2):
    return ("%%.%df×" % digits) % r if r is not None else "—"


def by_id(inp):
    return {c["id"]: c for c in inp["configs"]}


def wall(c):
    return c["summary"]["wall"] if c and c.get("summary") else None


def cpu(c):
    return c["summary"]["cpu"] if c and c.get("summary") else None


def cpu_note(a, b):
    """'; CPU-time ratio X' for two configs, when both ran."""
    r = ratio(cpu(a), cpu(b))
    return "; CPU-seconds ratio %.2f×" % r if r is not None else ""


def size(c):
    return c["out_size"] if c and c.get("summary") else None


def rss(c):
    return c["summary"]["rss_kib"] if c and c.get("summary") else None


def status(c):
    if c is None:
        return "not run"
    if c.get("error"):
        return "failed: " + c["error"]
    return ""


# --------------------------------------------------------------------------- sections


def machine_section(m, compare):
    rows = [
        ("CPU", "%s (%s logical CPUs)" % (m.get("cpu_model", "?"), m.get("nproc", "?"))),
        ("RAM", m.get("ram", "?")),
        ("Kernel", m.get("kernel", "?")),
        ("OS", m.get("os", "?")),
        ("Work folder file system", m.get("fs", "?")),
        ("Compiler", m.get("compiler", "?")),
        ("hexz", m.get("hexz", "?")),
    ]
    for k in ("lz4", "zstd", "mksquashfs", "qemu-img", "google-benchmark"):
        rows.append((k, m.get("v_" + k, "?")))
    rows.append(("Load average before / after the tool runs", "%s / %s" % (
        " ".join(compare["loadavg_before"]), " ".join(compare["loadavg_after"]))))
    out = ["## Machine", "", "| | |", "|---|---|"]
    out += ["| %s | %s |" % r for r in rows]
    la = float(compare["loadavg_before"][0])
    if la > 0.5 * compare["nproc"]:
        out += ["", "**Warning:** the machine was busy when the run started (load average %.1f on "
                "%d CPUs); other work competed for the CPUs, so absolute times are pessimistic "
                "and noisier than on an idle machine. Ratios between tools are fairer, since "
                "every tool ran interleaved under the same conditions, and the CPU-seconds "
                "column is less sensitive to contention than wall time." % (la, compare["nproc"])]
    return out


def inputs_section(compare, sample_note):
    out = ["## Inputs", ""]
    if sample_note:
        out += ["**" + sample_note + "**", ""]
    out += ["| name | stream | path | logical size | allocated on disk |", "|---|---|---|---|---|"]
    for inp in compare["inputs"]:
        out.append("| %s | %s | `%s` | %s (%d bytes) | %s |" % (
            inp["name"], inp["stream"], inp["path"], mb(inp["size"]), inp["size"],
            mb(inp["allocated"])))
    return out


def method_section(compare):
    caps = compare["caps"]
    out = [
        "## Method",
        "",
        "- All tools ran **interleaved** in one session on the same inputs: %d repetitions; in "
        "each, every compressor ran once (shuffled order), then every decompressor on the files "
        "written in that repetition. Tables give the **median**; min–max in brackets."
        % compare["reps"],
        "- The inputs were read once before timing, so every run reads them from the page cache. "
        "Before every run `sync` flushed earlier outputs (not timed).",
        "- Wall time by `perf_counter` around `/usr/bin/time -f '%e %M %U %S'`; peak RSS is "
        "`%M` (maximum over repetitions); CPU s = user + system. Throughput = logical input "
        "bytes / wall time, in MB/s (10^6 bytes).",
        "- hexz writes atomically (temporary file, **fsync**, rename); the peers do not fsync. "
        "The `+fsync` column is the time `sync FILE` took right after each peer run, i.e. what "
        "the peer would add to be equally durable. Targets compare plain wall times, as stated.",
        "- `hexz extract` cannot write to /dev/null (it writes a sparse file atomically), so it "
        "writes a file in the same folder; `zstd -d -o FILE` is shown as the like-for-like "
        "peer; `zstd -d -c > /dev/null` is the reference the target names, and "
        "`hexz cat --stream S SNAP > /dev/null` (whole stream to stdout) is hexz's like-for-like "
        "counterpart to it.",
        "- Every hexz snapshot was extracted and compared with its input (`cmp`) once, outside "
        "the timed runs.",
    ]
    if not caps["threads"]:
        out.append("- **`hexz pack --threads` was missing from the CLI** at the time of the run; "
                   "thread scaling was measured by pinning the default pack to 1 and 2 CPUs with "
                   "`taskset` instead (same work, fewer cores).")
    if not caps["train_dict"]:
        out.append("- **`hexz pack --train-dict` was missing from the CLI** at the time of the "
                   "run; that configuration was not measured.")
    return out


def tables_section(compare):
    out = ["## Results"]
    for inp in compare["inputs"]:
        n = inp["size"]
        out += ["", "### %s (%s, %s)" % (inp["name"], inp["stream"], mb(n)), "",
                "Compression:", "",
                "| tool | wall s | MB/s | CPU s | output | ratio | peak RSS | +fsync s |",
                "|---|---|---|---|---|---|---|---|"]
        for c in inp["configs"]:
            if c["kind"] != "pack":
                continue
            s = c["summary"]
            name = ("**%s**" % c["label"]) if c["tool"] == "hexz" else c["label"]
            if not s:
                out.append("| %s | %s | | | | | | |" % (name, status(c)))
                continue
            out.append("| %s | %s (%s–%s) | %s | %.2f | %s | %.2f | %.1f MiB | %s |" % (
                name, secs(s["wall"]), secs(s["wall_min"]), secs(s["wall_max"]),
                rate(n, s["wall"]), s["cpu"], mb(c["out_size"]), n / c["out_size"],
                s["rss_kib"] / 1024, secs(s["fsync"]) if s["fsync"] is not None else "(inside)"))
        out += ["", "Decompression (throughput in logical MB/s):", "",
                "| tool | wall s | MB/s | CPU s | peak RSS |", "|---|---|---|---|---|"]
        for c in inp["configs"]:
            if c["kind"] != "unpack":
                continue
            s = c["summary"]
            name = ("**%s**" % c["label"]) if c["tool"] == "hexz" else c["label"]
            if not s:
                out.append("| %s | %s | | | |" % (name, status(c)))
                continue
            out.append("| %s | %s (%s–%s) | %s | %.2f | %.1f MiB |" % (
                name, secs(s["wall"]), secs(s["wall_min"]), secs(s["wall_max"]),
                rate(n, s["wall"]), s["cpu"], s["rss_kib"] / 1024))
        # hexz snapshot facts.
        facts = []
        for c in inp["configs"]:
            info = c.get("info")
            if not info:
                continue
            st = info.get("streams", {}).get(inp["stream"], {})
            rt = c.get("roundtrip") or {}
            facts.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                c["label"], st.get("chunks", "?"), st.get("zero_chunks", "?"),
                st.get("duplicate_chunks", "?"), st.get("stored_blocks", "?"),
                mb(info.get("index_bytes")), ("ok" if rt.get("ok") else "**FAILED**: " +
                                              rt.get("message", "?")) if rt else "—"))
        if facts:
            out += ["", "hexz snapshots (`hexz info --json`) and round trip (extract + cmp):", "",
                    "| configuration | chunks | zero | duplicate | blocks | index | round trip |",
                    "|---|---|---|---|---|---|---|"] + facts
    return out


def ratios_section(compare):
    out = ["## Ratios of hexz to each peer", "",
           "time ratio = hexz wall / peer wall (below 1: hexz faster); size ratio = hexz output / "
           "peer output (below 1: hexz smaller).", ""]
    peers = ["lz4", "sqfs-lz4", "sqfs-zstd", "zstd", "qcow2"]
    hexzs = ["hexz-lz4", "hexz-zstd", "hexz-zstd-dict"]
    for inp in compare["inputs"]:
        cf = by_id(inp)
        pl = [p for p in peers if p in cf]
        out += ["### %s" % inp["name"], "",
                "| hexz \\ peer | " + " | ".join(cf[p]["label"] for p in pl) + " |",
                "|---|" + "---|" * len(pl)]
        for h in hexzs:
            if h not in cf or not cf[h]["summary"]:
                continue
            cells = []
            for p in pl:
                cells.append("time %s, size %s" % (fx(ratio(wall(cf[h]), wall(cf[p]))),
                                                    fx(ratio(size(cf[h]), size(cf[p])), 3)))
            out.append("| %s | %s |" % (cf[h]["label"], " | ".join(cells)))
        dec = [("hexz-x-lz4", "lz4-d"), ("hexz-x-lz4", "zstd-d"), ("hexz-x-zstd", "zstd-d"),
               ("hexz-x-zstd", "zstd-d-file"), ("hexz-cat-lz4", "lz4-d"),
               ("hexz-cat-zstd", "zstd-d")]
        out += ["", "| decompression | time ratio |", "|---|---|"]
        for h, p in dec:
            if h in cf and p in cf:
                out.append("| %s vs %s | %s |" % (cf[h]["label"], cf[p]["label"],
                                                  fx(ratio(wall(cf[h]), wall(cf[p])))))
        out.append("")
    return out


def targets(inp):
    """[(target, measured text, met: True/False/None)] for one input."""
    cf = by_id(inp)
    g = cf.get
    res = []

    def add(name, value, limit, cmp, fmt, detail):
        if value is None:
            res.append((name, "not measured (%s)" % detail, None))
        else:
            met = value <= limit if cmp == "<=" else value < limit if cmp == "<" else value >= limit
            res.append((name, fmt % value + " — " + detail, met))

    t = ratio(wall(g("hexz-lz4")), wall(g("sqfs-lz4")))
    add("pack LZ4 time ≤ 0.5× mksquashfs-lz4", t, 0.5, "<=", "%.2f×",
        "%s s vs %s s%s" % (secs(wall(g("hexz-lz4"))), secs(wall(g("sqfs-lz4"))),
                            cpu_note(g("hexz-lz4"), g("sqfs-lz4"))))
    t = ratio(size(g("hexz-lz4")), size(g("lz4")))
    add("pack LZ4 size ≤ lz4 -1", t, 1.0, "<=", "%.3f×",
        "%s vs %s" % (mb(size(g("hexz-lz4"))), mb(size(g("lz4")))))
    t = ratio(wall(g("hexz-zstd")), wall(g("zstd")))
    add("pack zstd-3 time ≤ 0.8× zstd -3 -T0", t, 0.8, "<=", "%.2f×",
        "%s s vs %s s%s" % (secs(wall(g("hexz-zstd"))), secs(wall(g("zstd"))),
                            cpu_note(g("hexz-zstd"), g("zstd"))))
    t = ratio(size(g("hexz-zstd")), size(g("sqfs-zstd")))
    add("pack zstd-3 size < mksquashfs zstd", t, 1.0, "<", "%.3f×",
        "%s vs %s" % (mb(size(g("hexz-zstd"))), mb(size(g("sqfs-zstd")))))
    t = ratio(size(g("hexz-zstd")), size(g("qcow2")))
    add("pack zstd-3 size < qcow2 (zstd)", t, 1.0, "<", "%.3f×",
        "%s vs %s" % (mb(size(g("hexz-zstd"))), mb(size(g("qcow2")))))
    t = ratio(size(g("hexz-zstd-dict")), size(g("zstd")))
    add("--train-dict size within 5% of zstd -3", t, 1.05, "<=", "%.3f×",
        "%s vs %s" % (mb(size(g("hexz-zstd-dict"))), mb(size(g("zstd"))))
        if g("hexz-zstd-dict") else "CLI lacks --train-dict")
    t = ratio(wall(g("hexz-t1")), wall(g("hexz-t2")))
    note = g("hexz-t1")["note"] if g("hexz-t1") and g("hexz-t1")["note"] else "--threads 1 vs 2"
    add("2 threads ≥ 1.8× faster than 1", t, 1.8, ">=", "%.2f×",
        "%s s vs %s s (%s)" % (secs(wall(g("hexz-t1"))), secs(wall(g("hexz-t2"))), note))
    t = ratio(wall(g("zstd-d")), wall(g("hexz-x-zstd")))
    add("extract ≥ 2× faster than zstd -d", t, 2.0, ">=", "%.2f×",
        "zstd -d %s s vs extract of the zstd-3 snapshot %s s (LZ4 snapshot: %s s)%s" % (
            secs(wall(g("zstd-d"))), secs(wall(g("hexz-x-zstd"))), secs(wall(g("hexz-x-lz4"))),
            cpu_note(g("zstd-d"), g("hexz-x-zstd"))) + (
            "; like-for-like `hexz cat > /dev/null` of the zstd-3 snapshot: %s s, %s" % (
                secs(wall(g("hexz-cat-zstd"))),
                fx(ratio(wall(g("zstd-d")), wall(g("hexz-cat-zstd")))))
            if wall(g("hexz-cat-zstd")) else ""))
    packs = [c for c in inp["configs"] if c["tool"] == "hexz" and c["kind"] == "pack"
             and c["summary"]]
    if packs:
        worst = max(packs, key=rss)
        add("pack peak RSS < 100 MiB", rss(worst) / 1024, 100, "<", "%.1f MiB",
            "highest of all hexz pack configurations (%s)" % worst["label"])
    return res


def read_targets(micro_files):
    """Random-read latency targets from bench_read's JSON: [(target, text, met)]."""
    path = next((m for m in micro_files if m.endswith("bench_read.json")), None)
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        runs = {b["name"]: b for b in json.load(f).get("benchmarks", [])}
    res = []
    for codec, label, cold_limit in (("lz4", "LZ4", 20000), ("zstd3", "zstd-3", 50000)):
        for kind, limit in (("cold", cold_limit), ("warm", 1000)):
            b = runs.get("BM_RandomRead/%s_%s/real_time/threads:1" % (codec, kind))
            name = "random 4 KiB read, %s, block cache %s: p50 < %s µs" % (
                label, kind, "%g" % (limit / 1000))
            if not b or "p50_ns" not in b:
                res.append((name, "not measured", None))
                continue
            p50 = b["p50_ns"]
            res.append((name, "%.1f µs (p99 %.1f µs), 1 thread" % (p50 / 1000, b["p99_ns"] / 1000),
                        p50 < limit))
    return res


def chunker_targets(micro_files):
    """FastCDC throughput target (issue: at least 2.7 GB/s per core) from bench_chunker's JSON."""
    path = next((m for m in micro_files if m.endswith("bench_chunker.json")), None)
    if not path or not os.path.exists(path):
        return []
    res = []
    with open(path) as f:
        runs = json.load(f).get("benchmarks", [])
    for b in runs:
        if not b["name"].startswith("BM_FastCdc/") or "bytes_per_second" not in b:
            continue
        sizes = "/".join("%dK" % (int(x) // 1024) for x in b["name"].split("/")[1:4])
        bps = b["bytes_per_second"]
        res.append(("FastCDC %s chunking ≥ 2.7 GB/s per core" % sizes,
                    "%.2f GB/s (CPU time, one core)" % (bps / 1e9), bps >= 2.7e9))
    return res


def targets_section(compare, micro_files=()):
    out = ["## Targets", "", "| input | target | measured | |", "|---|---|---|---|"]
    missed = []
    rows = [(inp["name"], t) for inp in compare["inputs"] for t in targets(inp)]
    rows += [("bench_read (library)", t) for t in read_targets(list(micro_files))]
    rows += [("bench_chunker", t) for t in chunker_targets(list(micro_files))]
    for input_name, (name, text, met) in rows:
        mark = "met" if met else "**MISSED**" if met is False else "n/a"
        if met is False:
            missed.append("%s: %s" % (input_name, name))
        out.append("| %s | %s | %s | %s |" % (input_name, name, text, mark))
    out += [""]
    if missed:
        out += ["Missed (%d): " % len(missed) + "; ".join(missed) + "."]
    else:
        out += ["Every measured target was met."]
    return out


def micro_section(micro_files):
    out = ["## Micro-benchmarks (Google Benchmark)", "",
           "`--benchmark_min_time=0.2`, Release build. *Time* is wall time per iteration, *CPU* "
           "the thread's CPU time; on a busy machine CPU is the steadier figure. Read latencies "
           "(p50/p99) are per 4 KiB read, averaged over threads. *cold*: block cache disabled, "
           "every read decodes its ~64 KiB block (the .hxz file is in the OS page cache); "
           "*warm*: a 64-chunk hot set served from the block cache.", ""]
    for path in micro_files:
        if not os.path.exists(path):
            out += ["`%s`: not run." % os.path.basename(path), ""]
            continue
        with open(path) as f:
            d = json.load(f)
        ctx = d.get("context", {})
        out += ["### %s" % os.path.basename(path).replace(".json", ""), "",
                "Google Benchmark's own library build type: %s (the Debian package; hexz itself is "
                "a Release build); %s CPUs at %s MHz." % (
                    ctx.get("library_build_type", "?"), ctx.get("num_cpus", "?"),
                    ctx.get("mhz_per_cpu", "?")), "",
                "| benchmark | time | CPU | throughput | counters | data |", "|---|---|---|---|---|---|"]
        for b in d.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            unit = b.get("time_unit", "ns")
            bps = b.get("bytes_per_second")
            thr = ("%.2f GB/s" % (bps / 1e9) if bps and bps >= 1e9 else
                   "%.0f MB/s" % (bps / 1e6) if bps else "")
            counters = []
            for k in ("p50_ns", "p99_ns", "ratio", "items_per_second"):
                if k in b:
                    v = b[k]
                    counters.append("%s=%s" % (k, ("%.0f" % v) if k.endswith("_ns") else
                                               ("%.3f" % v) if k == "ratio" else "%.0f/s" % v))
            err = b.get("error_message")
            out.append("| %s | %.0f %s | %.0f %s | %s | %s | %s |" % (
                b["name"], b.get("real_time", 0), unit, b.get("cpu_time", 0), unit, thr,
                " ".join(counters) if not err else "error: " + err, b.get("label", "")))
        out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", required=True)
    ap.add_argument("--micro", action="append", default=[])
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--sample-note", default="")
    ap.add_argument("--observations")
    ap.add_argument("--thin", help="Markdown table from bench/thin_vs_peers.sh")
    ap.add_argument("--append", action="append", default=[],
                    help="Markdown file appended as is (results measured by other scripts)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.compare) as f:
        compare = json.load(f)
    with open(a.machine) as f:
        machine = json.load(f)
    when = datetime.datetime.fromtimestamp(compare["started"]).strftime("%Y-%m-%d %H:%M")
    out = [
        "# hexz benchmarks",
        "",
        "Generated by `bench/run_benchmarks.sh` on %s (the tool comparison took %.0f s). "
        "Re-run it to refresh this page; everything below the observations is measured, "
        "nothing is edited by hand." % (when, compare["seconds"]),
        "",
        "Command:",
        "",
        "```sh",
        a.command,
        "```",
        "",
    ]
    out += machine_section(machine, compare) + [""]
    out += inputs_section(compare, a.sample_note) + [""]
    out += targets_section(compare, a.micro) + [""]
    if a.observations and os.path.exists(a.observations):
        with open(a.observations) as f:
            out += [f.read().rstrip(), ""]
    out += method_section(compare) + [""]
    out += tables_section(compare) + [""]
    out += ratios_section(compare)
    if a.thin and os.path.exists(a.thin):
        with open(a.thin) as f:
            out += ["## Thin snapshots: bytes the next backup adds", "",
                    "disk-v2.img (disk-v1.img after package upgrades, installs, removals and edits, "
                    "rebuilt so that blocks move) backed up after disk-v1.img, by each tool into "
                    "the same store (hexz: `--base v1.hxz`). Measured by `bench/thin_vs_peers.sh` "
                    "in this run; hexz's v2 is read back and byte-compared. Target: fewer bytes "
                    "than every peer and under 155 MB at hexz's defaults.", "",
                    f.read().rstrip(), ""]
    out += micro_section(a.micro)
    for extra in a.append:
        if os.path.exists(extra):
            with open(extra) as f:
                out += ["", f.read().rstrip(), ""]
    with open(a.out, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
    print("report: wrote %s" % a.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
