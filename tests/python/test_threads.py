"""Concurrent reads from several Python threads."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import hexz


def test_concurrent_reads_return_correct_bytes(packed):
    sources = {"disk": packed.disk, "memory": packed.memory}
    with hexz.open(packed.snapshot, cache_size="256K") as snap:  # small cache: real decoding

        def worker(seed):
            rng = random.Random(seed)
            bad = 0
            for i in range(150):
                stream = rng.choice(("disk", "memory"))
                data = sources[stream]
                offset = rng.randrange(len(data))
                length = rng.randrange(1, min(300_000, len(data) - offset) + 1)
                if i % 2:
                    got = snap.read(offset, length, stream)
                else:
                    buf = bytearray(length)
                    snap.readinto(buf, offset, stream)
                    got = bytes(buf)
                bad += got != data[offset : offset + length]
            return bad

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sum(pool.map(worker, range(16))) == 0


def test_one_file_object_per_thread(packed):
    with hexz.open(packed.snapshot) as snap:
        errors = []

        def worker(seed):
            rng = random.Random(seed)
            stream = ("disk", "memory")[seed % 2]
            data = packed.disk if stream == "disk" else packed.memory
            with snap.open_stream(stream) as f:
                for _ in range(100):
                    pos = rng.randrange(len(data) + 10)
                    n = rng.randrange(70_000)
                    f.seek(pos)
                    if f.read(n) != data[pos : pos + n]:
                        errors.append((seed, pos, n))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_reads_while_another_thread_packs(packed, big_image, tmp_path):
    done = threading.Event()
    result = {}

    def packer():
        try:
            result["r"] = hexz.pack(tmp_path / "bg.hxz", disk=big_image, compression="zstd")
        finally:
            done.set()

    t = threading.Thread(target=packer)
    t.start()
    reads = 0
    with hexz.open(packed.snapshot) as snap:
        rng = random.Random(3)
        while not done.is_set() or reads < 50:
            off = rng.randrange(len(packed.disk) - 4096)
            assert snap.read(off, 4096) == packed.disk[off : off + 4096]
            reads += 1
    t.join()
    assert result["r"].file_size > 0
