"""Shared fixtures for the hexz Python tests.

The package must be installed (pip install --no-build-isolation .); see docs/python.md.
Tests that compare against the `hexz` command-line tool look for it in $HEXZ_CLI, then in
build*/tools/hexz/hexz of this repository, and are skipped when it is not there.
"""

import glob
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

import hexz

REPO = Path(__file__).resolve().parents[2]
CHUNK = 4096


def make_disk(size: int, seed: int = 1) -> bytes:
    """A disk-like image: random (incompressible) runs, text-like runs, zero runs and
    chunk-aligned repeats, so packing exercises compression, zero chunks and dedup."""
    rng = random.Random(seed)
    out = bytearray()
    words = [b"kernel", b"ext4", b"inode", b"block ", b"usr/lib/", b"\n", b"0123456789"]
    while len(out) < size:
        kind = rng.randrange(4)
        n = CHUNK * rng.randint(1, 24)
        if kind == 0:
            out += rng.randbytes(n)
        elif kind == 1:
            piece = bytearray()
            while len(piece) < n:
                piece += rng.choice(words)
            out += piece[:n]
        elif kind == 2:
            out += bytes(n)
        elif len(out) >= CHUNK:
            start = rng.randrange(len(out) // CHUNK) * CHUNK
            out += out[start : start + n]
    del out[size:]
    return bytes(out)


def make_memory(disk: bytes, size: int, seed: int = 2) -> bytes:
    """A RAM-like image: zero pages, fresh random pages and page-aligned copies of disk blocks
    (a page cache), so memory dedups against disk."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        kind = rng.randrange(3)
        n = CHUNK * rng.randint(1, 16)
        if kind == 0:
            out += bytes(n)
        elif kind == 1:
            out += rng.randbytes(n)
        else:
            start = rng.randrange(max(1, (len(disk) - n) // CHUNK)) * CHUNK
            out += disk[start : start + n].ljust(n, b"\0")
    del out[size:]
    return bytes(out)


@dataclass
class Images:
    dir: Path
    disk_path: Path
    memory_path: Path
    disk: bytes
    memory: bytes


@dataclass
class Packed(Images):
    snapshot: Path
    result: hexz.PackResult


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Images:
    """A 3 MiB + 1234 byte disk image (not a multiple of the chunk size) and a 2 MiB memory
    image, written once per session."""
    d = tmp_path_factory.mktemp("images")
    disk = make_disk(3 * 1024 * 1024 + 1234)
    memory = make_memory(disk, 2 * 1024 * 1024)
    (d / "disk.img").write_bytes(disk)
    (d / "mem.img").write_bytes(memory)
    return Images(d, d / "disk.img", d / "mem.img", disk, memory)


@pytest.fixture(scope="session")
def packed(images, tmp_path_factory) -> Packed:
    """The session images packed (zstd) into one snapshot."""
    out = tmp_path_factory.mktemp("packed") / "vm.hxz"
    result = hexz.pack(out, disk=images.disk_path, memory=images.memory_path, compression="zstd")
    return Packed(**vars(images), snapshot=out, result=result)


@pytest.fixture(scope="session")
def big_image(tmp_path_factory) -> Path:
    """A 48 MiB image for tests that need a pack to take a little while."""
    path = tmp_path_factory.mktemp("big") / "big.img"
    rng = random.Random(7)
    with open(path, "wb") as f:
        block = make_disk(4 * 1024 * 1024, seed=3)
        for i in range(12):
            # Distinct content per block so the pack really compresses 48 MiB.
            f.write(rng.randbytes(CHUNK) + block[CHUNK:])
    return path


def find_cli() -> Optional[str]:
    env = os.environ.get("HEXZ_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    candidates = [
        p for p in glob.glob(str(REPO / "build*" / "tools" / "hexz" / "hexz")) if os.access(p, os.X_OK)
    ]
    return max(candidates, key=os.path.getmtime) if candidates else None


@pytest.fixture(scope="session")
def cli() -> str:
    path = find_cli()
    if path is None:
        pytest.skip("hexz CLI not built (set HEXZ_CLI or build build/tools/hexz/hexz)")
    return path


def run_cli(cli: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


def cli_error(cli: str, *args: str) -> str:
    """The message of a failing CLI command: its stderr without the 'hexz: error: ' prefix."""
    proc = run_cli(cli, *args)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    line = proc.stderr.strip().splitlines()[-1]
    prefix = "hexz: error: "
    assert line.startswith(prefix), line
    return line[len(prefix) :]
