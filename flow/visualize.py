"""Colour-wheel flow visualisation (Baker et al., "A Database and Evaluation
Methodology for Optical Flow", IJCV 2011), to arrays, PNG files and videos.

Hue encodes direction and saturation encodes magnitude relative to
``max_flow``: zero motion is white, a saturated colour is motion of
``max_flow`` pixels or more. Rightward motion is red, downward yellow,
leftward cyan-blue, upward blue-violet (as in the Middlebury key).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from flow.errors import FlowError

if TYPE_CHECKING:  # av is imported on first write (it is slow to load)
    from av.container import OutputContainer
    from av.video.stream import VideoStream

# Segment lengths of the Middlebury wheel: red-yellow, yellow-green, green-cyan,
# cyan-blue, blue-magenta, magenta-red (chosen there for perceptual uniformity).
_SEGMENTS = (15, 6, 4, 11, 13, 6)
UNKNOWN_FLOW = 1e9  # Middlebury marks unknown flow with values above this


def color_wheel() -> np.ndarray:
    """The 55x3 float colour wheel in 0..255 (RGB)."""
    ry, yg, gc, cb, bm, mr = _SEGMENTS
    rows = []
    rows += [(255, np.floor(255 * i / ry), 0) for i in range(ry)]
    rows += [(255 - np.floor(255 * i / yg), 255, 0) for i in range(yg)]
    rows += [(0, 255, np.floor(255 * i / gc)) for i in range(gc)]
    rows += [(0, 255 - np.floor(255 * i / cb), 255) for i in range(cb)]
    rows += [(np.floor(255 * i / bm), 0, 255) for i in range(bm)]
    rows += [(255, 0, 255 - np.floor(255 * i / mr)) for i in range(mr)]
    return np.array(rows, dtype=np.float64)


def _as_hw2(flow) -> np.ndarray:
    if isinstance(flow, torch.Tensor):
        t = flow.detach()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 2:
            raise FlowError(f"flow_to_color: expected a (1,2,H,W) or (2,H,W) tensor, got {tuple(flow.shape)}")
        return t.permute(1, 2, 0).to("cpu", torch.float64).numpy()
    arr = np.asarray(flow, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise FlowError(f"flow_to_color: expected an (H,W,2) array, got shape {arr.shape}")
    return arr


def flow_to_color(flow, *, max_flow: float | None = None) -> np.ndarray:
    """Colour-code a flow field; returns ``H x W x 3`` uint8 RGB.

    Args:
        flow: ``(H, W, 2)`` array or ``(1, 2, H, W)`` / ``(2, H, W)`` tensor, pixels, x then y.
        max_flow: magnitude shown fully saturated; default the largest magnitude
            in this field (as Middlebury's ``color_flow`` does). Give a fixed
            value to keep colours comparable across the frames of a video.
    Unknown flow (NaN, inf or above 1e9) is drawn black.
    """
    f = _as_hw2(flow)
    u, v = f[..., 0].copy(), f[..., 1].copy()
    unknown = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) > UNKNOWN_FLOW) | (np.abs(v) > UNKNOWN_FLOW)
    u[unknown] = 0.0
    v[unknown] = 0.0
    rad = np.sqrt(u**2 + v**2)
    scale = float(max_flow) if max_flow is not None else float(rad.max(initial=0.0))
    if max_flow is not None and not scale > 0:
        raise FlowError(f"max_flow {max_flow!r}: expected a positive number")
    if scale > 0:
        u, v, rad = u / scale, v / scale, rad / scale
    wheel = color_wheel()
    ncols = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(fk).astype(np.int64)
    k1 = (k0 + 1) % ncols
    frac = (fk - k0)[..., None]
    col = ((1 - frac) * wheel[k0 % ncols] + frac * wheel[k1]) / 255.0
    r = rad[..., None]
    inside = r <= 1
    # Inside the unit circle desaturate towards white; beyond it darken a little.
    col = np.where(inside, 1 - r * (1 - col), col * 0.75)
    out = np.floor(255.0 * col).astype(np.uint8)
    out[unknown] = 0
    return out


def save_flow_png(path: str | os.PathLike, flow, *, max_flow: float | None = None) -> Path:
    """Write :func:`flow_to_color` of ``flow`` as a PNG file."""
    import cv2

    path = Path(path)
    rgb = flow_to_color(flow, max_flow=max_flow)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise FlowError(f"cannot write {path}")
    return path


class FlowVideoWriter:
    """Append colour-coded flows to an H.264 (or MPEG-4) video with PyAV.

    ``with FlowVideoWriter(path, fps=10) as w: w.write(flow)``; odd frame
    sizes are padded to even with white (zero motion). The video is written to
    a temporary file beside ``path`` and renamed into place by :meth:`close`;
    :meth:`abort` (or leaving the ``with`` block by an exception) removes it.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | Fraction = 10, max_flow: float | None = None) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.max_flow = max_flow
        # The open container and its video stream, set together on the first frame.
        self._out: tuple[OutputContainer, VideoStream] | None = None
        self._tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")

    def __enter__(self) -> FlowVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self, w: int, h: int) -> tuple[OutputContainer, VideoStream]:
        import av

        try:
            container = av.open(str(self._tmp), mode="w")
        except (OSError, av.error.FFmpegError) as exc:
            raise FlowError(f"cannot write video {self.path}: {exc}") from None
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=self.fps)
        assert isinstance(stream, av.VideoStream)  # libx264 and mpeg4 are video codecs
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            stream.bit_rate = 8_000_000
        self._out = container, stream
        return container, stream

    def write(self, flow) -> None:
        """Add one frame: a flow in any form :func:`flow_to_color` accepts."""
        import av

        rgb = flow_to_color(flow, max_flow=self.max_flow)
        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)
        if self._out is None:
            container, stream = self._open(rgb.shape[1], rgb.shape[0])
        else:
            container, stream = self._out
            if (rgb.shape[1], rgb.shape[0]) != (stream.width, stream.height):
                raise FlowError(f"{self.path}: frame size changed to {rgb.shape[1]}x{rgb.shape[0]}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)

    def close(self) -> None:
        """Finish the video and move it to ``path``."""
        if self._out is None:
            return
        container, stream = self._out
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        self._out = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop an unfinished video (nothing is left at ``path`` or beside it)."""
        if self._out is not None:
            try:
                self._out[0].close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
            self._out = None
        if self._tmp.exists():
            self._tmp.unlink()
