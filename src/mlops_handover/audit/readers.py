"""Safe reading of an untrusted repository's files: every file the audit reads comes through here.

A delivered repository can hold anything where a document should be: a FIFO or a device (an
`open()` that never returns), a file too large to parse (a 200 MB model card costs seconds and
about 20x its size in memory), a file the auditing user may not read. The readers

- stat the path first and open only regular files, with O_NONBLOCK so that a FIFO swapped in
  after the stat cannot block the open, then check the opened file again with fstat;
- read at most `limit` bytes (MAX_TEXT_BYTES by default);
- raise `Unreadable` with the reason ("permission denied", "too large to read (N MB, limit M MB)",
  "not a regular file") when the file exists but cannot be read, and return None when it does
  not exist, so that a caller can tell absent evidence from broken evidence.

`Unreadable` makes the checks that need the file fail (docs/audit.md, "How the level is
decided"): a level is never raised by evidence the audit could not read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mlops_handover.audit.model import Unreadable

MB = 1 << 20
#: The largest text document the audit reads. The largest legitimate ones are lock files
#: (uv.lock, poetry.lock of big projects stay under ~5 MB); parsing costs up to ~20x the size in
#: memory, so 8 MB bounds one document at about 160 MB.
MAX_TEXT_BYTES = 8 * MB

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _size(size: int) -> str:
    """`8 MB`, `8.5 MB`, `200 MB`."""
    return f"{size / MB:.1f}".removesuffix(".0") + " MB"


def _reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


def _check(status: os.stat_result, name: str, limit: int | None) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise Unreadable(f"{name} is {_kind(status.st_mode)}, not a regular file: not read")
    if limit is not None and status.st_size > limit:
        raise Unreadable(
            f"{name} is too large to read ({_size(status.st_size)}, limit {_size(limit)})"
        )


def open_regular(path: Path, name: str | None = None, limit: int | None = None) -> int | None:
    """A read-only descriptor of the regular file at `path` (the caller closes it); None when
    nothing is there; Unreadable when it is something else, unreadable or over `limit` bytes."""
    name = name or str(path)
    try:
        _check(os.stat(path), name, limit)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno in _ABSENT:
            return None
        raise Unreadable(f"{name} cannot be read: {_reason(error)}") from None
    try:
        _check(os.fstat(fd), name, limit)  # replaced between the stat and the open
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, name: str | None = None, limit: int = MAX_TEXT_BYTES) -> bytes | None:
    """The file's bytes, None when it does not exist (see `open_regular`)."""
    name = name or str(path)
    fd = open_regular(path, name, limit)
    if fd is None:
        return None
    chunks, size = [], 0
    try:
        while chunk := os.read(fd, min(limit + 1 - size, MB)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew after the stat
                raise Unreadable(f"{name} is too large to read (over {_size(limit)})")
    except OSError as error:
        raise Unreadable(f"{name} cannot be read: {_reason(error)}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(
    path: Path,
    name: str | None = None,
    limit: int = MAX_TEXT_BYTES,
    *,
    keep_line_endings: bool = False,
) -> str | None:
    """The file as UTF-8 text, None when it does not exist; Unreadable when it exists but cannot
    be read, is over `limit` bytes or is not UTF-8. Line endings become `\n` as with
    `Path.read_text`, unless `keep_line_endings` (to write the file back as it was)."""
    name = name or str(path)
    data = read_bytes(path, name, limit)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Unreadable(
            f"{name} is not UTF-8 text (byte {error.start}: {error.reason}): not read"
        ) from None
    return text if keep_line_endings else text.replace("\r\n", "\n").replace("\r", "\n")


def check_readable(path: Path, name: str | None = None) -> bool:
    """Whether a regular file is at `path` (False: nothing there) and the auditing user may open
    it; Unreadable when something else is there or it cannot be opened. For files read by
    other means (an SQLite database), which must not be read into memory."""
    fd = open_regular(path, name)
    if fd is None:
        return False
    os.close(fd)
    return True
