"""The progress callback of pack() and verify(), aborting from it, and the GIL."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import hexz


def test_progress_is_monotonic_and_ends_at_total(images, tmp_path):
    calls = []
    caller = threading.get_ident()

    def progress(done, total):
        assert threading.get_ident() == caller  # called on the thread that called pack()
        calls.append((done, total))

    hexz.pack(tmp_path / "p.hxz", disk=images.disk_path, memory=images.memory_path, progress=progress)
    total = len(images.disk) + len(images.memory)
    assert calls, "progress was never called"
    assert all(t == total for _, t in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert dones[-1] == total
    assert len(set(calls)) == len(calls)  # no report repeated


def test_progress_on_large_pack_is_throttled_and_complete(big_image, tmp_path):
    calls = []
    start = time.monotonic()
    hexz.pack(tmp_path / "big.hxz", disk=big_image, progress=lambda d, t: calls.append((d, t)))
    elapsed = time.monotonic() - start
    size = big_image.stat().st_size
    assert calls[-1] == (size, size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # At most one call per 50 ms, plus the first and the last (the library reports every 2 MiB).
    assert len(calls) <= elapsed / 0.05 + 3


def _listing(directory):
    return sorted(os.listdir(directory))


def test_exception_in_callback_aborts_and_leaves_no_file(images, tmp_path):
    out = tmp_path / "aborted.hxz"
    before = _listing(tmp_path)
    error = RuntimeError("stop right there")

    def progress(done, total):
        raise error

    with pytest.raises(RuntimeError) as info:
        hexz.pack(out, disk=images.disk_path, memory=images.memory_path, progress=progress)
    assert info.value is error  # re-raised unchanged, not wrapped
    assert not out.exists()
    assert _listing(tmp_path) == before  # no temporary file left behind either


def test_exception_at_the_last_report_still_aborts(images, tmp_path):
    out = tmp_path / "late.hxz"
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == total:
            raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        hexz.pack(out, disk=images.disk_path, progress=progress)
    assert seen[-1] == len(images.disk)
    assert not out.exists()
    assert _listing(tmp_path) == []


def test_abort_keeps_an_existing_file(images, tmp_path):
    out = tmp_path / "keep.hxz"
    out.write_bytes(b"precious")

    def progress(done, total):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hexz.pack(out, disk=images.disk_path, force=True, progress=progress)
    assert out.read_bytes() == b"precious"
    assert _listing(tmp_path) == ["keep.hxz"]


def test_pack_works_after_an_aborted_pack(images, tmp_path):
    with pytest.raises(ZeroDivisionError):
        hexz.pack(tmp_path / "a.hxz", disk=images.disk_path, progress=lambda d, t: 1 / 0)
    hexz.pack(tmp_path / "a.hxz", disk=images.disk_path)
    with hexz.open(tmp_path / "a.hxz") as snap:
        assert snap.read(0, len(images.disk)) == images.disk


def test_progress_must_be_callable(images, tmp_path):
    with pytest.raises(TypeError):
        hexz.pack(tmp_path / "x.hxz", disk=images.disk_path, progress=42)
    assert not (tmp_path / "x.hxz").exists()


def test_gil_is_released_while_packing(big_image, tmp_path):
    ticks = 0
    stop = threading.Event()

    def spin():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        time.sleep(0.01)
        start_ticks = ticks
        hexz.pack(tmp_path / "gil.hxz", disk=big_image, compression="zstd", level=9, threads=1)
        during = ticks - start_ticks
    finally:
        stop.set()
        worker.join()
    # Holding the GIL for the whole pack would leave the spinning thread at a standstill.
    assert during > 1000


def test_verify_progress_and_abort(packed):
    with hexz.open(packed.snapshot) as snap:
        calls = []
        report = snap.verify(progress=lambda d, t: calls.append((d, t)))
        assert report.ok and report.first_error is None
        total = len(packed.disk) + len(packed.memory)
        assert calls[-1] == (total, total)

        def boom(done, total):
            raise OSError("disk on fire")

        with pytest.raises(OSError, match="disk on fire"):
            snap.verify(progress=boom)
        assert snap.verify().ok  # still usable


CHILD = r"""
import os, sys, time, hexz
src = sys.argv[1]
with open(src, "wb") as f:
    f.write(os.urandom(64 << 20))
print("ready", flush=True)
start = time.monotonic()
try:
    hexz.pack(sys.argv[2], disk=src, compression="zstd", level=19, threads=1)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", round(time.monotonic() - start, 2), os.path.exists(sys.argv[2]), flush=True)
"""


def test_ctrl_c_interrupts_a_pack_without_callback(tmp_path):
    """SIGINT during a long pack raises KeyboardInterrupt promptly and leaves no file."""
    out = tmp_path / "slow.hxz"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "src.img"), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # well inside the pack, which takes many seconds at zstd -19
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        latency = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=60)
    assert line[0] == "interrupted", line
    assert line[2] == "False"  # no output file
    assert latency < 5
    assert sorted(os.listdir(tmp_path)) == ["src.img"]
