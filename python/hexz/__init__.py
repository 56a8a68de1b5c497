"""hexz: pack raw VM disk and memory images into ``.hxz`` snapshots and read any byte back.

A snapshot holds up to two byte streams, ``"disk"`` and ``"memory"``. Packing cuts them into
chunks, deduplicates and compresses them; reading fetches and decodes only the blocks a read
touches. The native library does the work with the GIL released, so other Python threads keep
running during a pack or a read.

Pack, with a progress callback::

    import hexz

    def progress(done, total):
        print(f"\\r{100 * done // max(total, 1):3d}%", end="", flush=True)

    result = hexz.pack("vm.hxz", disk="disk.img", memory="mem.img",
                       compression="zstd", progress=progress)
    print(f"\\n{result.file_size} bytes, ratio {result.ratio:.2f}")

Read, at any offset or as file objects::

    with hexz.open("vm.hxz") as snap:
        boot = snap.read(0, 512)                  # bytes of the disk stream
        snap.readinto(buf, 1 << 20, stream="memory")  # into a bytearray / numpy array
        shutil.copyfileobj(snap.memory, out)      # snap.disk / snap.memory are binary files
        print(snap.info()["streams"]["disk"]["ratio"])

Errors are instances of :class:`hexz.Error` (see its subclasses); their messages are those of
the ``hexz`` command-line tool.
"""

from __future__ import annotations

import builtins
import errno
import io
import operator
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _hexz
from ._errors import (
    AbortedError,
    AlreadyExistsError,
    CorruptSnapshotError,
    Error,
    InvalidArgumentError,
    IoError,
    NotFoundError,
    OutOfRangeError,
    UnsupportedError,
    WrongPasswordError,
)

__all__ = [
    "pack",
    "commit",
    "open",
    "add_trace",
    "remove_trace",
    "describe_trace",
    "PackResult",
    "Snapshot",
    "StreamReader",
    "VerifyReport",
    "parse_size",
    "format_bytes",
    "Error",
    "InvalidArgumentError",
    "OutOfRangeError",
    "NotFoundError",
    "AlreadyExistsError",
    "CorruptSnapshotError",
    "WrongPasswordError",
    "UnsupportedError",
    "IoError",
    "AbortedError",
    "STREAMS",
    "FORMAT_VERSION",
    "__version__",
]

#: Version of the hexz library and of this package.
__version__: str = _hexz.__version__
#: Newest snapshot format version ("MAJOR.MINOR") this build reads and writes.
FORMAT_VERSION: str = _hexz.FORMAT_VERSION
#: Names of the streams a snapshot can hold.
STREAMS: Tuple[str, str] = ("disk", "memory")

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Size = Union[int, str]
ProgressCallback = Callable[[int, int], Any]

_U32_MAX = 0xFFFF_FFFF
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
_SIZE_HINT = "(expected a byte count such as 4096, 64K, 16M or 1G)"


# ------------------------------------------------------------------------------------------
# Argument conversion (messages follow the CLI's wording)


def _path(name: str, value: Any) -> bytes:
    """A path argument as bytes (os.fsencode), so any file name the OS accepts works."""
    try:
        path = os.fspath(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a path (str, bytes or os.PathLike), not {type(value).__name__}"
        ) from None
    return os.fsencode(path)


def _size(name: str, value: Any, maximum: int = _U32_MAX) -> int:
    """A size argument: an int, or a string such as '64K' (binary multiples)."""
    if isinstance(value, str):
        parsed = _hexz.parse_size(value)
        if parsed is None:
            raise InvalidArgumentError(f"{name}: invalid size '{value}' {_SIZE_HINT}")
        text = value
    else:
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int or a size string such as '64K', not bool")
        try:
            parsed = operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a size string such as '64K', "
                f"not {type(value).__name__}"
            ) from None
        text = str(parsed)
        if parsed < 0:
            raise InvalidArgumentError(f"{name}: invalid size '{text}' {_SIZE_HINT}")
    if parsed > maximum:
        raise InvalidArgumentError(f"{name}: size '{text}' is too large (at most {maximum} bytes)")
    return parsed


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _count(name: str, value: Any, minimum: int = 0) -> int:
    """An int from `minimum` to 2^32 - 1 (the library checks its own ranges)."""
    n = _int(name, value)
    if n < minimum or n > _U32_MAX:
        raise InvalidArgumentError(f"{name} {n} is out of range ({minimum} to {_U32_MAX})")
    return n


def _threads(value: Any) -> int:
    if value is None:
        return 0
    n = _int("threads", value)
    if n < 0 or n > _U32_MAX:
        raise InvalidArgumentError(f"thread count {n} is out of range (at most 1024)")
    return n


def _stream(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"stream must be 'disk' or 'memory', not {type(value).__name__}")
    if value not in STREAMS:
        raise InvalidArgumentError(f"unknown stream '{value}' (expected disk or memory)")
    return value


def _password(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"password must be str or bytes, not {type(value).__name__}")


def _callback(name: str, value: Any) -> Optional[ProgressCallback]:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable as {name}(done, total), not {type(value).__name__}")
    return value


