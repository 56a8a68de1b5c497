"""Remote snapshots from Python and through `hexz mount`: hexz.open() of http:// and s3://
locations served by a local nginx, and a FUSE mount of an http:// URL, byte-compared.

nginx runs on 127.0.0.1 (a free port) through tests/remote/serve.sh, which uses the same
helpers (tests/remote/lib.sh) as the shell tests and is stopped by closing its input (then by
PID). Everything is skipped, with the reason, when nginx, FUSE or the CLI is missing.
"""

import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import hexz
from conftest import REPO, run_cli

SERVE = REPO / "tests" / "remote" / "serve.sh"


def _nginx_available() -> bool:
    return shutil.which("nginx") is not None or os.access("/usr/sbin/nginx", os.X_OK)


pytestmark = pytest.mark.skipif(
    not _nginx_available(), reason="nginx not installed (scripts/install-deps.sh)"
)


class Server:
    """nginx serving copies of some files (tests/remote/serve.sh)."""

    def __init__(self, *paths: Path):
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        self.proc = subprocess.Popen(
            ["bash", str(SERVE), *map(str, paths)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline().split()
        if len(line) != 2:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"serve.sh did not start nginx: {line} {err}")
        self.url, self.nginx_pid = line[0], int(line[1])

    def stop(self) -> None:
        """Closes serve.sh's input (its exit trap stops nginx by PID); insists by PID if needed."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        nginx_pid = getattr(self, "nginx_pid", None)
        if nginx_pid is not None:
            try:
                os.kill(nginx_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def site(packed, tmp_path_factory):
    """The session snapshot served as /vm.hxz and, for s3:// through an endpoint, /bkt/vm.hxz."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(packed.snapshot, root / "vm.hxz")
    (root / "bkt").mkdir()
    shutil.copy(packed.snapshot, root / "bkt" / "vm.hxz")
    server = Server(root / "vm.hxz", root / "bkt")
    yield server
    server.stop()


def test_open_http_reads_match(site, packed):
    url = f"{site.url}/vm.hxz"
    with hexz.open(url) as snap:
        assert snap.size("disk") == len(packed.disk)
        assert snap.size("memory") == len(packed.memory)
        assert snap.read(0, len(packed.disk)) == packed.disk
        assert snap.read(0, len(packed.memory), "memory") == packed.memory
        rng = random.Random(5)
        for _ in range(50):
            stream, data = rng.choice([("disk", packed.disk), ("memory", packed.memory)])
            off = rng.randrange(len(data))
            n = rng.randrange(1, 70000)
            assert snap.read(off, min(n, len(data) - off), stream) == data[off : off + n]
        assert snap.disk.read() == packed.disk  # the file-object interface too


def test_open_http_through_a_disk_cache(site, packed, tmp_path):
    cache = tmp_path / "cache"
    url = f"{site.url}/vm.hxz"
    with hexz.open(url, cache_dir=cache) as snap:
        assert snap.read(0, len(packed.disk)) == packed.disk
    pieces = [p for p in cache.rglob("*") if p.is_file() and p.name.isdigit()]
    assert pieces, "nothing was cached"
    with hexz.open(url, cache_dir=str(cache), threads=1) as snap:
        assert snap.read(0, len(packed.memory), "memory") == packed.memory


def test_open_s3_through_an_endpoint(site, packed, monkeypatch):
    # nginx ignores the signature: the point is that `endpoint` reaches the S3 backend, which
    # then asks ENDPOINT/bkt/vm.hxz (path-style).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with hexz.open("s3://bkt/vm.hxz", endpoint=site.url) as snap:
        assert snap.read(0, len(packed.disk)) == packed.disk
    with pytest.raises(TypeError, match="endpoint must be a str"):
        hexz.open("s3://bkt/vm.hxz", endpoint=42)


def test_open_http_errors(site):
    with pytest.raises(hexz.NotFoundError, match="not found"):
        hexz.open(f"{site.url}/missing.hxz")


# ----------------------------------------------------------------------------------------------
# hexz mount of an http:// URL


def _fuse_skip_reason(cli: str):
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing: this machine cannot mount FUSE file systems"
    if shutil.which("fusermount3") is None:
        return "fusermount3 not installed"
    help_text = run_cli(cli, "mount", "--help")
    if help_text.returncode != 0:
        return "hexz mount is not available"
    return None


@pytest.fixture
def mount_point(cli, tmp_path):
    reason = _fuse_skip_reason(cli)
    if reason:
        pytest.skip(reason)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    yield mnt
    if any(line.split()[4] == str(mnt) for line in open("/proc/self/mountinfo")):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)


