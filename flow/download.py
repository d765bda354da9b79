"""The project's one downloader: stream a URL into a file, atomically, with an optional progress callback.

Used by the flow package (SPyNet and RAFT weights) and by ``vidstyle.weights``
(VGG-19 weights), which cannot share code any other way: ``flow`` never imports
``vidstyle``. The library never draws: ``progress`` is a ``(bytes so far,
total bytes or None)`` callback, and the CLI passes one that draws a bar.

A download goes to ``<dest>.<random>.part`` beside ``dest``, locked for as long
as it is written (:func:`flow.partfiles.hold`); its length and, when given, its
sha256 are checked before it is renamed into place, so an interrupted or corrupt
download never leaves a file under ``dest``'s name. What a killed download left
behind is removed by the next download of the same file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from flow.errors import FlowError
from flow.partfiles import hold, remove_stale_parts

ProgressHook = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)


def hub_checkpoint_dir() -> Path:
    """``<torch hub dir>/checkpoints``, where torch hub keeps downloaded weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix torch hub puts in a file name (``name-<hex>.ext``), or None."""
    stem = filename.rsplit(".", 1)[0]
    if "-" in stem:
        tail = stem.rsplit("-", 1)[1]
        if len(tail) >= 6 and all(c in "0123456789abcdef" for c in tail):
            return tail
    return None


def fetch(url: str, dest: str | os.PathLike, *, sha256: str | None = None, progress: ProgressHook | None = None,
          check: Callable[[Path], None] | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    ``sha256``: the file's digest, or a prefix of it (torch hub names carry one,
    see :func:`hash_prefix`); a mismatch rejects the download. ``progress(done,
    total)`` is called after every chunk. ``check(tmp_path)`` may raise
    :class:`FlowError` to reject the downloaded file before it is renamed into place.
    Raises :class:`FlowError` (one line) on any network, disk, length or hash
    failure; a failed download leaves nothing behind.
    """
    dest = Path(dest)
    tmp: str | None = None
    held = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(dest.parent, dest.name)
        fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        held = hold(tmp)  # released below; a killed download's lock goes with its process
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            header = resp.headers.get("Content-Length")
            total = int(header) if header and header.isdigit() else None
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if total is not None and done != total:
            raise FlowError(f"download of {url} stopped after {done} of {total} bytes: try again")
        if sha256 and not digest.hexdigest().startswith(sha256.lower()):
            raise FlowError(f"downloaded {url} but its sha256 does not start with {sha256}: corrupt download, "
                            "try again")
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, dest)
        tmp = None
    except urllib.error.HTTPError as exc:
        raise FlowError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise FlowError(f"could not download {url}: {reason}") from None
    finally:
        if held is not None:
            os.close(held)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return dest


__all__ = ["ProgressHook", "fetch", "hash_prefix", "hub_checkpoint_dir"]
