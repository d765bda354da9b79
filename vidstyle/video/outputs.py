"""Where a video run's output goes, checked without PyAV (the CLI runs this before any heavy import).

A PNG sequence (codec ``png``, lossless, no audio, no timestamps) is named by a path that
ends with ``/``, is an existing folder, or whose name holds a printf pattern such as
``frames/%05d.png``; a folder gets ``000001.png``, ``000002.png``, ...
"""

from __future__ import annotations

import os
from pathlib import Path

from vidstyle import defaults
from vidstyle.atomic import remove_unheld
from vidstyle.errors import VidstyleError

SUPPORTED_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv")
CODECS = ("libx264", "libx265", "ffv1", "png")
_CODEC_CONTAINERS = {"ffv1": (".mkv",)}
FOLDER_PATTERN = "%06d.png"


def is_sequence_path(path: str | os.PathLike) -> bool:
    """True when ``path`` names a PNG sequence: ends with a separator, is a folder, or holds ``%``."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir() or "%" in Path(text).name


def _sequence_parts(path: str | os.PathLike) -> tuple[Path, str]:
    """(folder, file-name pattern) of a PNG sequence path."""
    p = Path(path)
    if "%" in p.name:
        if not p.name.lower().endswith(".png"):
            raise VidstyleError(f"{path}: a frame pattern must end with .png (e.g. frames/%05d.png)")
        try:
            p.name % 1
        except (TypeError, ValueError):
            raise VidstyleError(f"{path}: bad frame pattern (use one %d field, e.g. frames/%05d.png)") from None
        return p.parent, p.name
    return p, FOLDER_PATTERN


def check_output_path(path: str | os.PathLike, *, codec: str = defaults.VIDEO_CODEC, overwrite: bool = True) -> Path:
    """Check that a video can be written at ``path``; return it as a Path.

    One-line VidstyleError for an unsupported extension, a codec the container
    cannot hold, a missing or unwritable folder, and (``overwrite=False``) an
    existing output. PNG sequences: see the module docstring.
    """
    text = os.fspath(path)
    if is_sequence_path(text):
        if codec not in ("png", defaults.VIDEO_CODEC):  # the default codec means "not chosen": PNG
            raise VidstyleError(f"{_sequence_parts(text)[0]}{os.sep} is a PNG sequence folder; codec {codec!r} "
                                "needs a video file (.mkv, .mp4)")
        folder, _ = _sequence_parts(text)
        target, parent = folder, folder.parent
        if folder.exists():
            if not folder.is_dir():
                raise VidstyleError(f"{folder} exists and is not a folder")
            if any(folder.iterdir()) and not overwrite:
                raise VidstyleError(f"{folder} already holds files (use -y/--overwrite to replace them)")
            if any(not f.name.lower().endswith(".png") for f in folder.iterdir()):
                raise VidstyleError(f"{folder} holds files other than PNG frames; refusing to replace it")
    else:
        target = Path(text)
        parent = target.parent
        ext = target.suffix.lower()
        if ext not in SUPPORTED_EXTENSIONS:
            raise VidstyleError(
                f"{target}: unsupported video extension {target.suffix or '(none)'!r} "
                f"(use {', '.join(SUPPORTED_EXTENSIONS)}, or a folder/ for PNG frames)"
            )
        if codec not in CODECS:
            raise VidstyleError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
        if codec == "png":
            raise VidstyleError(f"codec png writes a folder of frames: give a folder path like out/ , not {target}")
        allowed = _CODEC_CONTAINERS.get(codec)
        if allowed and ext not in allowed:
            raise VidstyleError(f"codec {codec} needs a {'/'.join(allowed)} output, not {target.suffix}")
        if target.exists():
            if target.is_dir():
                raise VidstyleError(f"{target} is a folder")
            if not overwrite:
                raise VidstyleError(f"{target} already exists (use -y/--overwrite to replace it)")
    parent = parent if str(parent) else Path(".")
    if not parent.exists():
        raise VidstyleError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise VidstyleError(f"output folder {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VidstyleError(f"output folder {parent} is not writable")
    return Path(text) if not is_sequence_path(text) else target



def sequence_folder(path: str | os.PathLike) -> Path:
    """The folder a PNG-sequence path writes into."""
    return _sequence_parts(path)[0]


def normalise_output(path: str | os.PathLike) -> Path:
    """``frames/`` (a folder, maybe new) -> ``frames/%06d.png``: the same frames, in a form a ``Path``
    keeps (``Path("frames/")`` drops the slash that made it a sequence)."""
    text = os.fspath(path)
    if is_sequence_path(text) and "%" not in Path(text).name:
        return Path(text) / FOLDER_PATTERN
    return Path(text)


def _partials(path: str | os.PathLike) -> list[Path]:
    """Temporary outputs (:class:`vidstyle.video.encode.VideoWriter`) of ``path``, finished or not."""
    if is_sequence_path(path):
        folder = sequence_folder(path)
        parent = folder.parent if str(folder.parent) else Path(".")
        globs = [f".{folder.name}.*.partial", f".{folder.name}.*.old"]
    else:
        p = Path(path)
        parent = p.parent if str(p.parent) else Path(".")
        globs = [f".{p.stem}.*.partial{p.suffix}"]
    if not parent.is_dir():
        return []
    return sorted(q for g in globs for q in parent.glob(g))


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary outputs of ``path`` left by runs killed while encoding (no live process holds
    them; see :func:`hold`); returns what was removed."""
    return [p for p in _partials(path) if remove_unheld(p)]
