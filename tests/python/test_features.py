"""Library features reachable through pack(**options): content-defined chunking, thin
snapshots and encryption."""

import os
import pathlib
import subprocess

import pytest

import hexz


def test_content_defined_chunking(images, tmp_path):
    out = tmp_path / "cdc.hxz"
    hexz.pack(
        out,
        disk=images.disk_path,
        memory=images.memory_path,
        cdc=True,
        min_chunk="2K",
        avg_chunk="8K",
        max_chunk="64K",
    )
    with hexz.open(out) as snap:
        assert snap.read(0, len(images.disk)) == images.disk
        assert snap.read(0, len(images.memory), "memory") == images.memory
        assert snap.verify().ok


def test_cdc_sizes_are_checked(images, tmp_path):
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.pack(
            tmp_path / "bad.hxz",
            disk=images.disk_path,
            cdc=True,
            min_chunk="8K",
            avg_chunk="4K",
            max_chunk="64K",
        )
    assert not (tmp_path / "bad.hxz").exists()


def test_thin_snapshot_on_a_base(images, tmp_path):
    base = tmp_path / "base.hxz"
    hexz.pack(base, disk=images.disk_path)
    changed = bytearray(images.disk)
    changed[100_000:100_010] = b"0123456789"
    (tmp_path / "new.img").write_bytes(bytes(changed))
    thin = tmp_path / "thin.hxz"
    hexz.pack(thin, disk=tmp_path / "new.img", base=base)
    assert thin.stat().st_size < base.stat().st_size / 4
    with hexz.open(thin, base_dirs=[tmp_path]) as snap:
        assert snap.read(0, len(changed)) == bytes(changed)


# The cheapest Argon2id cost the format allows, to keep the tests fast.
CHEAP_KDF = {"kdf_memory": "8M", "kdf_iterations": 1, "kdf_parallelism": 1}


def test_encryption(images, tmp_path):
    out = tmp_path / "secret.hxz"
    hexz.pack(out, disk=images.disk_path, memory=images.memory_path, password="correct horse",
              **CHEAP_KDF)
    assert images.disk[:65536] not in out.read_bytes()
    with pytest.raises(hexz.WrongPasswordError) as missing:
        hexz.open(out)
    # The message names what hexz.open reads, not the command line's sources.
    assert "pass password=... to hexz.open" in str(missing.value)
    assert "HEXZ_PASSWORD" not in str(missing.value)
    assert "--password-file" not in str(missing.value)
    with pytest.raises(hexz.WrongPasswordError) as info:
        hexz.open(out, password="battery staple")
    assert info.value.code == "wrong_password"
    with hexz.open(out, password="correct horse") as snap:
        assert snap.read(0, len(images.disk)) == images.disk
        assert snap.memory.read() == images.memory
        assert snap.verify().ok


def test_encrypted_thin_chain(images, tmp_path):
    base = tmp_path / "base.hxz"
    hexz.pack(base, disk=images.disk_path, password="first", **CHEAP_KDF)
    changed = bytearray(images.disk)
    changed[100_000:100_010] = b"0123456789"
    (tmp_path / "new.img").write_bytes(bytes(changed))
    thin = tmp_path / "thin.hxz"
    with pytest.raises(hexz.WrongPasswordError) as info:
        hexz.pack(thin, disk=tmp_path / "new.img", base=base, password="second", **CHEAP_KDF)
    assert "--base-password-file" in str(info.value)
    hexz.pack(thin, disk=tmp_path / "new.img", base=base, password="second",
              base_password="first", **CHEAP_KDF)
    assert thin.stat().st_size < base.stat().st_size / 4
    with hexz.open(thin, password="second") as snap:  # the base's password is not needed
        assert snap.read(0, len(changed)) == bytes(changed)
        assert snap.info()["format_version"] == "1.2"
        assert [b["name"] for b in snap.info()["bases"]] == ["base.hxz"]
        assert snap.verify().ok
    with pytest.raises(hexz.InvalidArgumentError):  # an unencrypted thin pack of it
        hexz.pack(tmp_path / "plain.hxz", disk=tmp_path / "new.img", base=base)


