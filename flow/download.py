"""Fetching the public SPyNet weights into the torch hub cache.

The weights released with the PyTorch port of SPyNet are licensed for
non-commercial research only: they are never bundled; they are downloaded on
request into ``<torch hub dir>/checkpoints/network-<model>.pytorch`` (the
name torch hub itself would use) or loaded from a local file.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from flow.errors import FlowError

SPYNET_MODELS = ("sintel-final", "sintel-clean", "chairs-final", "chairs-clean", "kitti-final")
SPYNET_URL = "http://content.sniklaus.com/github/pytorch-spynet/network-{model}.pytorch"
SPYNET_LICENCE = "SPyNet pretrained weights: non-commercial research use only (not bundled; see their publisher)"

ProgressHook = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)


def hub_checkpoint_dir() -> Path:
    """``<torch hub dir>/checkpoints``, where torch hub keeps downloaded weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def spynet_filename(model: str) -> str:
    if model not in SPYNET_MODELS:
        raise FlowError(f"SPyNet weights {model!r}: expected one of {', '.join(SPYNET_MODELS)} or a file path")
    return f"network-{model}.pytorch"


def _rich_hook(description: str):
    """A rich progress bar on stderr; returns (hook, close)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )
    progress.start()
    task = progress.add_task(description, total=None)

    def hook(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    return hook, progress.stop


def download_file(url: str, dest: str | os.PathLike, *, progress: bool | ProgressHook = False,
                  check: Callable[[Path], None] | None = None, timeout: float = 30.0) -> Path:
    """Stream ``url`` to ``dest`` atomically (temporary file, then rename).

    ``progress``: True for a rich progress bar on stderr, or a ``(done, total)``
    callback. ``check(tmp_path)`` may raise :class:`FlowError` to reject the
    download before it is renamed into place. Raises :class:`FlowError` on any
    network or disk failure; a failed download leaves nothing behind.
    """
    dest = Path(dest)
    close = None
    hook: ProgressHook | None = None
    if progress is True:
        hook, close = _rich_hook(f"downloading {dest.name}")
    elif callable(progress):
        hook = progress
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := resp.read(1 << 18):
                out.write(chunk)
                done += len(chunk)
                if hook:
                    hook(done, total)
        if total is not None and done != total:
            raise FlowError(f"download of {url} stopped after {done} of {total} bytes")
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
        if close:
            close()
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def fetch_spynet_weights(model: str = "sintel-final", *, cache_dir: str | os.PathLike | None = None,
                         url: str | None = None, download: bool = True,
                         progress: bool | ProgressHook = False) -> Path:
    """Path to SPyNet weights ``model`` in ``cache_dir`` (default the torch hub
    checkpoints folder), downloading them from ``url`` (default the public
    address) once when missing and ``download`` is True.

    The downloaded file is checked to be loadable SPyNet weights before it is
    kept. Offline or not allowed to download: :class:`FlowError` naming the
    file, the cache path and ``--flow-weights``.
    """
    filename = spynet_filename(model)
    cache = Path(cache_dir) if cache_dir is not None else hub_checkpoint_dir()
    path = cache / filename
    if path.is_file():
        return path
    url = url or SPYNET_URL.format(model=model)
    hint = (f"SPyNet weights {filename} are not cached at {path}; connect to the internet once, "
            f"or download {url} yourself and pass --flow-weights FILE ({SPYNET_LICENCE})")
    if not download:
        raise FlowError(hint)

    def check(tmp: Path) -> None:
        from flow.backends.spynet import load_spynet_state

        load_spynet_state(tmp, label=url)

    try:
        return download_file(url, path, progress=progress, check=check)
    except FlowError as exc:
        raise FlowError(f"{exc}; {hint}") from None
