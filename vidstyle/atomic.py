"""Atomic file writes: a temporary file beside the target, renamed into place when complete.

Nothing the user has is lost to a crash or a full disk: the target is either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# One "hold a temporary file" lock for the project, shared with the flow package's downloader
# (``flow`` cannot import ``vidstyle``, so the lock lives there and is re-exported here).
from flow.partfiles import CAN_LOCK, hold, remove_unheld  # noqa: F401
from vidstyle.errors import VidstyleError


def user_file_mode(path: str | os.PathLike) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the mode a plain ``open`` would: 0666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield an open temporary file; rename it to ``path`` when the block ends without error.

    An ``OSError`` (full disk, permissions) becomes a one-line :class:`VidstyleError`;
    the temporary file is removed whatever happens.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        user_file_mode(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise VidstyleError(f"could not write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, payload: Any, *, sort_keys: bool = False) -> None:
    """Atomic JSON write (values JSON cannot hold are written as strings)."""
    with atomic_file(path, "w") as fh:
        json.dump(payload, fh, indent=1, sort_keys=sort_keys, default=str)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path, "w") as fh:
        fh.write(text)
