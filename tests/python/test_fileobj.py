"""snap.disk / snap.memory as binary file objects (io.RawIOBase)."""

import gc
import hashlib
import io
import shutil
import tarfile
import weakref
import zipfile

import pytest

import hexz


@pytest.fixture
def snap(packed):
    with hexz.open(packed.snapshot) as s:
        yield s


def test_is_a_raw_binary_file(snap, packed):
    f = snap.disk
    assert isinstance(f, io.RawIOBase)
    assert f.readable() and f.seekable() and not f.writable()
    assert f.mode == "rb"
    assert f.name == f"{packed.snapshot}:disk"
    assert f.size == len(packed.disk)
    assert snap.disk is f  # one shared object per stream
    assert snap.memory is not f


def test_seek_and_tell(snap, packed):
    f = snap.disk
    assert f.seek(0) == 0 and f.tell() == 0
    assert f.read(10) == packed.disk[:10]
    assert f.tell() == 10
    assert f.seek(5, io.SEEK_CUR) == 15
    assert f.read(5) == packed.disk[15:20]
    assert f.seek(-100, io.SEEK_END) == len(packed.disk) - 100
    assert f.read(40) == packed.disk[-100:-60]
    assert f.seek(-1, io.SEEK_END) == len(packed.disk) - 1
    assert f.read() == packed.disk[-1:]
    with pytest.raises(OSError):
        f.seek(-1)
    with pytest.raises(OSError):
        f.seek(-len(packed.disk) - 1, io.SEEK_END)
    with pytest.raises(ValueError):
        f.seek(0, 7)


def test_short_read_at_eof(snap, packed):
    f = snap.memory
    f.seek(len(packed.memory) - 10)
    assert f.read(100) == packed.memory[-10:]  # short
    assert f.read(100) == b""  # at EOF
    assert f.tell() == len(packed.memory)
    f.seek(len(packed.memory) + 1000)  # past the end is allowed, as for files
    assert f.read(5) == b""
    assert f.readinto(bytearray(5)) == 0
    f.seek(-3, io.SEEK_END)
    buf = bytearray(10)
    assert f.readinto(buf) == 3
    assert buf[:3] == packed.memory[-3:]


def test_read_all_variants(snap, packed):
    f = snap.disk
    f.seek(0)
    assert f.read() == packed.disk
    f.seek(100)
    assert f.read(-1) == packed.disk[100:]
    f.seek(200)
    assert f.read(None) == packed.disk[200:]
    f.seek(300)
    assert f.readall() == packed.disk[300:]
    f.seek(0)
    assert f.read(0) == b""


def test_readinto_numpy(snap, packed):
    np = pytest.importorskip("numpy")
    f = snap.disk
    f.seek(4096)
    a = np.empty(10000, dtype=np.uint8)
    assert f.readinto(a) == 10000
    assert a.tobytes() == packed.disk[4096:14096]
    f.seek(-6, io.SEEK_END)
    b = np.zeros(4, dtype=np.uint32)  # 16 bytes of room, 6 left in the stream
    assert f.readinto(b) == 6
    assert b.tobytes()[:6] == packed.disk[-6:]


def test_copyfileobj_and_buffered_reader(snap, packed):
    out = io.BytesIO()
    snap.memory.seek(0)
    shutil.copyfileobj(snap.memory, out, length=100_000)
    assert out.getvalue() == packed.memory

    buffered = io.BufferedReader(snap.open_stream("disk"), buffer_size=32768)
    assert buffered.read(10) == packed.disk[:10]
    assert buffered.peek(1)[:1] == packed.disk[10:11]
    buffered.seek(-50, io.SEEK_END)
    assert buffered.read() == packed.disk[-50:]
    buffered.close()

    snap.disk.seek(0)
    assert hashlib.sha256(snap.disk.read()).digest() == hashlib.sha256(packed.disk).digest()


def test_write_is_unsupported(snap):
    with pytest.raises(io.UnsupportedOperation):
        snap.disk.write(b"x")
    with pytest.raises(io.UnsupportedOperation):
        snap.disk.truncate(0)
    with pytest.raises(io.UnsupportedOperation):
        snap.disk.fileno()