def test_encrypt_needs_a_password(images, tmp_path):
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.pack(tmp_path / "nopw.hxz", disk=images.disk_path, encrypt=True)
    assert not (tmp_path / "nopw.hxz").exists()


def test_verified_reads(images, tmp_path):
    out = tmp_path / "verified.hxz"
    hexz.pack(out, disk=images.disk_path, memory=images.memory_path)
    with hexz.open(out, verify_reads=True) as snap:
        assert snap.read(0, len(images.disk)) == images.disk
        assert snap.read(0, len(images.memory), "memory") == images.memory
        assert snap.read(12345, 100) == images.disk[12345:12445]
    with pytest.raises(TypeError, match="verify_reads must be a bool"):
        hexz.open(out, verify_reads="yes")


def test_verified_reads_refuse_a_rewritten_block(cli, tmp_path):
    # A block rewritten with its XXH3 checksum recomputed: plain reads return the changed
    # bytes, verified reads refuse that chunk (and only that one).
    tool = pathlib.Path(cli).parents[2] / "tests" / "make_rewritten_snapshot"
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool} is not built")
    subprocess.run([str(tool), str(tmp_path)], check=True)
    image = (tmp_path / "rewritten.img").read_bytes()
    with hexz.open(tmp_path / "rewritten.hxz") as snap:
        assert snap.read(0, 4096) != image[:4096]
    with hexz.open(tmp_path / "rewritten.hxz", verify_reads=True) as snap:
        with pytest.raises(hexz.CorruptSnapshotError) as info:
            snap.read(0, 4096)
        assert "does not match its digest" in str(info.value)
        assert snap.read(65536, 4096) == image[65536:65536 + 4096]


def test_trusted_keys(images, tmp_path, cli):
    from conftest import run_cli

    out = tmp_path / "signed.hxz"
    hexz.pack(out, disk=images.disk_path)
    key = tmp_path / "key"
    assert run_cli(cli, "keygen", "-o", str(key)).returncode == 0
    with pytest.raises(hexz.CorruptSnapshotError, match="is not signed"):
        hexz.open(out, trusted_keys=[f"{key}.pub"])
    assert run_cli(cli, "sign", str(out), "--key", str(key)).returncode == 0
    with hexz.open(out, trusted_keys=[f"{key}.pub"]) as snap:
        assert snap.read(0, 4096) == images.disk[:4096]
    with pytest.raises(TypeError, match="trusted_keys must be a list"):
        hexz.open(out, trusted_keys=f"{key}.pub")


def test_a_password_refuses_an_unencrypted_replacement(images, tmp_path):
    """Issue 14: an encrypted snapshot replaced by an unencrypted one is not read."""
    out = tmp_path / "secret.hxz"
    hexz.pack(out, disk=images.disk_path, password="correct horse", **CHEAP_KDF)
    with hexz.open(out, password="correct horse", require_encryption=True) as snap:
        assert snap.read(0, 4096) == images.disk[:4096]
    hexz.pack(out, disk=images.disk_path, force=True)  # the attacker's unencrypted file
    with pytest.raises(hexz.WrongPasswordError) as info:
        hexz.open(out, password="correct horse")
    assert info.value.code == "wrong_password"
    assert "is not encrypted, but a password was given; refusing it" in str(info.value)
    with pytest.raises(hexz.WrongPasswordError) as info:
        hexz.open(out, require_encryption=True)
    assert "is not encrypted, but encryption is required" in str(info.value)
    with hexz.open(out) as snap:  # asking for neither: opens as before
        assert snap.read(0, 4096) == images.disk[:4096]


