"""Boot traces from Python: record while reading, store in the snapshot, replay as prefetch."""

import random

import pytest

import hexz

BLOCK = 64 * 1024
PATTERN = [21, 3, 40, 9, 0, 33, 14]  # 64 KiB blocks read, in this order


def _pack(tmp_path, name, seed=1, **kwargs):
    image = tmp_path / (name + ".img")
    image.write_bytes(random.Random(seed).randbytes(48 * BLOCK))
    out = tmp_path / (name + ".hxz")
    hexz.pack(out, disk=image, **kwargs)
    return out, image.read_bytes()


def _read_pattern(snap, data):
    for b in PATTERN:
        assert snap.read(b * BLOCK, 4096) == data[b * BLOCK : b * BLOCK + 4096]


def test_record_store_and_replay(tmp_path):
    snap_path, data = _pack(tmp_path, "a")
    with hexz.open(snap_path, record_trace=True, threads=1) as snap:
        _read_pattern(snap, data)
        trace = snap.recorded_trace()
    summary = hexz.describe_trace(trace)
    assert summary["blocks"] == len(PATTERN)
    assert summary["index_pages"] == 1
    assert summary["blocks_per_stream"] == {"disk": len(PATTERN), "memory": 0}
    trace_file = tmp_path / "boot.trace"
    trace_file.write_bytes(trace)
    identity = hexz.add_trace(snap_path, trace_file)
    assert len(identity) == 64
    with hexz.open(snap_path) as snap:
        assert [a["name"] for a in snap.attachments()] == ["hexz.trace"]
        snap.wait_for_prefetch()
        stats = snap.read_stats()
        assert stats["prefetched_blocks"] == len(PATTERN)
        assert stats["trace_error"] is None
        _read_pattern(snap, data)
        stats = snap.read_stats()
        assert stats["demand_block_misses"] == 0
        assert stats["prefetched_unused_bytes"] == 0
    with hexz.open(snap_path, prefetch=False, threads=1) as snap:
        _read_pattern(snap, data)
        assert snap.read_stats()["demand_block_misses"] == len(PATTERN)
    hexz.remove_trace(snap_path)
    with hexz.open(snap_path) as snap:
        assert snap.attachments() == []
    with pytest.raises(hexz.NotFoundError, match="no boot trace"):
        hexz.remove_trace(snap_path)


def test_bad_traces_are_refused(tmp_path):
    a, data = _pack(tmp_path, "a")
    b, _ = _pack(tmp_path, "b", seed=2)
    with hexz.open(a, record_trace=True) as snap:
        _read_pattern(snap, data)
        trace = snap.recorded_trace()
    with pytest.raises(hexz.InvalidArgumentError, match="another snapshot"):
        hexz.add_trace(b, trace)
    damaged = bytearray(trace)
    damaged[70] ^= 1
    with pytest.raises(hexz.CorruptSnapshotError, match="checksum"):
        hexz.add_trace(a, bytes(damaged))
    with pytest.raises(hexz.CorruptSnapshotError, match="magic"):
        hexz.describe_trace(b"not a trace at all")
    with hexz.open(a) as snap:
        with pytest.raises(hexz.InvalidArgumentError, match="record_trace"):
            snap.recorded_trace()
    with pytest.raises(TypeError):
        hexz.open(a, prefetch="yes")


def test_encrypted_trace_needs_the_password(tmp_path):
    kdf = dict(kdf_memory="8M", kdf_iterations=1, kdf_parallelism=1)
    snap_path, data = _pack(tmp_path, "e", password="pw", **kdf)
    with hexz.open(snap_path, password="pw", record_trace=True) as snap:
        _read_pattern(snap, data)
        trace = snap.recorded_trace()
    with pytest.raises(hexz.WrongPasswordError):
        hexz.add_trace(snap_path, trace)
    hexz.add_trace(snap_path, trace, password="pw")
    assert b"HXZTRACE" not in snap_path.read_bytes()
    with pytest.raises(hexz.WrongPasswordError):
        hexz.open(snap_path)
    with hexz.open(snap_path, password="pw") as snap:
        snap.wait_for_prefetch()
        assert snap.read_stats()["prefetched_blocks"] == len(PATTERN)
