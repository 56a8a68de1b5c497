#!/usr/bin/env python3
"""Prints a JSON description of this machine and of the tools the benchmarks compare.

Usage: machine_info.py HEXZ_BINARY WORK_DIR > machine.json   (standard library only)
"""

import json
import os
import platform
import re
import subprocess
import sys


def first_line(argv, pattern=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (r.stdout + "\n" + r.stderr).strip()
    for line in text.splitlines():
        line = line.strip(" *")
        if line and (pattern is None or re.search(pattern, line)):
            return line
    return text.splitlines()[0] if text else "?"


def dpkg_version(pkg):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                           text=True)
        return r.stdout.strip() or "not installed"
    except OSError:
        return "?"


def main():
    hexz, work = sys.argv[1], sys.argv[2]
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram = "%.1f GiB" % (int(line.split()[1]) / (1 << 20))
    except OSError:
        pass
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    fs = first_line(["df", "-T", "-h", work], r"^/")
    info = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram": ram,
        "kernel": platform.release(),
        "os": osname,
        "fs": " ".join(fs.split()[:3]) if fs else "?",
        "compiler": first_line(["c++", "--version"]),
        "hexz": first_line([hexz, "--version"]) + " (" + hexz + ")",
        "v_lz4": first_line(["lz4", "--version"]),
        "v_zstd": first_line(["zstd", "--version"]),
        "v_mksquashfs": first_line(["mksquashfs", "-version"]),
        "v_qemu-img": first_line(["qemu-img", "--version"]),
        "v_google-benchmark": "libbenchmark-dev " + dpkg_version("libbenchmark-dev"),
    }
    json.dump(info, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
