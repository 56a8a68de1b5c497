"""Snapshot.map(): a stream mapped into memory, filled from the snapshot on first touch."""

import os
import threading

import numpy
import pytest

import hexz


def test_map_reads_like_the_stream(packed, images):
    with hexz.open(packed.snapshot) as snap:
        m = snap.map("memory")
        assert len(m) == len(images.memory)
        if os.geteuid() == 0:
            assert m.lazy, "root may use userfaultfd: the mapping is filled on first touch"
            assert m.stats()["faults"] == 0
        view = memoryview(m)
        assert view.readonly
        assert view[4096:8192].tobytes() == images.memory[4096:8192]
        assert bytes(view) == images.memory
        if m.lazy:
            assert m.stats()["faults"] > 0


def test_map_works_with_numpy_and_threads(packed, images):
    with hexz.open(packed.snapshot) as snap:
        m = snap.map("disk", fill="page")
        arr = numpy.frombuffer(m, dtype=numpy.uint8)
        want = numpy.frombuffer(images.disk, dtype=numpy.uint8)
        results = []

        def check(lo, hi):
            results.append(bool((arr[lo:hi] == want[lo:hi]).all()))

        half = len(want) // 2
        threads = [threading.Thread(target=check, args=(0, half)),
                   threading.Thread(target=check, args=(half, len(want)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [True, True]
        if m.lazy:
            assert m.stats()["prefetched_pages"] == 0, "fill='page' fills the faulting page only"


def test_mapping_outlives_the_snapshot_object(packed, images):
    snap = hexz.open(packed.snapshot)
    m = snap.map("memory")
    del snap
    assert memoryview(m)[-100:].tobytes() == images.memory[-100:]


def test_map_errors(packed, tmp_path, images):
    with hexz.open(packed.snapshot) as snap:
        with pytest.raises(hexz.InvalidArgumentError, match="fill"):
            snap.map("memory", fill="huge")
        with pytest.raises(hexz.InvalidArgumentError):
            snap.map("nonsense")
    only_disk = tmp_path / "d.hxz"
    hexz.pack(only_disk, disk=images.disk_path)
    with hexz.open(only_disk) as snap:
        with pytest.raises(hexz.OutOfRangeError, match="no memory stream"):
            snap.map("memory")
