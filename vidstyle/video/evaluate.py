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
from vidstyle.tensors import resize
from vidstyle.video.decode import iter_frames, probe
from vidstyle.video.temporal import temporal_loss


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
            src = resize(_as_tensor(src), (int(out.shape[-2]), int(out.shape[-1])))
            if prev_out is not None:
                pf = engine.pair(prev_src, src)
                report.errors.append(frame_error(out, prev_out, pf.flow_bw.cpu(), pf.mask.cpu()))
                report.reliable.append(float(pf.mask.mean()))
            prev_out, prev_src = out, src
    return report


def check_fits_source(info, src_info, stylized_path, source_path, *, start: float = 0.0) -> None:
    """Refuse a source the stylized video cannot have been made from: another aspect ratio (beyond the
    rounding of both sides to even pixels) or fewer frames (from ``start``) than the stylized video has."""
    ar, src_ar = info.width / info.height, src_info.width / src_info.height
    # Rounding each side to even moves the ratio by up to 1 px on the short side of the smaller video.
    tolerance = 0.01 + 2.0 / min(info.width, info.height, src_info.width, src_info.height)
    if abs(ar - src_ar) / src_ar > tolerance:
        raise VidstyleError(f"{stylized_path} is {info.width}x{info.height} but the source {source_path} is "
                            f"{src_info.width}x{src_info.height}: another aspect ratio, so not made from it "
                            "(pass the video it was stylized from)")
    available = src_info.frames
    if available and start and src_info.fps:
        available = max(0, available - int(round(start * float(src_info.fps))))
    if info.frames and available and info.frames > available:
        raise VidstyleError(f"{stylized_path} has {info.frames} frames but the source {source_path} has only "
                            f"{available}" + (f" from --start {start:g}s" if start else "")
                            + ": not made from it (or check --start)")


def evaluate_video(stylized_path: str | Path, source_path: str | Path, engine: FlowEngine, *,
                   start: float = 0.0, max_frames: int | None = None) -> TemporalReport:
    """E_temp of a stylized video file against its source video (decoded at the stylized size)."""
    info = probe(stylized_path)
    src_info = probe(source_path)
    check_fits_source(info, src_info, stylized_path, source_path, start=start)
    size = max(info.width, info.height)
    counts = {"stylized": 0, "source": 0}

    def counted(frames, key):
        for f in frames:
            counts[key] += 1
            yield f.image

    stylized = counted(iter_frames(stylized_path, max_frames=max_frames), "stylized")
    source = counted(iter_frames(source_path, size=size, start=start, max_frames=max_frames), "source")
    report = temporal_errors(stylized, source, engine)
    if counts["stylized"] > counts["source"]:  # the source ran out first (counts the headers did not tell)
        raise VidstyleError(f"{stylized_path} has more frames than the source {source_path} has "
                            f"({counts['source']}" + (f" from --start {start:g}s" if start else "")
                            + "): not made from it (or check --start)")
    if not report.errors:
        raise VidstyleError(f"{stylized_path} and {source_path}: need at least 2 frames of each to measure E_temp")
    return report
