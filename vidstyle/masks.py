"""Reading masks: mask images and mask videos, fitted to the content's size.

A mask is ``(N, 1, H, W)`` float in [0, 1] with 1 = styled: the mean of an
image's RGB channels. A still mask serves every video frame; a mask video gives
one mask per frame, decoded by :mod:`vidstyle.video.decode` (the one video
reader). Library code never prints: warnings come back as lists of strings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from vidstyle import defaults
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.imageio import from_uint8, load_image
from vidstyle.tensors import resize
from vidstyle.video.decode import iter_frames


def load_mask(path: str | Path, *, what: str = "mask") -> torch.Tensor:
    """Read an image file as a mask ``(1, 1, H, W)`` in [0, 1]: the mean of its RGB channels.

    Any Pillow-readable file works (transparent pixels count as white, as
    :func:`vidstyle.imageio.load_image` composites on white).
    """
    return image_to_mask(load_image(path, what=what))


def image_to_mask(img: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB (or ``(N, 1, H, W)``) in [0, 1] -> ``(N, 1, H, W)`` mask, channel mean."""
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise ValueError(f"a mask image must be (N, 1|3, H, W), got shape {tuple(img.shape)}")
    return img.float().mean(dim=1, keepdim=True).clamp(0, 1)


def resize_mask(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A ``(N, 1, H, W)`` mask at ``hw``, kept in [0, 1] (:func:`vidstyle.tensors.resize`)."""
    out = resize(mask, hw)
    return out if out is mask else out.clamp(0, 1)


def fit_mask(mask: torch.Tensor, hw: tuple[int, int], *, what: str = "mask",
             tolerance: float = defaults.MASK_ASPECT_TOLERANCE) -> tuple[torch.Tensor, list[str]]:
    """Bring ``mask`` to the content's size ``hw`` = (H, W).

    Same size: unchanged. Same aspect ratio (within ``tolerance``): resized,
    with a note saying so. Otherwise refused with a :class:`VidstyleError`
    naming both sizes (a stretched mask would put the regions in the wrong place).
    """
    mh, mw = mask.shape[-2:]
    h, w = hw
    if (mh, mw) == (h, w):
        return mask, []
    ratio_m, ratio_c = mw / mh, w / h
    # Small frames (a video at --size 96, dimensions rounded to even) shift the aspect ratio by
    # more than the tolerance; a mask that fits within one pixel of rounding per side is accepted.
    rounding = min(abs(mh * w / mw - h), abs(mw * h / mh - w)) <= 2
    if abs(ratio_m / ratio_c - 1) > tolerance and not rounding:
        raise VidstyleError(f"{what} is {mw}x{mh} but the content is {w}x{h}: the aspect ratios differ "
                            f"({ratio_m:.3f} vs {ratio_c:.3f}); refusing to stretch it, "
                            "make a mask of the content's size")
    return resize_mask(mask, hw), [f"{what} is {mw}x{mh}, the content {w}x{h}: resized the mask to fit"]


def mask_warnings(mask: torch.Tensor, *, what: str = "mask") -> list[str]:
    """Notes for degenerate masks: all black (nothing styled) or all white (no spatial control)."""
    if float(mask.max()) < 0.5 / 255:
        return [f"{what} is all black: nothing will be styled"]
    if float(mask.min()) > 1 - 0.5 / 255:
        return [f"{what} is all white: the whole image is styled, as without a mask"]
    return []


def is_still_image(path: str | Path) -> bool:
    """True when ``path``'s extension is an image format (a still mask), else it is read as a video."""
    return Path(path).suffix.lower() in Image.registered_extensions()


def iter_masks(path: str | Path, *, hw: tuple[int, int] | None = None, frames: int | None = None,
               start: float = 0.0, duration: float | None = None) -> Iterator[torch.Tensor]:
    """Per-frame masks for a video, from a still image (the same mask for every frame) or
    a mask video (frame i's mask from its frame i), each ``(1, 1, H, W)`` in [0, 1].

    ``hw``: fit every mask to the content frame size (see :func:`fit_mask`).
    ``frames``: yield exactly that many masks; a mask video with fewer frames
    raises :class:`VidstyleError`. Without ``frames`` a still mask repeats forever
    (zip it with the content frames) and a mask video ends with its last frame.
    ``start``/``duration`` (seconds) select the mask video's part that matches
    the content's (see :func:`vidstyle.video.decode.iter_frames`).
    """
    path = Path(path)
    if not path.exists():  # checked now, not at the first frame
        raise VidstyleError(f"mask {path}: no such file")
    if is_still_image(path):
        mask = load_mask(path)
        if hw is not None:
            mask, _ = fit_mask(mask, hw, what=f"mask {path}")
        return itertools.repeat(mask) if frames is None else itertools.repeat(mask, frames)
    return _mask_video(path, hw=hw, frames=frames, start=start, duration=duration)


def _mask_video(path: Path, *, hw: tuple[int, int] | None, frames: int | None, start: float,
                duration: float | None) -> Iterator[torch.Tensor]:
    count = 0
    for frame in iter_frames(path, max_frames=frames, start=start, duration=duration):
        mask = image_to_mask(from_uint8(frame.image))
        if hw is not None:
            mask, _ = fit_mask(mask, hw, what=f"mask video {path}")
        yield mask
        count += 1
    if frames is not None and count < frames:
        raise VidstyleError(f"mask video {path} has {count} frames but the content has {frames}")


def parse_region(spec: str) -> tuple[Path, Path | None]:
    """``"sky.jpg:sky_mask.png"`` -> (style, mask); ``"sky.jpg"`` -> (style, None).

    Splits at the last ``:`` unless the whole text names an existing file.
    """
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    style, mask = spec.rsplit(":", 1)
    if not style or not mask:
        raise SettingsError("style", f"{spec!r}: expected STYLE or STYLE:MASK")
    return Path(style), Path(mask)


def coverage(mask: torch.Tensor) -> float:
    """Fraction of the image a mask covers (its mean), for reports."""
    return float(mask.mean()) if mask.numel() else math.nan
