"""The work directory of a video run: manifest, finished frames, resume.

Layout::

    <work>/manifest.json          settings that decide the frames, source and style digests
    <work>/pass1/000000.png       finished frames of pass 1 (lossless, written atomically)
    <work>/pass1/000000.json      that frame's record (timestamp, iterations, loss, shot start...)
    <work>/source/000000.png      the decoded source frames, kept only for --passes > 1
    <work>/flow/                  the flow cache, unless --cache-dir points elsewhere

A frame counts as finished when its PNG exists; its JSON record is written
first, so a run killed at any moment leaves either a whole frame or none. A
second run with the same settings continues after the last finished frame; a
run with other settings is refused with the list of what changed - but only
once a frame is finished: a run that stopped before that (a refused mask, a
crash while loading) is replaced by the next run's settings.

One run per work dir: ``<work>/lock`` is held with an OS file lock
(``fcntl.flock``) while a :class:`WorkDir` is open, so a second process is
refused at once, naming the first one's pid; the OS releases it when the
process ends, however it ends.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstyle.atomic import write_json
from vidstyle.errors import VidstyleError
from vidstyle.imageio import from_uint8, load_image, save_image

MANIFEST = "manifest.json"
LOCK = "lock"
FORMAT = 1
_KEEP = ("flow", LOCK)  # what a restart or a replaced manifest leaves in place


def file_digest(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """BLAKE2b of a whole file (the source video: a changed file is a different video)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensor_digest(img: torch.Tensor) -> str:
    t = img.detach().to("cpu").float().contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{tuple(t.shape)}|".encode())
    h.update(t.numpy().tobytes())
    return h.hexdigest()


def _atomic_json(path: Path, payload: dict) -> None:
    write_json(path, payload, sort_keys=True)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``name (old -> new)`` for every key whose value differs (nested dicts flattened with dots)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, name + "."))
        elif a != b:
            out.append(f"{name} ({_short(a)} -> {_short(b)})")
    return out


def has_finished_frames(root: str | os.PathLike) -> bool:
    """Whether any pass of the work dir at ``root`` holds a finished frame (which locks its settings).

    Work dirs nested one level down count too: a parallel run keeps its stills (minutes each) and the
    chunk results seams read in ``stills/`` and ``chunks/`` before any frame reaches ``pass1``.
    """
    root = Path(root)
    passes = itertools.chain(root.glob("pass*"), root.glob("*/pass*"))
    return root.is_dir() and any(True for d in passes if d.is_dir() for _ in d.glob("[0-9]*.png"))


def unfinished_manifest(root: str | os.PathLike) -> bool:
    """True when ``root`` has a manifest but no finished frame: the next run replaces its settings."""
    return (Path(root) / MANIFEST).is_file() and not has_finished_frames(root)


