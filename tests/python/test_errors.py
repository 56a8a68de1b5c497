"""Error classes, codes and messages (the same messages as the CLI)."""

import pickle

import pytest

import hexz
from conftest import cli_error


def test_hierarchy():
    assert issubclass(hexz.Error, Exception)
    for cls in (
        hexz.InvalidArgumentError,
        hexz.OutOfRangeError,
        hexz.NotFoundError,
        hexz.AlreadyExistsError,
        hexz.CorruptSnapshotError,
        hexz.WrongPasswordError,
        hexz.UnsupportedError,
        hexz.IoError,
        hexz.AbortedError,
    ):
        assert issubclass(cls, hexz.Error), cls
        assert cls.__module__ == "hexz"
    assert issubclass(hexz.InvalidArgumentError, ValueError)
    assert issubclass(hexz.OutOfRangeError, hexz.InvalidArgumentError)
    assert issubclass(hexz.NotFoundError, FileNotFoundError)
    assert issubclass(hexz.AlreadyExistsError, FileExistsError)
    assert issubclass(hexz.IoError, OSError)
    assert not issubclass(hexz.CorruptSnapshotError, ValueError)
    assert not issubclass(hexz.WrongPasswordError, hexz.CorruptSnapshotError)


def test_not_found(tmp_path):
    missing = tmp_path / "missing.hxz"
    with pytest.raises(hexz.NotFoundError) as info:
        hexz.open(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.code == "not_found"
    assert str(missing) in str(info.value)
    with pytest.raises(FileNotFoundError):
        hexz.pack(tmp_path / "o.hxz", disk=tmp_path / "no-such.img")


def test_not_a_snapshot(tmp_path):
    junk = tmp_path / "junk.hxz"
    junk.write_bytes(b"definitely not a snapshot" * 100)
    with pytest.raises(hexz.CorruptSnapshotError) as info:
        hexz.open(junk)
    assert info.value.code == "not_a_snapshot"
    assert "not a hexz snapshot" in str(info.value)


def test_truncated_snapshot(packed, tmp_path):
    cut = tmp_path / "cut.hxz"
    data = packed.snapshot.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(hexz.CorruptSnapshotError) as info:
        hexz.open(cut)
    assert info.value.code in ("truncated", "corrupt")


def test_corrupt_block_is_reported(packed, tmp_path):
    bad = tmp_path / "bad.hxz"
    data = bytearray(packed.snapshot.read_bytes())
    data[8192] ^= 0xFF  # inside the first data blocks, after the 512-byte header
    bad.write_bytes(bytes(data))
    with hexz.open(bad) as snap:
        report = snap.verify()
        assert not report.ok and not report
        assert report.first_error
        with pytest.raises(hexz.CorruptSnapshotError) as info:
            snap.read(0, len(packed.disk))
        assert info.value.code == "corrupt"


def test_bad_arguments(images, tmp_path):
    out = tmp_path / "o.hxz"
    with pytest.raises(hexz.InvalidArgumentError, match="unknown compression 'brotli'"):
        hexz.pack(out, disk=images.disk_path, compression="brotli")
    with pytest.raises(ValueError, match="chunk size 3000 is invalid"):
        hexz.pack(out, disk=images.disk_path, chunk_size=3000)
    with pytest.raises(hexz.InvalidArgumentError, match="invalid size '64Q'"):
        hexz.pack(out, disk=images.disk_path, block_size="64Q")
    with pytest.raises(hexz.InvalidArgumentError, match="no input given"):
        hexz.pack(out)
    with pytest.raises(hexz.InvalidArgumentError, match="needs zstd"):
        hexz.pack(out, disk=images.disk_path, compression="lz4", train_dict=True)
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.pack(out, disk=images.disk_path, threads=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        hexz.pack(out, disk=images.disk_path, colour="blue")
    with pytest.raises(TypeError):
        hexz.pack(out, disk=images.disk_path, level="high")
    with pytest.raises(TypeError):
        hexz.pack(out, disk=42)
    assert not out.exists()


def test_read_errors(packed):
    with hexz.open(packed.snapshot) as snap:
        size = len(packed.disk)
        with pytest.raises(hexz.OutOfRangeError) as info:
            snap.read(size - 10, 20)
        assert str(info.value) == (
            f"read of 20 bytes at offset {size - 10} is past the end of the disk stream (size {size})"
        )
        assert isinstance(info.value, ValueError)
        with pytest.raises(hexz.OutOfRangeError):
            snap.read(2**70, 1)
        with pytest.raises(hexz.InvalidArgumentError, match="unknown stream 'swap'"):
            snap.read(0, 1, stream="swap")
        with pytest.raises(hexz.InvalidArgumentError):
            snap.read(-1, 1)
        with pytest.raises(TypeError):
            snap.read("0", 1)


def test_errors_pickle():
    e = hexz._errors._make_error("not_found", "cannot open 'x'")
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is hexz.NotFoundError and str(again) == "cannot open 'x'"
    assert again.code == "not_found"
    assert type(hexz._errors._make_error("some_new_code", "m")) is hexz.Error


def test_messages_match_cli(cli, images, packed, tmp_path):
    missing = str(tmp_path / "missing.hxz")
    with pytest.raises(hexz.Error) as info:
        hexz.open(missing)
    assert str(info.value) == cli_error(cli, "info", missing)

    out = str(tmp_path / "o.hxz")
    no_image = str(tmp_path / "no-such.img")
    with pytest.raises(hexz.Error) as info:
        hexz.pack(out, disk=no_image)
    assert str(info.value) == cli_error(cli, "pack", "--disk", no_image, "-o", out, "-q")
    # An out-of-range size is a usage error on the command line (exit 2, its own message) and
    # InvalidArgumentError here.
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.pack(out, disk=images.disk_path, chunk_size=3000)

    with pytest.raises(hexz.Error) as info:
        hexz.pack(packed.snapshot, disk=images.disk_path)
    assert str(info.value) == cli_error(
        cli, "pack", "--disk", str(images.disk_path), "-o", str(packed.snapshot), "-q"
    )

    junk = tmp_path / "junk.hxz"
    junk.write_bytes(b"\0" * 4096)
    with pytest.raises(hexz.Error) as info:
        hexz.open(junk)
    assert str(info.value) == cli_error(cli, "info", str(junk))