def test_mount_http_url(cli, site, packed, mount_point, tmp_path):
    url = f"{site.url}/vm.hxz"
    proc = run_cli(cli, "mount", url, str(mount_point), "--cache-dir", str(tmp_path / "c"))
    if proc.returncode != 0 and "FUSE" in proc.stderr and "without" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr
    try:
        assert sorted(os.listdir(mount_point)) == ["disk", "memory"]
        assert (mount_point / "disk").read_bytes() == packed.disk
        assert (mount_point / "memory").read_bytes() == packed.memory
        with open(mount_point / "disk", "rb") as f:
            f.seek(123457)
            assert f.read(5000) == packed.disk[123457 : 123457 + 5000]
    finally:
        done = run_cli(cli, "umount", str(mount_point))
        assert done.returncode == 0, done.stderr


def test_mount_missing_url_is_one_error_line(cli, site, mount_point):
    proc = run_cli(cli, "mount", f"{site.url}/missing.hxz", str(mount_point))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hexz: error: "), proc.stderr
    assert "not found (HTTP 404" in lines[0]


def test_trace_replay_over_http(packed, tmp_path):
    """Record a trace of scattered reads over HTTP, store it, serve the new file: the same reads
    then find every block prefetched (no demand miss), in fewer requests."""
    local = tmp_path / "vm.hxz"
    shutil.copy(packed.snapshot, local)
    offsets = [(o * 7919 * 4096) % (len(packed.disk) - 4096) for o in range(1, 25)]
    server = Server(local)
    try:
        with hexz.open(f"{server.url}/vm.hxz", record_trace=True, threads=1) as snap:
            for off in offsets:
                assert snap.read(off, 4096) == packed.disk[off : off + 4096]
            first = snap.read_stats()
            trace = snap.recorded_trace()
    finally:
        server.stop()
    assert first["demand_block_misses"] > 5
    hexz.add_trace(local, trace)
    server = Server(local)
    try:
        with hexz.open(f"{server.url}/vm.hxz", threads=1) as snap:
            snap.wait_for_prefetch()
            before = snap.read_stats()["remote_requests"]
            for off in offsets:
                assert snap.read(off, 4096) == packed.disk[off : off + 4096]
            stats = snap.read_stats()
    finally:
        server.stop()
    assert stats["trace_error"] is None
    assert stats["demand_block_misses"] == 0
    assert stats["prefetched_unused_bytes"] == 0
    assert stats["remote_requests"] == before  # the reads sent no request at all
    assert stats["remote_requests"] < first["remote_requests"]


def test_hydrate_fills_the_disk_cache(site, packed, tmp_path):
    cache = tmp_path / "cache"
    url = f"{site.url}/vm.hxz"
    with hexz.open(url, cache_dir=cache, hydrate_rate="256M", threads=1) as snap:
        snap.wait_for_prefetch()
    with hexz.open(url, cache_dir=cache, threads=1, prefetch=False) as snap:
        assert snap.read(0, len(packed.disk)) == packed.disk
        assert snap.read(0, len(packed.memory), "memory") == packed.memory
        # Everything came from the disk cache: only the two requests of open() went out.
        assert snap.read_stats()["remote_requests"] == 2


def test_open_costs_two_requests_whatever_the_index_size(tmp_path):
    """Opening a remote snapshot reads the head and the tail, not the index pages (each is
    loaded when a read needs it, or in the background with preload_index)."""
    img = tmp_path / "big.img"
    img.write_bytes(random.Random(3).randbytes(40 << 20))  # 10240 chunks: 3 index pages
    snap_path = tmp_path / "big.hxz"
    hexz.pack(snap_path, disk=img)
    server = Server(snap_path)
    try:
        url = f"{server.url}/big.hxz"
        with hexz.open(url, threads=1) as snap:
            assert snap.read_stats()["remote_requests"] == 2
            assert snap.read(30 << 20, 4096) == img.read_bytes()[30 << 20 : (30 << 20) + 4096]
            # One index page and one block (at most 2 requests when they are far apart).
            assert snap.read_stats()["remote_requests"] <= 4
            assert snap.read_stats()["demand_page_misses"] == 1
        with hexz.open(url, threads=1, preload_index=True) as snap:
            snap.wait_for_prefetch()
            stats = snap.read_stats()
            assert stats["prefetched_pages"] == 3
            assert stats["remote_requests"] == 2 + 3
    finally:
        server.stop()
