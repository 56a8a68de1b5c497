#!/usr/bin/env python3
"""Packs images into a snapshot from Python, drawing a progress bar on stderr.

    python3 python/examples/pack_with_progress.py vm.hxz --disk disk.img --memory mem.img

Then reads a little back and checks it against the sources. Ctrl+C aborts cleanly (no
output file is left behind).
"""

import argparse
import sys
import time

import hexz


class ProgressBar:
    """progress(done, total) callback drawing `[#####.....]  42.0%  1.2 GiB/2.0 GiB  350 MiB/s`."""

    def __init__(self, label="packing", width=30, stream=sys.stderr):
        self.label, self.width, self.stream = label, width, stream
        self.start = time.monotonic()

    def __call__(self, done, total):
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = hexz.format_bytes(int(done / elapsed)) + "/s"
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {frac:6.1%}  "
            f"{hexz.format_bytes(done)}/{hexz.format_bytes(total)}  {rate}"
        )
        self.stream.write(line + ("\n" if done == total else ""))
        self.stream.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--disk")
    parser.add_argument("--memory")
    parser.add_argument("--compression", default="lz4", choices=["lz4", "zstd"])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    try:
        result = hexz.pack(
            args.output,
            disk=args.disk,
            memory=args.memory,
            compression=args.compression,
            force=args.force,
            progress=ProgressBar(),
        )
    except KeyboardInterrupt:
        print("\ninterrupted; no snapshot written", file=sys.stderr)
        return 130
    except hexz.Error as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    print(
        f"packed {hexz.format_bytes(result.input_size)} -> {hexz.format_bytes(result.file_size)} "
        f"(ratio {result.ratio:.2f}) in {result.seconds:.2f}s",
        file=sys.stderr,
    )

    with hexz.open(args.output) as snap:
        for stream, source in (("disk", args.disk), ("memory", args.memory)):
            if source is None:
                continue
            with open(source, "rb") as f:
                head = f.read(1 << 20)
            assert snap.read(0, len(head), stream) == head, f"{stream} differs"
        print(f"read back OK: {snap.info()['streams']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