def folder_bytes(root: str | os.PathLike) -> int:
    """Total size of the files under ``root`` (0 if it does not exist)."""
    total = 0
    for dirpath, _, files in os.walk(os.fspath(root)):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class RunLock:
    """An exclusive OS lock on ``path`` (``fcntl.flock``), released by :meth:`release`, by garbage
    collection, or by the OS when the process ends - a crash never leaves a work dir locked."""

    _held: weakref.WeakValueDictionary[str, RunLock]

    def __init__(self, path: Path, what: str):
        self.path = path
        self._fh = None
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one run per work dir is then up to the user
            return
        try:
            fh = open(path, "a+")
        except OSError as exc:
            raise VidstyleError(f"cannot use {what}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise VidstyleError(f"{what} is in use by another vidstyle run ({holder}); wait for it to finish, "
                                "or stop it, or pass another --work-dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        self._fh = fh

    @classmethod
    def acquire(cls, path: Path, what: str) -> RunLock:
        """The lock on ``path``; an open one of this process is shared (a resumed call in one process)."""
        key = str(path.resolve())
        lock = cls._held.get(key)
        if lock is None or lock._fh is None:
            lock = cls(path, what)
            cls._held[key] = lock
        return lock

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor drops the flock
            self._fh = None

    def __del__(self):
        self.release()


RunLock._held = weakref.WeakValueDictionary()


class WorkDir:
    """One run's work directory (see the module docstring); create with :meth:`open`."""

    def __init__(self, root: Path, manifest: dict, lock: RunLock | None = None):
        self.root = root
        self.manifest = manifest
        self.lock = lock
        self.replaced = False  # True when the manifest of a run without finished frames was replaced

    @classmethod
    def open(cls, root: str | os.PathLike, identity: dict, *, restart: bool = False) -> WorkDir:
        """Open or create ``root`` for a run identified by ``identity`` (JSON-able).

        An existing work dir made for another identity raises
        :class:`VidstyleError` naming what changed, unless ``restart`` (then its
        frames are discarded; the flow cache inside is kept) or it holds no
        finished frame (then its manifest is replaced and ``replaced`` is set).
        Another process working in ``root`` raises at once (see :class:`RunLock`).
        """
        root = Path(root)
        identity = json.loads(json.dumps(identity, default=str))  # normalise tuples/paths as stored
        path = root / MANIFEST
        if root.exists() and not root.is_dir():
            raise VidstyleError(f"work dir {root} exists and is not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidstyleError(f"cannot use work dir {root}: {exc.strerror or exc}") from None
        lock = RunLock.acquire(root / LOCK, f"work dir {root}")
        replaced = False
        if path.is_file() and not restart and not has_finished_frames(root):
            restart = replaced = True  # settings lock only once a frame is finished
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise VidstyleError(f"work dir {root}: unreadable manifest ({exc}); use --restart") from None
            changed = differences(old.get("identity", {}), identity)
            if old.get("format") != FORMAT:
                changed.insert(0, f"work dir format ({old.get('format')} -> {FORMAT})")
            if changed and not restart:
                raise VidstyleError(f"work dir {root} was made with other settings: " + "; ".join(changed)
                                    + " (use --restart to discard its frames, or another --work-dir)")
            if not restart:
                return cls(root, old, lock)
        elif root.exists() and any(p.name not in _KEEP for p in root.iterdir()) and not restart:
            raise VidstyleError(f"work dir {root} is not empty and has no {MANIFEST} "
                                "(use --restart or another --work-dir)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for child in root.iterdir():
                if child.name in _KEEP:
                    continue
                shutil.rmtree(child) if child.is_dir() else child.unlink()
            manifest = {"format": FORMAT, "identity": identity, "state": {}}
            _atomic_json(path, manifest)
        except OSError as exc:
            raise VidstyleError(f"cannot use work dir {root}: {exc.strerror or exc}") from None
        work = cls(root, manifest, lock)
        work.replaced = replaced
        return work

    # -- state ----------------------------------------------------------------
    @property
    def state(self) -> dict:
        return self.manifest.setdefault("state", {})

    def update(self, **values) -> None:
        self.state.update(values)
        _atomic_json(self.root / MANIFEST, self.manifest)

    # -- frames -----------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        d = self.root / name
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidstyleError(f"cannot create {d}: {exc.strerror or exc}") from None
        return d

    def frame_path(self, pass_: int, index: int) -> Path:
        return self.root / f"pass{pass_}" / f"{index:06d}.png"

    def has_frame(self, pass_: int, index: int) -> bool:
        return self.frame_path(pass_, index).is_file()

    def save_frame(self, pass_: int, index: int, image: np.ndarray, record: dict) -> Path:
        """Store a finished frame: its JSON record, then (atomically) its PNG, which marks it finished."""
        d = self._dir(f"pass{pass_}")
        _atomic_json(d / f"{index:06d}.json", record)
        return save_image(image, d / f"{index:06d}.png")

    def load_frame(self, pass_: int, index: int) -> torch.Tensor:
        """A finished frame as ``(1, 3, H, W)`` float32 in [0, 1]."""
        return load_image(self.frame_path(pass_, index), what="finished frame")

    def load_frame_u8(self, pass_: int, index: int) -> np.ndarray:
        from PIL import Image

        with Image.open(self.frame_path(pass_, index)) as im:
            return np.asarray(im.convert("RGB")).copy()

    def record(self, pass_: int, index: int) -> dict | None:
        path = self.root / f"pass{pass_}" / f"{index:06d}.json"
        if not self.has_frame(pass_, index) or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def finished(self, pass_: int) -> list[int]:
        d = self.root / f"pass{pass_}"
        if not d.is_dir():
            return []
        return sorted(int(p.stem) for p in d.glob("[0-9]*.png"))

    # -- decoded source frames (multi-pass only) -------------------------------------
    def source_path(self, index: int) -> Path:
        return self.root / "source" / f"{index:06d}.png"

    def save_source(self, index: int, image: np.ndarray) -> None:
        if not self.source_path(index).is_file():
            save_image(image, self._dir("source") / f"{index:06d}.png")

    def load_source(self, index: int) -> torch.Tensor:
        return from_uint8(self.load_frame_u8_path(self.source_path(index)))

    @staticmethod
    def load_frame_u8_path(path: Path) -> np.ndarray:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
