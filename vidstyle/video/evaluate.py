"""Temporal consistency of a stylized video, measured against its source's motion.

``E_temp = mean over t >= 1 of mean(c_t * (O_t - warp(O_{t-1}, flow_bw[t]))^2)``
(Ruder et al. 2016, Sec. 7.1's short-term error, as a mean over the 3*H*W
entries on pixels in [0, 1]): flows and reliability masks ``c_t`` come from the
*source* frames, so a stylization that moves with the content scores low and
one that flickers scores high. The flash score is the worst frame's error
over the median frame's error: a single frame that jumps stands out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flow import FlowEngine, warp
from vidstyle.errors import VidstyleError
from vidstyle.imageio import from_uint8
from vidstyle.video.temporal import resize_to, temporal_loss


@dataclass
class TemporalReport:
    """Per-frame temporal errors (frame t >= 1 against t-1) and their summary."""

    errors: list[float] = field(default_factory=list)  # errors[i] is frame i + 1's
    reliable: list[float] = field(default_factory=list)  # mean mask of each of those frames

    @property
    def e_temp(self) -> float:
        return float(np.mean(self.errors)) if self.errors else float("nan")

    @property
    def flash(self) -> float:
        """Worst frame's error / median frame's error (1 = perfectly even; nan for < 2 pairs)."""
        if len(self.errors) < 2:
            return float("nan")
        med = statistics.median(self.errors)
        return max(self.errors) / med if med > 0 else float("inf")

    @property
    def worst_frame(self) -> int | None:
        return int(np.argmax(self.errors)) + 1 if self.errors else None

    def to_dict(self) -> dict:
        return {"e_temp": self.e_temp, "flash": self.flash, "worst_frame": self.worst_frame,
                "frames": len(self.errors) + 1 if self.errors else 0, "per_frame": self.errors,
                "reliable": self.reliable}

    def summary(self) -> str:
        return (f"E_temp {self.e_temp:.3e} over {len(self.errors)} frame pairs; flash score {self.flash:.2f} "
                f"(worst frame {self.worst_frame})")


def _as_tensor(frame) -> torch.Tensor:
    if isinstance(frame, np.ndarray):
        return from_uint8(frame)
    if isinstance(frame, torch.Tensor) and frame.dim() == 4:
        return frame.detach().float().cpu()
    raise VidstyleError(f"frames must be HxWx3 uint8 arrays or (1,3,H,W) tensors, got {type(frame).__name__}")


def frame_error(out: torch.Tensor, out_prev: torch.Tensor, flow_bw: torch.Tensor, mask: torch.Tensor) -> float:
    """``mean(c * (O_t - warp(O_{t-1}, flow_bw))^2)`` for one pair (all at the same size)."""
    warped, _ = warp(out_prev, flow_bw.to(out_prev.dtype))
    return float(temporal_loss(out, warped, mask.to(out.dtype)))


def temporal_errors(stylized: Iterable, source: Iterable, engine: FlowEngine) -> TemporalReport:
    """E_temp of ``stylized`` frames with flows/masks of the ``source`` frames (``engine`` and its cache).

    Both iterables yield frames in order (``HxWx3`` uint8 or ``(1, 3, H, W)`` in
    [0, 1]); source frames are resized to the stylized size. The shorter one ends the measurement.
    """
    report = TemporalReport()
    prev_out = prev_src = None
    with torch.no_grad():
        for out, src in zip(stylized, source):
            out = _as_tensor(out)
            src = resize_to(_as_tensor(src), tuple(out.shape[-2:]))
            if prev_out is not None:
                pf = engine.pair(prev_src, src)
                report.errors.append(frame_error(out, prev_out, pf.flow_bw.cpu(), pf.mask.cpu()))
                report.reliable.append(float(pf.mask.mean()))
            prev_out, prev_src = out, src
    return report


def evaluate_video(stylized_path: str | Path, source_path: str | Path, engine: FlowEngine, *,
                   start: float = 0.0, max_frames: int | None = None) -> TemporalReport:
    """E_temp of a stylized video file against its source video (decoded at the stylized size)."""
    from vidstyle.video.decode import iter_frames, probe

    info = probe(stylized_path)
    src_info = probe(source_path)
    size = max(info.width, info.height)
    stylized = (f.image for f in iter_frames(stylized_path, max_frames=max_frames))
    source = (f.image for f in iter_frames(source_path, size=size, start=start, max_frames=max_frames))
    report = temporal_errors(stylized, source, engine)
    if not report.errors:
        raise VidstyleError(f"{stylized_path} and {source_path}: need at least 2 frames of each to measure E_temp")
    if src_info.frames and info.frames and max_frames is None and info.frames > src_info.frames:
        raise VidstyleError(f"{stylized_path} has {info.frames} frames but the source only {src_info.frames}")
    return report
