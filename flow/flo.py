"""Middlebury ``.flo`` files (Baker et al. 2011), interchangeable with OpenCV's.

Layout, all little-endian: float32 tag 202021.25 (bytes ``PIEH``), int32
width, int32 height, then ``height * width`` interleaved (u, v) float32 pairs,
row by row. This is what ``cv2.readOpticalFlow`` / ``cv2.writeOpticalFlow`` use.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from flow.errors import FlowError

TAG_FLOAT = 202021.25
TAG_BYTES = np.array([TAG_FLOAT], "<f4").tobytes()  # b"PIEH"
HEADER_BYTES = 12
MAX_SIDE = 1 << 16


def read_flo(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Read a ``.flo`` file as an ``(H, W, 2)`` float32 array (u = x, v = y), like ``cv2.readOpticalFlow``.

    With ``mmap=True`` the array is a copy-on-write memory map of the file.
    Use :func:`flo_to_tensor` for the package's ``(1, 2, H, W)`` convention.
    Raises :class:`FlowError` for a missing file, a wrong tag or a truncated file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(HEADER_BYTES)
    except OSError as exc:
        raise FlowError(f"cannot read flow file {path}: {exc.strerror or exc}") from None
    if len(header) < HEADER_BYTES:
        raise FlowError(f"{path} is not a .flo file: only {len(header)} bytes")
    if header[:4] != TAG_BYTES:
        tag = np.frombuffer(header[:4], "<f4")[0]
        raise FlowError(f"{path} is not a .flo file: tag {tag!r} is not {TAG_FLOAT}")
    w, h = (int(v) for v in np.frombuffer(header[4:12], "<i4"))
    if not (0 < w < MAX_SIDE and 0 < h < MAX_SIDE):
        raise FlowError(f"{path}: implausible flow size {w}x{h}")
    need = HEADER_BYTES + w * h * 8
    if size < need:
        raise FlowError(f"{path} is truncated: {size} bytes, a {w}x{h} flow needs {need}")
    if mmap:
        return np.memmap(path, dtype="<f4", mode="c", offset=HEADER_BYTES, shape=(h, w, 2))
    data = np.fromfile(path, dtype="<f4", count=w * h * 2, offset=HEADER_BYTES)
    return data.reshape(h, w, 2).astype(np.float32, copy=False)


def _as_hw2(flow) -> np.ndarray:
    if isinstance(flow, torch.Tensor):
        t = flow.detach()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise FlowError(f"write_flo: expected one flow (1,2,H,W), got {tuple(t.shape)}")
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 2:
            raise FlowError(f"write_flo: expected a (1,2,H,W) or (2,H,W) tensor, got {tuple(flow.shape)}")
        return t.permute(1, 2, 0).to("cpu", torch.float32).numpy()
    arr = np.asarray(flow)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise FlowError(f"write_flo: expected an (H,W,2) array, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def write_flo(path: str | os.PathLike, flow) -> Path:
    """Write a flow as ``.flo``: ``(H, W, 2)`` array or ``(1, 2, H, W)`` / ``(2, H, W)`` tensor.

    The file is written to a temporary name and renamed, so it is never half-written.
    """
    path = Path(path)
    arr = np.ascontiguousarray(_as_hw2(flow), dtype="<f4")
    h, w = arr.shape[:2]
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent if str(path.parent) else ".")
        with os.fdopen(fd, "wb") as f:
            f.write(TAG_BYTES)
            f.write(np.array([w, h], "<i4").tobytes())
            f.write(arr.tobytes())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a .flo export is an ordinary user file
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise FlowError(f"cannot write flow file {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def flo_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """``(H, W, 2)`` array -> ``(1, 2, H, W)`` float32 tensor (a copy)."""
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()
