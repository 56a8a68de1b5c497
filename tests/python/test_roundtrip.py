"""Pack and read back: bytes, statistics, options."""

import array
import json
import random
from pathlib import Path

import pytest

import hexz
from conftest import run_cli

STAT_KEYS = {
    "logical_size",
    "chunks",
    "zero_chunks",
    "duplicate_chunks",
    "stored_blocks",
    "stored_bytes",
    "ratio",
}
INFO_KEYS = {
    "attachments",
    "format_version",
    "header_only",
    "codec",
    "level",
    "chunk_size",
    "block_size",
    "file_size",
    "index_bytes",
    "identity",
    "streams",
    "chunking",
    "dictionary_bytes",
    "encrypted",
    "kdf",
    "chunk_histogram",
    "bases",
    "signatures",
    "trace",
}


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_round_trip(images, tmp_path, compression):
    out = tmp_path / f"vm-{compression}.hxz"
    result = hexz.pack(out, disk=images.disk_path, memory=images.memory_path, compression=compression)
    assert out.exists()
    assert result.path == str(out)
    assert result.file_size == out.stat().st_size
    assert result.input_size == len(images.disk) + len(images.memory)
    assert result.ratio == pytest.approx(result.input_size / result.file_size)
    assert result.seconds >= 0
    assert set(result.streams) == {"disk", "memory"}

    with hexz.open(out) as snap:
        assert snap.streams == ("disk", "memory")
        assert snap.size("disk") == len(images.disk)
        assert snap.size("memory") == len(images.memory)
        assert snap.read(0, len(images.disk)) == images.disk
        assert snap.read(0, len(images.memory), stream="memory") == images.memory
        rng = random.Random(5)
        for _ in range(200):
            stream, data = rng.choice([("disk", images.disk), ("memory", images.memory)])
            offset = rng.randrange(len(data))
            length = rng.randrange(min(200_000, len(data) - offset) + 1)
            assert snap.read(offset, length, stream) == data[offset : offset + length]
        assert snap.verify()


def test_pack_statistics_match_info(packed):
    with hexz.open(packed.snapshot) as snap:
        info = snap.info()
    assert set(info) == INFO_KEYS
    assert info["format_version"] == "1.0"  # 1.1 with attachments, 1.2 encrypted thin
    assert hexz.FORMAT_VERSION == "1.2"
    assert info["codec"] == "zstd"
    assert info["chunk_size"] == 4096
    assert info["block_size"] == 65536
    assert info["file_size"] == packed.result.file_size
    assert len(info["identity"]) == 64 and int(info["identity"], 16) >= 0
    # The pack result adds bytes_read (what was read of the input; holes are not read).
    for name, stream in packed.result.streams.items():
        assert 0 < stream["bytes_read"] <= stream["logical_size"]
        assert {k: v for k, v in stream.items() if k != "bytes_read"} == info["streams"][name]
    assert set(info["streams"]) == set(packed.result.streams)
    for stats in info["streams"].values():
        assert set(stats) == STAT_KEYS
    disk, memory = info["streams"]["disk"], info["streams"]["memory"]
    assert disk["logical_size"] == len(packed.disk)
    assert disk["zero_chunks"] > 0
    assert memory["duplicate_chunks"] > 0  # page-cache copies of disk blocks
    assert disk["ratio"] == round(disk["logical_size"] / disk["stored_bytes"], 4)


def test_info_matches_cli_json(packed, cli):
    proc = run_cli(cli, "info", str(packed.snapshot), "--json")
    assert proc.returncode == 0, proc.stderr
    with hexz.open(packed.snapshot) as snap:
        assert snap.info() == json.loads(proc.stdout)


def test_options_paths_and_size_strings(images, tmp_path):
    out = tmp_path / "opts.hxz"
    result = hexz.pack(
        str(out).encode(),  # bytes paths work too
        disk=Path(images.disk_path),
        compression="zstd",
        level=5,
        block_size="128K",
        chunk_size="8K",
        threads=2,
    )
    assert set(result.streams) == {"disk"}
    with hexz.open(out, cache_size="1M", page_cache_size=1 << 20, threads=1, readahead=0) as snap:
        info = snap.info()
        assert (info["chunk_size"], info["block_size"], info["level"]) == (8192, 131072, 5)
        assert snap.streams == ("disk",)
        assert not snap.has_stream("memory")
        assert snap.size("memory") == 0
        assert snap.read(12345, 6789) == images.disk[12345 : 12345 + 6789]


