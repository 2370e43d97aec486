"""Atomic file writes: a file is either the old one or the complete new one, never half written.

Every writer in gaussmix (model files, tables, images, arrays) goes through
:func:`atomic_write`: the content is written to a temporary file in the destination's directory
(same file system, so the final rename is atomic), flushed and ``fsync``-ed, and only then moved
over the destination with :func:`os.replace`. A failure midway (disk full, file-size limit, an
exception in the writer) removes the temporary file and leaves the destination untouched.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["atomic_write", "same_file"]


@contextmanager
def atomic_write(path, mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block exits without error.

    Parameters
    ----------
    path : str or path-like
        The destination. Its directory must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text mode.
    encoding, newline : str, optional
        As for :func:`open` in text mode (``encoding`` defaults to UTF-8 there).

    Yields
    ------
    file object
        The temporary file; write the whole content to it.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        if mode == "w":
            fh = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            fh = os.fdopen(fd, "wb")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:  # keep the permissions an ordinary open() would have given
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        except OSError:  # pragma: no cover - exotic file systems
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same existing file (symlinks and relative paths
    resolved, hard links included)."""
    try:
        return os.path.samefile(os.fspath(a), os.fspath(b))
    except (OSError, ValueError):
        return False
