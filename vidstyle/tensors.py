"""Small tensor helpers shared by the engine, the masks, the colours and the video code.

Images are ``(N, 3, H, W)`` float32 RGB in [0, 1]; masks ``(N, 1, H, W)`` in [0, 1] (DESIGN.md).
One resize and one input check live here so that every module resizes and refuses the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidstyle.errors import VidstyleError


def resize(img: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``hw`` = (H, W), antialiased when either side shrinks.

    Identity (the same tensor) at the same size, so callers may resize unconditionally.
    """
    hw = (int(hw[0]), int(hw[1]))
    if tuple(img.shape[-2:]) == hw:
        return img
    shrink = hw[0] < img.shape[-2] or hw[1] < img.shape[-1]
    return F.interpolate(img, size=hw, mode="bilinear", align_corners=False, antialias=shrink)


# Values a hair outside [0, 1] come from float rounding (a luminance, a colour transform), not from a wrong range.
RANGE_SLACK = 1e-4


def check_image(img: object, what: str = "image", *, channels: int = 3, batch: int | None = None) -> None:
    """Refuse anything but a floating ``(N, channels, H, W)`` tensor with values in [0, 1].

    Public entry points call this so that a wrong input fails at once with the
    offending shape, dtype or value in the message, not deep inside the network.
    """
    if not isinstance(img, torch.Tensor):
        raise VidstyleError(f"{what} must be a torch.Tensor, got {type(img).__name__}")
    if img.dim() != 4 or img.shape[1] != channels or (batch is not None and img.shape[0] != batch):
        n = "N" if batch is None else str(batch)
        raise VidstyleError(f"{what} must be ({n}, {channels}, H, W), got shape {tuple(img.shape)}")
    if not img.is_floating_point():
        raise VidstyleError(f"{what} must be a float tensor in [0, 1], got dtype {img.dtype}")
    if img.numel():
        lo, hi = float(img.min()), float(img.max())
        if not (-RANGE_SLACK <= lo and hi <= 1.0 + RANGE_SLACK):  # also catches NaN
            raise VidstyleError(f"{what} values must be in [0, 1], got min {lo:.4g}, max {hi:.4g}")
