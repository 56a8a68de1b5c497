#!/usr/bin/env python3
"""Fills a staging directory with real files copied from this machine.

Used by make-sample.sh to build a realistic ext4 image with `mke2fs -d`.

Selection is deterministic for a given machine: regular files under the roots are
listed in sorted path order and grouped by directory; each root gets an equal share
of the budget; its directories are shuffled with a fixed seed and files are taken
from each (sorted, at most a quarter of the share per directory) until the budget, counted in whole 4 KiB blocks as the
filesystem will store them (one block per directory too), is used up. Unreadable
files are skipped. mke2fs -d copies each source's ctime, which can't be set, so the
optional --debugfs-script output resets times inside the finished image.
Copied files and directories get a fixed mtime so that the image only depends on
the selected content.

Python 3 standard library only.
"""

import argparse
import os
import random
import shutil
import stat
import sys

BLOCK = 4096
FIXED_MTIME = 1_700_000_000  # 2023-11-14, any fixed value will do


def blocks_of(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK


def list_candidates(roots, max_file):
    """Sorted list of (path, size) of regular files below `roots`."""
    out = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not path.isprintable() or "\"" in path or "\\" in path:
                    continue  # keep the debugfs fix-up script simple to quote
                if not stat.S_ISREG(st.st_mode):
                    continue  # symlinks, sockets, fifos, devices
                if st.st_size == 0 or st.st_size > max_file:
                    continue
                out.append((path, st.st_size))
    out.sort()
    return out


def copy_one(src: str, dst: str) -> bool:
    try:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except OSError:
        # Unreadable or vanished: skip it, leaving nothing half-written behind.
        try:
            os.unlink(dst)
        except OSError:
            pass
        return False
    mode = os.stat(src).st_mode & 0o755
    os.chmod(dst, mode | 0o400)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("staging", help="directory to fill (created; must be empty)")
    ap.add_argument("--budget-bytes", type=int, required=True,
                    help="stop once this many bytes (in 4 KiB blocks) are copied")
    ap.add_argument("--roots", nargs="+", default=["/usr/bin", "/usr/lib", "/usr/share"])
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--debugfs-script", default="",
                    help="also write debugfs commands that set every entry's times to a fixed "
                         "time (mke2fs -d copies ctime, which cannot be set on the source)")
    ap.add_argument("--max-file-bytes", type=int, default=0,
                    help="skip larger files (default: budget/16, at least 1 MiB)")
    args = ap.parse_args()

    max_file = args.max_file_bytes or max(1 << 20, args.budget_bytes // 16)
    os.makedirs(args.staging, exist_ok=True)
    if os.listdir(args.staging):
        print(f"make_sample_tree: {args.staging} is not empty", file=sys.stderr)
        return 2

    # Each root gets an equal share of the budget (what one leaves unused goes to the
    # next). Within a root, whole directories are picked in shuffled order (so text,
    # libraries, executables and data files get mixed, and files sit together as on a
    # real system), taking at most a slice of the share from each directory, files in
    # sorted order.
    budget_blocks = args.budget_bytes // BLOCK
    used_blocks = 0
    copied = 0
    copied_bytes = 0
    dirs = set()
    staging = args.staging.rstrip("/") or "/"
    rng = random.Random(args.seed)
    roots = [r for r in args.roots if os.path.isdir(r)]
    for i, root in enumerate(roots):
        share_end = used_blocks + (budget_blocks - used_blocks) // (len(roots) - i)
        per_dir_blocks = max(256, (share_end - used_blocks) // 4)
        groups = {}
        for path, size in list_candidates([root], max_file):
            groups.setdefault(os.path.dirname(path), []).append((path, size))
        order = sorted(groups)
        rng.shuffle(order)
        for group in order:
            if share_end - used_blocks < 4:
                break
            taken = 0
            for path, size in groups[group]:
                dst = os.path.join(staging, path.lstrip("/"))
                new_dirs = []
                d = os.path.dirname(dst)
                while d not in dirs and d != staging:
                    new_dirs.append(d)
                    d = os.path.dirname(d)
                need = blocks_of(size) + len(new_dirs)  # a directory costs a block
                if used_blocks + need > share_end or taken + need > per_dir_blocks:
                    continue  # a smaller file may still fit
                if not copy_one(path, dst):
                    continue
                dirs.update(new_dirs)
                used_blocks += need
                taken += need
                copied += 1
                copied_bytes += size

    # Fixed timestamps: the image then depends on content only.
    for root, dnames, fnames in os.walk(args.staging):
        for n in fnames:
            os.utime(os.path.join(root, n), (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    for d in sorted(dirs, key=len, reverse=True) + [staging]:
        os.utime(d, (FIXED_MTIME, FIXED_MTIME))

    if args.debugfs_script:
        with open(args.debugfs_script, "w") as out:
            entries = ["/"]
            for root, dnames, fnames in os.walk(staging):
                rel = "/" + os.path.relpath(root, staging) if root != staging else ""
                entries += [f"{rel}/{n}" for n in sorted(dnames) + sorted(fnames)]
            for e in entries:
                for field in ("ctime", "atime", "mtime"):
                    out.write(f'sif "{e}" {field} @{FIXED_MTIME}\n')

    print(f"files={copied} dirs={len(dirs)} bytes={copied_bytes} blocks={used_blocks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