def test_independent_positions(snap, packed):
    a = snap.open_stream("disk")
    b = snap.open_stream("disk")
    a.seek(1000)
    assert b.tell() == 0
    assert a.read(4) == packed.disk[1000:1004]
    assert b.read(4) == packed.disk[:4]


def test_closing(packed):
    snap = hexz.open(packed.snapshot)
    f, g = snap.disk, snap.open_stream("memory")
    f.close()
    assert f.closed
    with pytest.raises(ValueError):
        f.read(1)
    assert snap.disk is not f and not snap.disk.closed  # a fresh shared object
    snap.close()
    assert snap.closed and g.closed
    with pytest.raises(ValueError):
        snap.disk
    with pytest.raises(ValueError):
        g.read(1)
    with pytest.raises(ValueError):
        snap.read(0, 1)
    snap.close()  # twice is fine


def test_missing_stream(tmp_path, images):
    out = tmp_path / "disk-only.hxz"
    hexz.pack(out, disk=images.disk_path)
    with hexz.open(out) as snap:
        with pytest.raises(hexz.OutOfRangeError, match="has no memory stream"):
            snap.memory
        with pytest.raises(hexz.OutOfRangeError):
            snap.open_stream("memory")


def test_tarfile_inside_a_disk_image(tmp_path):
    members = {f"dir/file{i}.txt": (f"content {i}\n" * (i * 500 + 1)).encode() for i in range(20)}
    tar_path = tmp_path / "image.tar"
    with tarfile.open(tar_path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    hexz.pack(tmp_path / "tar.hxz", disk=tar_path, compression="zstd")
    with hexz.open(tmp_path / "tar.hxz") as snap:
        with tarfile.open(fileobj=snap.disk, mode="r:") as tar:
            assert sorted(tar.getnames()) == sorted(members)
            assert tar.extractfile("dir/file7.txt").read() == members["dir/file7.txt"]


def test_zipfile_inside_a_memory_image(tmp_path):
    zip_path = tmp_path / "image.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(10):
            z.writestr(f"f{i}", bytes([i]) * (10_000 * i + 7))
    hexz.pack(tmp_path / "zip.hxz", memory=zip_path)
    with hexz.open(tmp_path / "zip.hxz") as snap:
        with zipfile.ZipFile(snap.memory) as z:
            assert z.testzip() is None
            assert z.read("f3") == bytes([3]) * 30_007


def test_zipfile_on_a_tiny_stream(tmp_path):
    tiny = tmp_path / "tiny.img"
    tiny.write_bytes(b"0123456789")  # shorter than a zip end record: zipfile seeks before 0
    hexz.pack(tmp_path / "tiny.hxz", disk=tiny)
    with hexz.open(tmp_path / "tiny.hxz") as snap:
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(snap.disk)


def test_file_digest_and_extractall(tmp_path):
    payload = {"a.bin": bytes(range(256)) * 300, "b.txt": b"hello\n" * 1000}
    tar_path = tmp_path / "t.tar"
    with tarfile.open(tar_path, "w") as tar:
        for name, data in payload.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    hexz.pack(tmp_path / "t.hxz", disk=tar_path)
    with hexz.open(tmp_path / "t.hxz") as snap:
        with tarfile.open(fileobj=snap.open_stream("disk")) as tar:
            tar.extractall(tmp_path / "out")
        if hasattr(hashlib, "file_digest"):  # Python 3.11+
            digest = hashlib.file_digest(snap.open_stream("disk"), "sha256").hexdigest()
            assert digest == hashlib.sha256(tar_path.read_bytes()).hexdigest()
    for name, data in payload.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_snapshot_is_freed_without_close(packed):
    gc.disable()  # no cycle collector: plain reference counting must free it
    try:
        snap = hexz.open(packed.snapshot)
        snap.disk.read(10)
        ref = weakref.ref(snap)
        del snap
        assert ref() is None
    finally:
        gc.enable()