def test_kdf_cost_is_chosen_at_pack_time_and_capped_at_open(images, tmp_path):
    out = tmp_path / "cost.hxz"
    hexz.pack(out, disk=images.disk_path, password="pw", kdf_memory="9M", kdf_iterations=2,
              kdf_parallelism=2)
    with hexz.open(out, password="pw") as snap:
        info = snap.info()
    assert info["kdf"] == {
        "algorithm": "argon2id", "iterations": 2, "memory_kib": 9 * 1024, "parallelism": 2
    }
    with pytest.raises(hexz.UnsupportedError) as err:
        hexz.open(out, password="pw", kdf_max_iterations=1)
    assert "asks for an Argon2id key derivation of 2 passes over 9 MiB" in str(err.value)
    assert "cap of 1 pass over 1 GiB" in str(err.value)
    with pytest.raises(hexz.UnsupportedError) as err:
        hexz.open(out, password="pw", kdf_max_memory="8M")
    assert "cap of 16 passes over 8 MiB" in str(err.value)
    with hexz.open(out, password="pw", kdf_max_memory="9M", kdf_max_iterations=2) as snap:
        assert snap.read(0, 4096) == images.disk[:4096]
    with pytest.raises(hexz.InvalidArgumentError) as err:
        hexz.pack(tmp_path / "bad.hxz", disk=images.disk_path, password="pw", kdf_iterations=65)
    assert "Argon2id iterations 65 is out of range" in str(err.value)
    assert not (tmp_path / "bad.hxz").exists()


def test_attachments_round_trip(images, tmp_path):
    vm = tmp_path / "vm.snap"
    vm.write_bytes(b"device state " * 1000)
    out = tmp_path / "att.hxz"
    hexz.pack(out, disk=images.disk_path, attach={"vmstate": vm, "config": b'{"vcpus": 2}'})
    with hexz.open(out) as snap:
        assert [a["name"] for a in snap.attachments()] == ["vmstate", "config"]
        assert snap.attachments()[0]["size"] == 13000
        assert snap.read_attachment("vmstate") == vm.read_bytes()
        assert snap.read_attachment("config") == b'{"vcpus": 2}'
        assert snap.info()["attachments"] == snap.attachments()
        assert snap.info()["format_version"] == "1.1"
        with pytest.raises(hexz.NotFoundError, match="has no attachment 'nope'"):
            snap.read_attachment("nope")
        assert snap.read(0, len(images.disk)) == images.disk


def test_attachment_errors(images, tmp_path):
    with pytest.raises(hexz.InvalidArgumentError, match="is not valid"):
        hexz.pack(tmp_path / "bad.hxz", disk=images.disk_path, attach={"a/b": b"x"})
    assert not (tmp_path / "bad.hxz").exists()
    with pytest.raises(TypeError):
        hexz.pack(tmp_path / "bad.hxz", disk=images.disk_path, attach=[("a", b"x")])


def test_encrypted_attachment_needs_the_password(images, tmp_path):
    out = tmp_path / "enc.hxz"
    hexz.pack(
        out,
        disk=images.disk_path,
        password="pw",
        kdf_memory="8M",
        kdf_iterations=1,
        kdf_parallelism=1,
        attach={"config": b"secret config"},
    )
    assert b"secret config" not in out.read_bytes()
    with pytest.raises(hexz.WrongPasswordError):
        hexz.open(out)
    with hexz.open(out, password="pw") as snap:
        assert snap.read_attachment("config") == b"secret config"


def test_qcow2_is_read_as_the_disk_it_holds_and_raw_packs_its_bytes(images, tmp_path):
    import shutil
    import subprocess

    qemu_img = shutil.which("qemu-img")
    if qemu_img is None or shutil.which("qemu-nbd") is None:
        pytest.skip("qemu-utils is not installed")
    image = tmp_path / "disk.qcow2"
    subprocess.run([qemu_img, "convert", "-O", "qcow2", images.disk_path, image], check=True)
    hexz.pack(tmp_path / "q.hxz", disk=image)
    with hexz.open(tmp_path / "q.hxz") as snap:
        assert snap.read(0, len(images.disk)) == images.disk
    hexz.pack(tmp_path / "r.hxz", disk=image, raw=True)
    with hexz.open(tmp_path / "r.hxz") as snap:
        assert snap.read(0, snap.size()) == image.read_bytes()


