#!/usr/bin/env python3
"""The markdown table of bench/boot_bench.sh from its results.tsv.

    boot_report.py results.tsv [--trace-json trace.json] [--delay-ms 20] [--runs 3]

results.tsv has one line per boot: case, run, seconds to the marker, requests and bytes nginx
sent before the server was ready and during the boot, the guest's /sys/block/vda/stat fields,
and the plugin's statistics JSON ({} when it has none). trace.json is `hexz trace show FILE
--json` of the recorded trace; its stored (compressed) bytes are what the boot needs to fetch.
"""
import argparse
import csv
import json
import statistics
import sys

NAMES = {
    "local-raw": "local raw file",
    "local-hxz": "hexz snapshot, local, nbdkit plugin",
    "a": "(a) hexz on nginx + {d} ms, no trace",
    "b-record": "(b) first boot, recording the trace",
    "b": "(b) hexz on nginx + {d} ms, trace replayed",
    "c": "(c) qcow2 on nginx + {d} ms, QEMU curl driver",
    "d": "(d) download raw ({d} ms), then boot",
}
ORDER = ["local-raw", "local-hxz", "a", "b-record", "b", "c", "d"]


def mb(n):
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def trace_stored_bytes(path):
    """The stored (compressed) bytes of the blocks a trace lists (`hexz trace show --json`)."""
    with open(path) as f:
        t = json.load(f)
    return t.get("summary", t).get("stored_bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--trace-json")
    ap.add_argument("--delay-ms", default="20")
    ap.add_argument("--runs", default="3")
    a = ap.parse_args()
    rows = {}
    with open(a.results) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(r["case"], []).append(r)
    stored = trace_stored_bytes(a.trace_json) if a.trace_json else None

    out = []
    out.append("| how the disk is served | time to marker, median (runs) | of which server "
               "start (d: download) | HTTP requests: at start + during boot | bytes sent by "
               "nginx | guest reads (their wait) | demand misses: blocks + index pages (waits on a "
               "prefetch) | prefetched / unused |")
    out.append("|---|---|---|---|---|---|---|---|")
    med = {}
    fetched = {}
    for c in ORDER:
        if c not in rows:
            continue
        rs = rows[c]
        secs = [float(r["seconds"]) for r in rs]
        med[c] = statistics.median(secs)
        pick = min(rs, key=lambda r: abs(float(r["seconds"]) - med[c]))  # the median run
        sreq, sbytes = int(pick["start_req"]), int(pick["start_bytes"])
        req, nbytes = int(pick["req"]), int(pick["bytes"])
        fetched[c] = sbytes + nbytes
        vda = pick["vda"].split()
        # reads completed / sectors read; the fourth field is the ms the reads waited in all
        guest = (f"{vda[0]} / {mb(int(vda[2]) * 512)} ({int(vda[3]) / 1000:.1f} s)"
                 if len(vda) >= 4 else "?")
        st = json.loads(pick["stats"] or "{}")
        if st:
            misses = (f"{st.get('demand_block_misses', '?')} + "
                      f"{st.get('demand_page_misses', '?')} ({st.get('demand_waits', '?')})")
            pref = (f"{mb(st.get('prefetched_bytes', 0))} / "
                    f"{mb(st.get('prefetched_unused_bytes', 0))}")
        else:
            misses = pref = "–"
        http = "–" if c in ("local-raw", "local-hxz") else f"{sreq} + {req}"
        sent = "–" if c in ("local-raw", "local-hxz") else f"{mb(sbytes)} + {mb(nbytes)}"
        times = ", ".join(f"{s:.2f}" for s in secs)
        ready = float(pick.get("ready") or 0)
        start = "–" if c in ("local-raw", "c") else f"{ready:.2f} s"
        label = NAMES[c].format(d=a.delay_ms)
        out.append(f"| {label} | {med[c]:.2f} s ({times}) | {start} | {http} | {sent} | {guest} | "
                   f"{misses} | {pref} |")
    print("\n".join(out))
    print()
    notes = []
    if stored:
        notes.append(f"compressed bytes the boot reads (the trace's blocks): {mb(stored)}")
        for c in ("a", "b"):
            if c in fetched:
                notes.append(f"bytes fetched / compressed bytes read, {c}: "
                             f"{fetched[c] / stored:.2f}")
    if "local-raw" in med and "b" in med:
        notes.append(f"(b) / local raw: {med['b'] / med['local-raw']:.2f} (goal <= 1.3)")
    for c in ("c", "d"):
        if c in med and "b" in med:
            notes.append(f"(b) faster than ({c}): {'yes' if med['b'] < med[c] else 'no'} "
                         f"({med['b']:.2f} s vs {med[c]:.2f} s)")
    if stored and "b" in fetched:
        ratio = fetched["b"] / stored
        notes.append(f"(b) bytes fetched <= 2x compressed: {'yes' if ratio <= 2 else 'no'} "
                     f"({ratio:.2f}x)")
    for n in notes:
        print(f"- {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
