"""Temporary files a live process holds, and the removal of those a killed one left.

A process writing a temporary file (a partial download, a partial encode) locks
it with :func:`hold`; the cleanup of a later run removes only files it can lock
itself (:func:`remove_unheld`), so a file another running process is writing is
never touched, while a killed process's lock goes with it. Kept in the ``flow``
package because ``flow`` cannot import ``vidstyle``; ``vidstyle.atomic``
re-exports these, so there is one lock for the whole project.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

try:  # POSIX advisory locks; Windows has none, and callers fall back on their own rule
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CAN_LOCK = fcntl is not None
STALE_PART_SECONDS = 24 * 3600  # without file locks (Windows), a .part this old is taken as abandoned


def hold(path: str | os.PathLike) -> int | None:
    """Lock ``path`` (a temporary file being written) for as long as the returned descriptor is open.

    None when another live process holds it (or it vanished, or the OS has no ``flock``).
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_unheld(path: Path) -> bool:
    """Remove ``path`` (a file or a folder) if no live process holds it (see :func:`hold`)."""
    fd = hold(path)
    if fd is None:
        return False  # a live writer holds it (or it vanished)
    try:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def remove_stale_parts(folder: str | os.PathLike, filename: str) -> list[Path]:
    """Remove the ``<filename>.*.part`` files that killed downloads of ``filename`` left in ``folder``.

    A download in progress holds a lock on its file, so it is never touched; without
    locks (Windows) only files older than :data:`STALE_PART_SECONDS` go.
    """
    removed = []
    for part in Path(folder).glob(f"{filename}.*.part"):
        if not CAN_LOCK:  # no locks to tell a live download from a dead one: go by age
            try:
                if time.time() - part.stat().st_mtime > STALE_PART_SECONDS:
                    part.unlink()
                    removed.append(part)
            except OSError:
                pass
            continue
        if remove_unheld(part):
            removed.append(part)
    return removed