def test_commit_folds_an_overlays_writes_into_a_thin_snapshot(images, tmp_path):
    import shutil

    qemu_img, qemu_io = shutil.which("qemu-img"), shutil.which("qemu-io")
    if qemu_img is None or qemu_io is None or shutil.which("qemu-nbd") is None:
        pytest.skip("qemu-utils is not installed")
    base = tmp_path / "base.hxz"
    hexz.pack(base, disk=images.disk_path, password="base", **CHEAP_KDF)
    # An overlay written over a raw copy, then pointed at a backing file that is not there (as
    # one made over a stopped nbdkit export): commit never reads the backing file.
    backing = tmp_path / "backing.img"
    backing.write_bytes(images.disk)
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", "raw",
                    str(overlay)], check=True)
    subprocess.run([qemu_io, "-c", "write -P 0xab 64k 8k", str(overlay)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([qemu_img, "rebase", "-u", "-F", "raw", "-b", str(tmp_path / "gone.img"),
                    str(overlay)], check=True)
    expected = bytearray(images.disk)
    expected[65536:65536 + 8192] = b"\xab" * 8192
    with pytest.raises(hexz.InvalidArgumentError) as info:
        hexz.commit(tmp_path / "new.hxz", overlay, base)
    assert "must be encrypted too" in str(info.value)
    result = hexz.commit(tmp_path / "new.hxz", overlay, base, password="new",
                         base_password="base", **CHEAP_KDF)
    assert result.streams["disk"]["bytes_read"] >= 8192
    assert result.streams["disk"]["stored_bytes"] < 16384
    with hexz.open(tmp_path / "new.hxz", password="new") as snap:
        assert snap.read(0, len(expected)) == bytes(expected)
        assert [b["name"] for b in snap.info()["bases"]] == ["base.hxz"]
    with pytest.raises(TypeError):
        hexz.commit(tmp_path / "x.hxz", overlay, base, disk="x.img")


def test_luks_is_refused_unless_raw(tmp_path):
    luks = tmp_path / "disk.luks"
    luks.write_bytes(b"LUKS\xba\xbe\x00\x01" + bytes(8184))
    with pytest.raises(hexz.UnsupportedError, match="LUKS encrypted volume"):
        hexz.pack(tmp_path / "l.hxz", disk=luks)
    assert not (tmp_path / "l.hxz").exists()
    hexz.pack(tmp_path / "l.hxz", disk=luks, raw=True)


def test_memory_limit_bounds_the_dedup_table(tmp_path):
    # 300 unique random chunks, each twice: with a 4K table (256 slots) some copies are stored
    # again, and the result says how many; the data still reads back.
    import random as _random

    chunks = [_random.Random(i).randbytes(4096) for i in range(300)]
    data = b"".join(chunks + chunks)
    img = tmp_path / "dups.img"
    img.write_bytes(data)
    full = hexz.pack(tmp_path / "full.hxz", disk=img)
    assert full.memory_limit > 0 and full.dedup_unrecorded_chunks == 0
    assert full.streams["disk"]["duplicate_chunks"] == 300
    tiny = hexz.pack(tmp_path / "tiny.hxz", disk=img, memory_limit="4K")
    assert tiny.memory_limit == 4096
    assert 0 < tiny.dedup_table_bytes <= 4096
    assert tiny.dedup_unrecorded_chunks > 0
    assert tiny.dedup_unrecorded_bytes == tiny.dedup_unrecorded_chunks * 4096
    assert any("memory limit" in w for w in tiny.warnings)
    assert tiny.file_size > full.file_size
    with hexz.open(tmp_path / "tiny.hxz") as snap:
        assert snap.read(0, len(data)) == data
    with pytest.raises(hexz.InvalidArgumentError):
        hexz.pack(tmp_path / "bad.hxz", disk=img, memory_limit="lots")
