"""Files that appear whole or not at all: the one place composer writes through a temporary name.

A reader never sees half a file: the bytes go to a temporary file beside the target, then one rename
replaces the target.  A failed write leaves the previous file as it was and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    The temporary name carries the process id, so several processes (torchrun ranks, render workers) may
    write the same target at once: the last rename wins and each file is complete.  ``mode`` sets the
    permissions before the file becomes visible (e.g. 0o600 for a secret); ``durable`` also fsyncs the
    file and its folder, so the new content survives a power loss.  Raises :class:`OSError` with the
    system's reason (disk full, read-only folder) after removing the temporary file.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(target.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that renames inside it survive a power loss (where the file system allows it)."""
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