def test_output_is_deterministic_across_thread_counts(images, tmp_path):
    a, b = tmp_path / "a.hxz", tmp_path / "b.hxz"
    hexz.pack(a, disk=images.disk_path, memory=images.memory_path, threads=1)
    hexz.pack(b, disk=images.disk_path, memory=images.memory_path, threads=4)
    assert a.read_bytes() == b.read_bytes()


def test_force_replaces_existing_output(images, tmp_path):
    out = tmp_path / "vm.hxz"
    out.write_bytes(b"old")
    with pytest.raises(hexz.AlreadyExistsError):
        hexz.pack(out, disk=images.disk_path)
    assert out.read_bytes() == b"old"
    hexz.pack(out, disk=images.disk_path, force=True)
    with hexz.open(out) as snap:
        assert snap.read(0, 4096) == images.disk[:4096]


def test_trained_dictionary(images, tmp_path):
    out = tmp_path / "dict.hxz"
    result = hexz.pack(out, disk=images.disk_path, compression="zstd", train_dict=True)
    assert result.dictionary_bytes > 0 or result.warnings
    with hexz.open(out) as snap:
        assert snap.read(0, len(images.disk)) == images.disk
        assert snap.verify().ok


def test_empty_image(tmp_path):
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    calls = []
    result = hexz.pack(tmp_path / "e.hxz", disk=empty, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (0, 0)
    assert result.streams["disk"]["ratio"] is None
    with hexz.open(tmp_path / "e.hxz") as snap:
        assert snap.size() == 0
        assert snap.read(0, 0) == b""
        assert snap.disk.read() == b""
        assert snap.extents() == []


def test_readinto_buffers(packed):
    with hexz.open(packed.snapshot) as snap:
        buf = bytearray(10000)
        assert snap.readinto(buf, 777) == 10000
        assert buf == packed.disk[777:10777]

        big = bytearray(b"x" * 100)
        view = memoryview(big)[10:60]  # a slice: only its 50 bytes are written
        assert snap.readinto(view, 5, stream="memory") == 50
        assert big[:10] == b"x" * 10 and big[60:] == b"x" * 40
        assert big[10:60] == packed.memory[5:55]

        words = array.array("I", bytes(4096))
        assert snap.readinto(words, 4096) == len(words) * words.itemsize
        assert words.tobytes() == packed.disk[4096 : 4096 + len(words) * words.itemsize]

        with pytest.raises(TypeError):
            snap.readinto(b"read-only bytes", 0)
        with pytest.raises(hexz.OutOfRangeError):
            snap.readinto(bytearray(10), len(packed.disk) - 5)


def test_readinto_numpy(packed):
    np = pytest.importorskip("numpy")
    with hexz.open(packed.snapshot) as snap:
        a = np.zeros(65536, dtype=np.uint8)
        assert snap.readinto(a, 1000) == 65536
        assert a.tobytes() == packed.disk[1000 : 1000 + 65536]

        b = np.zeros((64, 32), dtype=np.uint32)  # 2-D, 4-byte items: all nbytes are filled
        assert snap.readinto(b, 0, stream="memory") == b.nbytes
        assert b.tobytes() == packed.memory[: b.nbytes]

        strided = np.zeros(1000, dtype=np.uint8)[::2]
        with pytest.raises(TypeError, match="contiguous"):
            snap.readinto(strided, 0)


def test_extents_cover_stream(packed):
    with hexz.open(packed.snapshot) as snap:
        runs = snap.extents("disk")
        assert runs[0][0] == 0
        assert sum(length for _, length, _ in runs) == len(packed.disk)
        for (off, length, zero), nxt in zip(runs, runs[1:] + [(len(packed.disk), 0, None)]):
            assert off + length == nxt[0]
            assert zero != nxt[2]  # adjacent runs of the same kind are merged
            if zero:
                assert packed.disk[off : off + length] == bytes(length)
        part = snap.extents("memory", 4096, 8192)
        assert sum(length for _, length, _ in part) == 8192


def test_parse_and_format_helpers():
    assert hexz.parse_size("64K") == 65536
    assert hexz.parse_size("1M") == 1 << 20
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.parse_size("12Q")
    assert "GiB" in hexz.format_bytes(3 << 30)


def test_docstrings_are_useful():
    doc = hexz.pack.__doc__
    for word in ("progress", "compression", "chunk_size", "force", "atomically", "Raises"):
        assert word in doc
    assert "context manager" in hexz.open.__doc__
    assert hexz.Snapshot.readinto.__doc__ and hexz.StreamReader.__doc__