def parse_size(text: str) -> int:
    """Parses a size the way the CLI does: ``"4096"``, ``"64K"``, ``"16M"``, ``"1G"`` (binary
    multiples, optional ``B``/``iB`` suffix). Raises InvalidArgumentError if malformed."""
    if not isinstance(text, str):
        raise TypeError(f"parse_size() needs a str, not {type(text).__name__}")
    value = _hexz.parse_size(text)
    if value is None:
        raise InvalidArgumentError(f"invalid size '{text}' {_SIZE_HINT}")
    return value


def format_bytes(count: int) -> str:
    """Formats a byte count for humans the way the CLI does, e.g. ``"1.50 GiB"``."""
    return _hexz.format_bytes(_size("count", count, _U64_MAX))


# ------------------------------------------------------------------------------------------
# pack


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack` produced.

    Attributes:
        path: the snapshot written.
        file_size: its size in bytes.
        seconds: wall time of the pack.
        dictionary_bytes: size of the trained Zstd dictionary (0 if none).
        memory_limit: the dedup table's memory limit in force (bytes).
        dedup_table_bytes: memory the dedup table took at the end.
        dedup_unrecorded_chunks, dedup_unrecorded_bytes: unique chunks (and their bytes) the
            full dedup table could not record (0 unless memory_limit was reached).
        warnings: non-fatal conditions worth telling the user.
        streams: per stream packed (``"disk"``, ``"memory"``), the counters ``hexz info --json``
            shows: logical_size, chunks, zero_chunks, duplicate_chunks, stored_blocks,
            stored_bytes, ratio; and bytes_read, the input bytes actually read (holes,
            unallocated ranges of a qcow2 and zero ranges block status reports are not read).
    """

    path: str
    file_size: int
    seconds: float
    dictionary_bytes: int = 0
    memory_limit: int = 0
    dedup_table_bytes: int = 0
    dedup_unrecorded_chunks: int = 0
    dedup_unrecorded_bytes: int = 0
    warnings: Tuple[str, ...] = ()
    streams: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        """Total logical bytes of all packed streams."""
        return sum(s["logical_size"] for s in self.streams.values())

    @property
    def ratio(self) -> Optional[float]:
        """input_size / file_size (the ratio the CLI prints after a pack)."""
        return self.input_size / self.file_size if self.file_size else None


_PACK_OPTIONS = (
    "attach",
    "chunk_size",
    "force",
    "raw",
    "train_dict",
    "train_dictionary",
    "cdc",
    "min_chunk",
    "avg_chunk",
    "max_chunk",
    "base",
    "base_dirs",
    "holes_inherit",
    "memory_limit",
    "encrypt",
    "password",
    "base_password",
    "kdf_memory",
    "kdf_iterations",
    "kdf_parallelism",
)


def pack(
    output: PathLike,
    disk: Optional[PathLike] = None,
    memory: Optional[PathLike] = None,
    compression: str = "zstd",
    level: Optional[int] = None,
    block_size: Size = 65536,
    threads: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    **options: Any,
) -> PackResult:
    """Packs raw disk and/or memory images into the snapshot ``output``.

    The same job as ``hexz pack --disk DISK --memory MEMORY -o OUTPUT``. The file is written
    atomically: on any failure (including an exception in ``progress``) no output is left
    behind and an existing file at ``output`` is untouched. The output is deterministic: the
    same inputs and options give a byte-identical file, whatever ``threads`` is.

    Args:
        output: path of the ``.hxz`` file to write. An existing file is an error
            (AlreadyExistsError) unless ``force=True``.
        disk: disk image for the ``disk`` stream (optional): a raw file or block device, a
            qcow2/VMDK/VHD/VHDX/VDI file (read through a private qemu-nbd), or an
            ``nbd://`` / ``nbd+unix://`` URI.
        memory: raw memory image for the ``memory`` stream (optional). At least one of
            ``disk`` and ``memory`` is required.
        compression: ``"zstd"`` (the default: smaller) or ``"lz4"`` (faster).
        level: compression level; None or 0 = the codec's default (zstd 1..22; lz4: 1 = fast,
            more than 1 = LZ4-HC).
        block_size: compression unit, 1K..16M and at least the chunk size; an int or a size
            string such as ``"64K"``.
        threads: worker threads; None or 0 = all hardware threads.
        progress: ``progress(done, total)``, byte counts of logical input. Called on the
            thread that called pack(), with the GIL held only for the call, at most about 20
            times a second; ``done`` never decreases and the last call has ``done == total``.
            An exception it raises aborts the pack (no output file) and is re-raised by
            pack() unchanged. Ctrl+C (KeyboardInterrupt) aborts the same way.
        **options: the CLI's other pack options:

            - ``chunk_size``: dedup/index unit, a power of two from 512 to 1M (default 4K).
            - ``force``: replace an existing ``output`` (default False).
            - ``raw``: pack a qcow2/VMDK/VHD/VHDX/VDI/LUKS file's own bytes (default False:
              such a file is read through qemu-nbd as the disk it holds; LUKS is refused with
              UnsupportedError).
            - ``train_dict``: train a Zstd dictionary on a sample of the input and compress
              with it (``compression="zstd"`` only; default False).
            - ``cdc``: content-defined chunking (FastCDC) instead of fixed-size chunks, with
              ``min_chunk``, ``avg_chunk``, ``max_chunk`` (sizes; defaults 2K, 8K, 64K).
            - ``base``: path of a base snapshot; makes a thin snapshot that stores only the
              chunks the base lacks. ``base_dirs``: directories searched for the base's own
              bases. ``holes_inherit=True`` (with ``base``): the holes of sparse inputs mean
              "unchanged since the base" (Firecracker diff snapshots), not zeros.
            - ``memory_limit``: most memory the dedup table may take (a size such as ``"1G"``;
              default a quarter of the RAM). Once full, new chunks are no longer recorded for
              dedup: ``PackResult.dedup_unrecorded_chunks`` / ``_bytes`` say how many, and a
              warning says so.
            - ``password``: encrypt (AES-256-GCM, key derived from the password with
              Argon2id); it implies ``encrypt=True``. With ``base``, the base must be
              encrypted too: the result is an encrypted thin snapshot (format 1.2) that holds
              its bases' keys, so its own password reads the whole chain.
              ``base_password``: the encrypted base's password, if it differs.
            - ``attach``: named attachments, a dict ``{name: bytes or path}`` (e.g.
              ``{"vmstate": "vm.snap", "config": b"{...}"}``): small blobs stored in the
              snapshot (at most 64, each at most 64 MiB; names of letters, digits, ``.``,
              ``_`` and ``-``), read back with :meth:`Snapshot.read_attachment`.
            - ``kdf_memory``, ``kdf_iterations``, ``kdf_parallelism``: the Argon2id cost of
              every guess at the password (defaults 64M, 3 and 4; memory 8M to 1G, 1 to 64
              passes, 1 to 64 lanes). Readers refuse more than 1G or 16 passes unless told
              otherwise (``kdf_max_memory``, ``kdf_max_iterations`` of :func:`open`).

            Unknown names raise TypeError.

    Returns:
        A :class:`PackResult` with the file size and per-stream statistics.

    Raises:
        InvalidArgumentError: a bad option (message as the CLI prints it).
        NotFoundError: an input does not exist.
        AlreadyExistsError: ``output`` exists and ``force`` is false.
        IoError: the operating system refused a read or write.
        Exception: whatever ``progress`` raised.

    Example, a progress bar on stderr::

        def bar(done, total, width=40):
            frac = done / total if total else 1.0
            print(f"\\r[{'#' * int(frac * width):<{width}}] {frac:6.1%}",
                  end="\\n" if done == total else "", file=sys.stderr, flush=True)

        hexz.pack("vm.hxz", disk="disk.img", progress=bar)
    """
    output_path = _path("output", output)
    d = _pack_dict("pack", output_path, disk, memory, compression, level, block_size, threads,
                   options, _PACK_OPTIONS)
    return _pack_result(output_path, _hexz.pack(d, _callback("progress", progress)))


def commit(
    output: PathLike,
    overlay: PathLike,
    base: PathLike,
    compression: str = "zstd",
    level: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    **options: Any,
) -> PackResult:
    """Folds the writes of a qcow2 overlay over ``base`` into the thin snapshot ``output``.

    The same job as ``hexz commit OVERLAY --base BASE -o OUTPUT``: the overlay (typically made
    with ``qemu-img create -f qcow2 -b nbd+unix:///?socket=S -F raw`` over the base's nbdkit
    export) is read by a private qemu-nbd without its backing file, only its own clusters are
    read from it, and every other range comes from ``base`` (and dedups against it). The
    chunking is the base's. Written atomically, as :func:`pack`.

    Options (keyword arguments): ``force``, ``base_dirs`` (directories searched for the base's
    own bases), ``block_size``, ``password`` (encrypt; needed, and only allowed, onto an
    encrypted base: the result is an encrypted thin snapshot whose own password reads the
    chain), ``base_password`` (the base's, if it differs), ``kdf_memory``, ``kdf_iterations``,
    ``kdf_parallelism``. Unknown names raise TypeError.

    Returns:
        A :class:`PackResult`; ``streams["disk"]["bytes_read"]`` counts the bytes read from
        the overlay and the base.

    Raises:
        InvalidArgumentError: a bad option, a mixed chain (an encrypted base without a
            password, or a password onto an unencrypted base), an overlay of another format.
        UnsupportedError: an overlay format qemu-nbd cannot read.
        WrongPasswordError: the base's password is wrong or missing.
        NotFoundError, AlreadyExistsError, IoError: as for :func:`pack`.
    """
    output_path = _path("output", output)
    options = dict(options)
    block_size = options.pop("block_size", 65536)
    d = _pack_dict("commit", output_path, None, None, compression, level, block_size, threads,
                   options, _COMMIT_OPTIONS)
    d["base"] = _path("base", base)
    overlay_path = os.fsdecode(_path("overlay", overlay))
    return _pack_result(
        output_path, _hexz.commit(overlay_path, d, _callback("progress", progress)))


_COMMIT_OPTIONS = (
    "force",
    "base_dirs",
    "password",
    "base_password",
    "encrypt",
    "kdf_memory",
    "kdf_iterations",
    "kdf_parallelism",
)


def _pack_dict(
    what: str,
    output_path: Any,
    disk: Optional[PathLike],
    memory: Optional[PathLike],
    compression: str,
    level: Optional[int],
    block_size: Size,
    threads: Optional[int],
    options: Dict[str, Any],
    allowed: Tuple[str, ...],
) -> Dict[str, Any]:
    """The options dict the extension's pack() and commit() take, checked as pack() says."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"{what}() got an unexpected keyword argument '{unknown[0]}' "
            f"(valid options: {', '.join(allowed)})"
        )
    if "train_dict" in options and "train_dictionary" in options:
        raise TypeError("pack() got both 'train_dict' and its alias 'train_dictionary'")
    if not isinstance(compression, str):
        raise TypeError(f"compression must be 'lz4' or 'zstd', not {type(compression).__name__}")

    d: Dict[str, Any] = {
        "output": output_path,
        "compression": compression,
        "level": 0 if level is None else _int("level", level),
        "block_size": _size("block_size", block_size),
        "threads": _threads(threads),
    }
    if disk is not None:
        d["disk"] = _path("disk", disk)
    if memory is not None:
        d["memory"] = _path("memory", memory)
    if d["level"] < -(2**31) or d["level"] >= 2**31:
        raise InvalidArgumentError(f"compression level {d['level']} is out of range")
    for key, value in options.items():
        if key in ("chunk_size", "min_chunk", "avg_chunk", "max_chunk"):
            d[key] = _size(key, value)
        elif key in ("force", "cdc", "encrypt", "holes_inherit", "raw"):
            d[key] = bool(value)
        elif key in ("train_dict", "train_dictionary"):
            d["train_dictionary"] = bool(value)
        elif key == "base":
            d[key] = _path(key, value)
        elif key == "memory_limit":
            d[key] = _size(key, value, _U64_MAX)
        elif key == "base_dirs":
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise TypeError("base_dirs must be a list of paths")
            d[key] = [_path("base_dirs", v) for v in value]
        elif key in ("password", "base_password"):
            if value is not None:
                d[key] = _password(value)
        elif key == "kdf_memory":
            kib, rest = divmod(_size(key, value, 1 << 40), 1024)
            if rest != 0 or kib > _U32_MAX:
                raise InvalidArgumentError("kdf_memory must be a whole number of KiB")
            d["kdf_memory_kib"] = kib
        elif key in ("kdf_iterations", "kdf_parallelism"):
            d[key] = _count(key, value)
        elif key == "attach":
            if not isinstance(value, dict):
                raise TypeError("attach must be a dict {name: bytes or path}")
            items = []
            for name, content in value.items():
                if not isinstance(name, str):
                    raise TypeError("attachment names must be str")
                if isinstance(content, (bytes, bytearray, memoryview)):
                    items.append((name, bytes(content)))
                else:
                    items.append((name, os.fsdecode(_path("attach", content))))
            d["attachments"] = items
    return d


def _pack_result(output_path: Any, result: Dict[str, Any]) -> PackResult:
    return PackResult(
        path=os.fsdecode(output_path),
        file_size=result["file_size"],
        seconds=result["seconds"],
        dictionary_bytes=result["dictionary_bytes"],
        memory_limit=result["memory_limit"],
        dedup_table_bytes=result["dedup_table_bytes"],
        dedup_unrecorded_chunks=result["dedup_unrecorded_chunks"],
        dedup_unrecorded_bytes=result["dedup_unrecorded_bytes"],
        warnings=tuple(result["warnings"]),
        streams=result["streams"],
    )


# ------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :meth:`Snapshot.verify`; true when the snapshot is intact.

    Attributes:
        ok: every section, block and chunk digest checked out.
        blocks_checked: data blocks read and decoded.
        chunks_checked: chunk digests compared.
        first_error: the first problem found (None when ok), worded as ``hexz verify`` does.
    """

    ok: bool
    blocks_checked: int
    chunks_checked: int
    first_error: Optional[str] = None

    def __bool__(self) -> bool:
        return self.ok


def _not_negative(name: str, value: Any) -> int:
    n = _int(name, value)
    if n < 0:
        raise InvalidArgumentError(f"{name} must not be negative (got {n})")
    if n > _U64_MAX:
        raise OutOfRangeError(f"{name} {n} is out of range (at most {_U64_MAX})")
    return n


class Snapshot:
    """An open ``.hxz`` snapshot; get one from :func:`hexz.open`.

    All methods are thread-safe: several threads may read the same Snapshot at once (the GIL
    is released while the library fetches and decodes). Use it as a context manager, or call
    :meth:`close`; reads after close raise ValueError.

    Attributes:
        path: the snapshot's path as given to :func:`hexz.open`.
    """

    def __init__(self, handle: Any, path: str) -> None:
        self._handle = handle
        self.path = path
        self._lock = threading.Lock()
        self._streams: Dict[str, StreamReader] = {}
        self._readers: "weakref.WeakSet[StreamReader]" = weakref.WeakSet()

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the snapshot and its stream file objects. Calling it again does nothing."""
        with self._lock:
            readers = list(self._readers)
            self._streams.clear()
        for reader in readers:
            reader.close()
        self._handle.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._handle.closed

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ", ".join(self.streams) or "empty"
        return f"<hexz.Snapshot {self.path!r} ({state})>"

    # -- facts ---------------------------------------------------------------------------------

    @property
    def streams(self) -> Tuple[str, ...]:
        """Names of the streams present, in order: a subset of ``("disk", "memory")``."""
        return tuple(s for s in STREAMS if self._handle.has_stream(s))

    def has_stream(self, stream: str) -> bool:
        """True if the snapshot holds ``stream`` (``"disk"`` or ``"memory"``)."""
        return self._handle.has_stream(_stream(stream))

    def size(self, stream: str = "disk") -> int:
        """Logical size of ``stream`` in bytes (0 if the snapshot does not hold it)."""
        return self._handle.size(_stream(stream))

    def info(self) -> Dict[str, Any]:
        """Header facts and per-stream statistics as a dict with exactly the keys of
        ``hexz info --json`` (see docs/cli-json.md): format_version, codec, level, chunk_size,
        block_size, file_size, index_bytes, identity, and streams: {name: {logical_size,
        chunks, zero_chunks, duplicate_chunks, stored_blocks, stored_bytes, ratio}} for the
        streams present (ratio is None when nothing is stored), attachments, signatures
        (their public keys) and trace (the stored boot trace summarized, or None)."""
        return self._handle.info()

    def attachments(self) -> List[Dict[str, Any]]:
        """The snapshot's named attachments in order, as ``hexz info --json`` lists them:
        ``[{"name": str, "size": int, "stored_size": int}]`` (empty if it has none)."""
        return self._handle.attachments()

    def read_attachment(self, name: str) -> bytes:
        """The content of attachment ``name``, checked against its digest (which the
        snapshot's identity covers). Raises NotFoundError if there is no such attachment (the
        message lists the names), CorruptSnapshotError if it is damaged."""
        return self._handle.read_attachment(name)

    def recorded_trace(self) -> bytes:
        """The boot trace recorded so far (needs ``open(..., record_trace=True)``): the order in
        which reads first needed each index page and data block. Store it in the snapshot with
        :func:`add_trace`; summarize it with :func:`describe_trace`. Raises
        InvalidArgumentError if the snapshot was not opened to record."""
        return self._handle.recorded_trace()

    def read_stats(self) -> Dict[str, Any]:
        """What reads and the prefetcher did so far: ``demand_block_misses`` and
        ``demand_page_misses`` (reads that fetched a block or index page themselves),
        ``demand_waits``, ``prefetched_pages``, ``prefetched_blocks``, ``prefetched_bytes``,
        ``prefetched_unused_bytes`` (prefetched but not read), ``trace_events`` (of the trace
        being replayed), ``prefetch_done``, ``trace_error`` (why the snapshot's trace is not
        replayed, or None), ``remote_requests`` and ``remote_bytes``."""
        return self._handle.read_stats()

    def wait_for_prefetch(self) -> None:
        """Blocks until the background prefetch (trace replay, index preload) has finished."""
        self._handle.wait_for_prefetch()

    def verify(self, progress: Optional[ProgressCallback] = None) -> VerifyReport:
        """Reads and checks every section, block and chunk digest (like ``hexz verify``).

        Corruption is reported, not raised: check ``report.ok`` (or ``bool(report)``).
        ``progress(done, total)`` works as in :func:`pack`, and an exception it raises stops
        the check and is re-raised.
        """
        report = self._handle.verify(_callback("progress", progress))
        return VerifyReport(
            ok=report["ok"],
            blocks_checked=report["blocks_checked"],
            chunks_checked=report["chunks_checked"],
            first_error=report["first_error"] or None,
        )

    # -- random access -------------------------------------------------------------------------

    def read(self, offset: int, length: int, stream: str = "disk") -> bytes:
        """Returns the ``length`` bytes at ``offset`` of ``stream``.

        The whole range must lie inside the stream, else OutOfRangeError (file objects from
        :attr:`disk` / :attr:`memory` give short reads at the end instead). Raises
        CorruptSnapshotError if a block fails its checksum.
        """
        return self._handle.read(
            _not_negative("offset", offset), _not_negative("length", length), _stream(stream)
        )

    def readinto(self, buffer: Any, offset: int, stream: str = "disk") -> int:
        """Fills ``buffer`` with the bytes at ``offset`` of ``stream``; returns ``len`` in bytes.

        ``buffer`` is any writable, contiguous object supporting the buffer protocol: a
        bytearray, a memoryview (slices included), an ``array.array``, a numpy array (of any
        dtype; its ``nbytes`` are filled), an mmap. The library decodes straight into it, with
        no intermediate copy. The whole range must lie inside the stream (OutOfRangeError).
        """
        return self._handle.readinto(buffer, _not_negative("offset", offset), _stream(stream))

    def extents(
        self, stream: str = "disk", offset: int = 0, length: Optional[int] = None
    ) -> List[Tuple[int, int, bool]]:
        """Runs of ``stream`` as ``(offset, length, is_zero)`` tuples, adjacent runs of the same
        kind merged, covering ``[offset, offset + length)`` (to the end when length is None).
        Reads the index only; useful to copy a stream sparsely (skip the zero runs)."""
        stream = _stream(stream)
        offset = _not_negative("offset", offset)
        if length is None:
            length = max(0, self.size(stream) - offset)
        return self._handle.extents(stream, offset, _not_negative("length", length))

    # -- mapping -------------------------------------------------------------------------------

    def map(self, stream: str = "memory", fill: str = "block", hydrate: bool = False) -> Any:
        """Maps ``stream`` into this process's memory: a read-only buffer of ``size(stream)``
        bytes whose pages are read from the snapshot on first touch (userfaultfd; where this
        process may not use it, the whole stream is read at once and ``.lazy`` is False).

        Use it with ``memoryview(m)`` or ``numpy.frombuffer(m, dtype=...)``; ``len(m)`` is the
        stream's size and ``m.stats()`` returns the fault counters. ``fill`` says what a fault
        reads: ``"page"``, ``"chunk"`` or the whole decoded ``"block"``; ``hydrate=True`` fills
        the rest in the background. The mapping keeps the snapshot open and is unmapped when the
        last reference to it (memoryviews and arrays included) goes away. A page that cannot be
        read when touched ends the process with a message (as an I/O error on a mapped file
        would). Raises OutOfRangeError for a missing or empty stream."""
        return self._handle.map(_stream(stream), fill, bool(hydrate))

    # -- file objects --------------------------------------------------------------------------

    @property
    def disk(self) -> "StreamReader":
        """The disk stream as a seekable, read-only binary file object (one shared object per
        snapshot; use :meth:`open_stream` for independent positions)."""
        return self._shared_stream("disk")

    @property
    def memory(self) -> "StreamReader":
        """The memory stream as a seekable, read-only binary file object (one shared object
        per snapshot; use :meth:`open_stream` for independent positions)."""
        return self._shared_stream("memory")

    def open_stream(self, stream: str) -> "StreamReader":
        """A new file object for ``stream`` with its own position (e.g. one per thread).
        Raises OutOfRangeError if the snapshot does not hold the stream."""
        reader = StreamReader(self, _stream(stream))
        with self._lock:
            self._readers.add(reader)
        return reader

    def _shared_stream(self, stream: str) -> "StreamReader":
        with self._lock:
            reader = self._streams.get(stream)
        if reader is not None and not reader.closed:
            return reader
        fresh = self.open_stream(stream)
        with self._lock:
            reader = self._streams.get(stream)
            if reader is None or reader.closed:  # Another thread may have beaten us to it.
                reader = self._streams[stream] = fresh
        return reader


class StreamReader(io.RawIOBase):
    """One stream of a snapshot as a read-only, seekable binary file (io.RawIOBase).

    Works wherever Python expects a binary file: ``shutil.copyfileobj``, ``io.BufferedReader``,
    ``tarfile.open(fileobj=...)``, ``zipfile.ZipFile(...)``, ``hashlib.file_digest``. Reads at
    the end of the stream are short, and reads past it return ``b""``. Like any file object it
    keeps one position, so do not share one between threads; give each thread its own from
    :meth:`Snapshot.open_stream` (the Snapshot itself is thread-safe).

    Attributes:
        name: ``"<snapshot path>:<stream>"``.
        mode: ``"rb"``.
        stream: ``"disk"`` or ``"memory"``.
        size: the stream's length in bytes.
    """

    mode = "rb"

    def __init__(self, snapshot: Snapshot, stream: str) -> None:
        super().__init__()
        handle = snapshot._handle
        handle.read(0, 0, stream)  # Raises OutOfRangeError if the stream is absent.
        # Only the native handle, not the Snapshot: no reference cycle with Snapshot's cache.
        self._handle = handle
        self.stream = stream
        self.size: int = handle.size(stream)
        self.name = f"{snapshot.path}:{stream}"
        self._pos = 0

    def __repr__(self) -> str:
        state = " closed" if self.closed else f" pos={self._pos}"
        return f"<hexz.StreamReader name={self.name!r} size={self.size}{state}>"

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def readable(self) -> bool:
        self._check_open()
        return True

    def seekable(self) -> bool:
        self._check_open()
        return True

    def writable(self) -> bool:
        self._check_open()
        return False

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Moves the position (whence: SEEK_SET, SEEK_CUR or SEEK_END); returns it. Seeking
        past the end is allowed (reads there return b""); a negative result raises OSError
        (EINVAL), as for a regular file."""
        self._check_open()
        offset = _int("offset", offset)
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise OSError(errno.EINVAL, f"negative seek position {pos}")
        self._pos = pos
        return pos

    def _remaining(self) -> int:
        return max(0, self.size - self._pos)

    def read(self, size: Optional[int] = -1) -> bytes:
        """Reads up to ``size`` bytes (all the rest if size is None or negative)."""
        self._check_open()
        if size is None or size < 0:
            n = self._remaining()
        else:
            n = min(_int("size", size), self._remaining())
        if n == 0:
            return b""
        data = self._handle.read(self._pos, n, self.stream)
        self._pos += n
        return data

    def readall(self) -> bytes:
        """Reads everything from the position to the end of the stream."""
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        """Reads into a writable buffer (bytearray, memoryview, numpy array, ...) without an
        extra copy; returns the number of bytes read (0 at the end)."""
        self._check_open()
        with memoryview(buffer) as view:
            if view.readonly:
                raise TypeError("readinto() needs a writable buffer")
            with view.cast("B") as flat:
                n = min(flat.nbytes, self._remaining())
                if n == 0:
                    return 0
                with flat[:n] as target:
                    self._handle.readinto(target, self._pos, self.stream)
        self._pos += n
        return n

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("write")

    def truncate(self, size: Optional[int] = None) -> int:
        raise io.UnsupportedOperation("truncate")


def open(
    path: PathLike,
    password: Optional[Union[str, bytes]] = None,
    cache_size: Optional[Size] = None,
    *,
    page_cache_size: Optional[Size] = None,
    threads: Optional[int] = None,
    readahead: Optional[Size] = None,
    base_dirs: Optional[Iterable[PathLike]] = None,
    endpoint: Optional[str] = None,
    cache_dir: Optional[PathLike] = None,
    verify_reads: Optional[bool] = None,
    trusted_keys: Optional[Iterable[PathLike]] = None,
    require_encryption: bool = False,
    kdf_max_memory: Optional[Size] = None,
    kdf_max_iterations: Optional[int] = None,
    record_trace: bool = False,
    prefetch: bool = True,
    preload_index: bool = False,
    hydrate_rate: Optional[Size] = None,
) -> Snapshot:
    """Opens the snapshot at ``path`` for reading and validates its header and index.

    Args:
        path: the ``.hxz`` file, an ``http(s)://`` URL or ``s3://bucket/key`` (see
            docs/remote.md for credentials and the environment variables).
        password: the password of an encrypted snapshot (WrongPasswordError if it is wrong or
            missing). A password also means the snapshot must be encrypted: an unencrypted one
            raises WrongPasswordError (it may have replaced the encrypted original).
        cache_size: byte budget for decoded data blocks (default 64 MiB); an int or a size
            string such as ``"256M"``.
        page_cache_size: byte budget for decoded index pages (default 32 MiB).
        threads: threads decoding multi-block reads and reading ahead; None or 0 = all
            hardware threads, 1 = the calling thread only (no readahead).
        readahead: bytes read ahead of a sequential reader (default 8 MiB; 0 disables).
        base_dirs: directories searched, after the snapshot's own directory, for the base
            snapshots a thin snapshot depends on.
        endpoint: S3 endpoint URL for ``s3://`` locations (default: ``AWS_ENDPOINT_URL``,
            else AWS).
        cache_dir: directory of an on-disk cache of remote bytes shared by processes
            (default: ``HEXZ_CACHE_DIR``, else none); its budget is ``HEXZ_CACHE_DIR_BYTES``
            (default 1 GiB).
        verify_reads: check every chunk a read returns against its BLAKE3 digest in the
            index first (a thin snapshot's bases are checked against their identities at
            open); a mismatch raises CorruptSnapshotError naming the chunk. None (default):
            on for a signed snapshot, off otherwise.
        trusted_keys: public key files (``hexz keygen`` makes them); if given, the snapshot
            must carry a valid signature by one of them (``hexz sign``), else
            CorruptSnapshotError, and its whole index is checked against its identity.
        require_encryption: raise WrongPasswordError if the snapshot (or a base of it) is
            not encrypted, with or without a password.
        kdf_max_memory: the most Argon2id memory an encrypted snapshot may ask for before the
            key derivation runs (default: ``HEXZ_KDF_MAX_MEMORY``, else 1G); above it,
            UnsupportedError without running it.
        kdf_max_iterations: likewise the most Argon2id passes (default:
            ``HEXZ_KDF_MAX_ITERATIONS``, else 16).
        record_trace: record a boot trace (:meth:`Snapshot.recorded_trace`).
        prefetch: replay the snapshot's boot trace, if it has one: its blocks are fetched in
            the background ahead of the reads (default True).
        preload_index: load the whole index in the background after open.
        hydrate_rate: after the trace, fetch the rest of a remote snapshot into the disk
            cache (``cache_dir``) in the background, at most this many bytes per second (an
            int or a size string such as ``"50M"``); None (default) = do not.

    Returns:
        A :class:`Snapshot`; use it as a context manager.

    Raises:
        NotFoundError: no such file.
        CorruptSnapshotError: not a snapshot, truncated, or a checksum failed.
        UnsupportedError: a newer format version, an unknown required feature, or a key
            derivation cost above the caps.
        WrongPasswordError: a missing or wrong password, or an unencrypted snapshot when a
            password or ``require_encryption`` was given.
    """
    raw_path = _path("path", path)
    options: Dict[str, Any] = {}
    if cache_size is not None:
        options["block_cache_bytes"] = _size("cache_size", cache_size, _U64_MAX)
    if page_cache_size is not None:
        options["page_cache_bytes"] = _size("page_cache_size", page_cache_size, _U64_MAX)
    if threads is not None:
        options["threads"] = _threads(threads)
    if readahead is not None:
        options["readahead_bytes"] = _size("readahead", readahead, _U64_MAX)
    if password is not None:
        options["password"] = _password(password)
    if base_dirs is not None:
        if isinstance(base_dirs, (str, bytes)):
            raise TypeError("base_dirs must be a list of paths")
        options["base_dirs"] = [_path("base_dirs", d) for d in base_dirs]
    if endpoint is not None:
        if not isinstance(endpoint, str):
            raise TypeError("endpoint must be a str")
        options["endpoint"] = endpoint
    if cache_dir is not None:
        options["cache_dir"] = _path("cache_dir", cache_dir)
    if verify_reads is not None:
        if not isinstance(verify_reads, bool):
            raise TypeError("verify_reads must be a bool")
        options["verify_reads"] = verify_reads
    if trusted_keys is not None:
        if isinstance(trusted_keys, (str, bytes)):
            raise TypeError("trusted_keys must be a list of paths")
        options["trusted_keys"] = [_path("trusted_keys", k) for k in trusted_keys]
    if require_encryption:
        options["require_encryption"] = True
    if kdf_max_memory is not None:
        kib = _size("kdf_max_memory", kdf_max_memory, 1 << 40) // 1024
        if kib == 0:
            raise InvalidArgumentError("kdf_max_memory must be at least 1K")
        options["max_kdf_memory_kib"] = min(kib, _U32_MAX)
    if kdf_max_iterations is not None:
        options["max_kdf_iterations"] = _count("kdf_max_iterations", kdf_max_iterations, 1)
    if hydrate_rate is not None:
        options["hydrate_bytes_per_second"] = _size("hydrate_rate", hydrate_rate, _U64_MAX)
    for name, flag in (
        ("record_trace", record_trace),
        ("prefetch", prefetch),
        ("preload_index", preload_index),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool")
        options[name] = flag
    handle = _hexz.Snapshot.open(raw_path, options)
    return Snapshot(handle, os.fsdecode(raw_path))


def _trace_bytes(trace: Union[bytes, PathLike]) -> bytes:
    if isinstance(trace, (bytes, bytearray, memoryview)):
        return bytes(trace)
    with builtins.open(os.fsdecode(_path("trace", trace)), "rb") as f:
        return f.read()


def describe_trace(trace: Union[bytes, PathLike]) -> Dict[str, Any]:
    """Checks a boot trace (bytes, or the path of a trace file) and summarizes it like
    ``hexz trace show --json``: events, index_pages, blocks, blocks_per_stream, stored_bytes,
    raw_bytes, duration_ms, index_digest. Raises CorruptSnapshotError for a damaged trace."""
    return _hexz.describe_trace(_trace_bytes(trace))


def _change_options(password: Optional[Union[str, bytes]], drop_signatures: bool) -> Dict[str, Any]:
    options: Dict[str, Any] = {"drop_signatures": bool(drop_signatures)}
    if password is not None:
        options["password"] = _password(password)
    return options


def add_trace(
    path: PathLike,
    trace: Union[bytes, PathLike],
    password: Optional[Union[str, bytes]] = None,
    *,
    drop_signatures: bool = False,
) -> str:
    """Stores ``trace`` (bytes from :meth:`Snapshot.recorded_trace`, or a trace file's path) as
    the boot trace of the local snapshot ``path``, in place (its data is not rewritten), like
    ``hexz trace add``. Returns the snapshot's new identity. Raises CorruptSnapshotError for a
    damaged trace, InvalidArgumentError for one recorded on another snapshot (or a signed
    snapshot without ``drop_signatures``), WrongPasswordError for an encrypted one without its
    password."""
    return _hexz.change_trace(
        os.fsdecode(_path("path", path)),
        _trace_bytes(trace),
        _change_options(password, drop_signatures),
    )["identity"]


def remove_trace(
    path: PathLike,
    password: Optional[Union[str, bytes]] = None,
    *,
    drop_signatures: bool = False,
) -> str:
    """Removes the boot trace of the local snapshot ``path`` (``hexz trace remove``); returns
    its new identity. Raises NotFoundError if it has none."""
    return _hexz.change_trace(
        os.fsdecode(_path("path", path)), None, _change_options(password, drop_signatures)
    )["identity"]
