"""Writing files atomically: to a temporary name beside the target, then renamed over it.

A reader (the loader, a CI step reading ``report/``) therefore sees either the
old file or the complete new one, never half a file, even if this process is
killed mid-write. Temporary files are created with the process umask (unlike
``tempfile.mkstemp``, which makes them private), so the result has ordinary
permissions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["replace_atomically", "write_bytes_atomically"]


def replace_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` to create a temporary file, flush it to disk, rename it to ``target``.

    Raises:
        OSError: (or whatever ``write`` raises) after removing the temporary file;
            ``target`` is then untouched.
    """
    tmp_path = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp_path)
        with tmp_path.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    _fsync_directory(target.parent)


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`replace_atomically`).

    Raises:
        OSError: the file cannot be written; ``target`` is then untouched.
    """

    def write(tmp_path: Path) -> None:
        with tmp_path.open("xb") as handle:
            handle.write(data)

    replace_atomically(target, write)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
