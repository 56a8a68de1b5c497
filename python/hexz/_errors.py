"""The exception classes of hexz (re-exported by the ``hexz`` package).

Every failure of the library is reported as an instance of :class:`hexz.Error` or one of its
subclasses. ``str(error)`` is the one-line message the ``hexz`` command-line tool prints after
``hexz: error:``, and ``error.code`` is the stable name of the library's error code (``"corrupt"``,
``"not_found"``, ...). Several classes also derive from the matching built-in exception, so
``except FileNotFoundError`` or ``except ValueError`` work as expected.
"""

from __future__ import annotations

__all__ = [
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
]


class Error(Exception):
    """Base class of every error raised by hexz.

    Attributes:
        code: the library's error code name, e.g. ``"corrupt"`` or ``"invalid_argument"``.
    """

    code: str = "internal"


class InvalidArgumentError(Error, ValueError):
    """A bad option or argument: an unknown codec, an invalid size, an empty path, ..."""

    code = "invalid_argument"


class OutOfRangeError(InvalidArgumentError):
    """A read past the end of a stream, or of a stream the snapshot does not hold."""

    code = "out_of_range"


class NotFoundError(Error, FileNotFoundError):
    """An input image or a snapshot does not exist."""

    code = "not_found"


class AlreadyExistsError(Error, FileExistsError):
    """The output of pack() exists and ``force=True`` was not given."""

    code = "already_exists"


class CorruptSnapshotError(Error):
    """The file is not a usable snapshot: a checksum or structural check failed
    (``code == "corrupt"``), it is shorter than its header says (``"truncated"``), or it does
    not start with the hexz magic at all (``"not_a_snapshot"``)."""

    code = "corrupt"


class WrongPasswordError(Error):
    """The password does not open an encrypted snapshot."""

    code = "wrong_password"


class UnsupportedError(Error):
    """A newer format version or an unknown required feature."""

    code = "unsupported"


class IoError(Error, OSError):
    """The operating system refused an I/O operation (permissions, disk full, ...)."""

    code = "io"


class AbortedError(Error):
    """The operation was aborted. (An exception raised by a progress callback is re-raised
    as itself, not as this.)"""

    code = "aborted"


# Library error code name -> class. Codes this table does not know map to Error itself.
_BY_CODE: dict[str, type[Error]] = {
    "invalid_argument": InvalidArgumentError,
    "out_of_range": OutOfRangeError,
    "not_found": NotFoundError,
    "already_exists": AlreadyExistsError,
    "corrupt": CorruptSnapshotError,
    "truncated": CorruptSnapshotError,
    "not_a_snapshot": CorruptSnapshotError,
    "wrong_password": WrongPasswordError,
    "unsupported": UnsupportedError,
    "io": IoError,
    "aborted": AbortedError,
}


# The library names the command line's password sources; hexz.open reads none of them.
_CLI_PASSWORD_HINT = "a password is needed (prompt, HEXZ_PASSWORD or --password-file)"
_PYTHON_PASSWORD_HINT = "a password is needed (pass password=... to hexz.open)"


def _make_error(code: str, message: str) -> Error:
    """Builds the exception for a library error (called by the native module)."""
    if code == "wrong_password":
        message = message.replace(_CLI_PASSWORD_HINT, _PYTHON_PASSWORD_HINT)
    error = _BY_CODE.get(code, Error)(message)
    error.code = code
    return error


# Show the classes as hexz.Error etc. (where users import them from) in tracebacks and reprs.
for _cls in (
    Error,
    InvalidArgumentError,
    OutOfRangeError,
    NotFoundError,
    AlreadyExistsError,
    CorruptSnapshotError,
    WrongPasswordError,
    UnsupportedError,
    IoError,
    AbortedError,
):
    _cls.__module__ = "hexz"
del _cls
