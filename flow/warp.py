"""Backward warping with a flow field.

Pixel convention: pixel centres sit at integer coordinates 0..W-1 and
0..H-1 (``align_corners=True``), exactly as ``cv2.remap`` reads its maps, so
``warp(img, flow)`` equals ``cv2.remap(img, x + u, y + v, INTER_LINEAR,
BORDER_CONSTANT, 0)`` (up to OpenCV's 1/32 px fixed-point weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flow._checks import check_flow, check_images, check_same_size
from flow.errors import FlowError

PADDINGS = ("zeros", "border")


def _base_grid(h: int, w: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(h, device=device, dtype=dtype).view(1, h, 1)
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, w)
    return xs, ys


def sample_coords(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute sampling positions ``(x + u, y + v)``, each ``(N, H, W)``, in pixels."""
    n, _, h, w = flow.shape
    xs, ys = _base_grid(h, w, flow.device, flow.dtype)
    return xs + flow[:, 0], ys + flow[:, 1]


def warp(img: torch.Tensor, flow: torch.Tensor, *, padding: str = "zeros") -> tuple[torch.Tensor, torch.Tensor]:
    """Backward-warp ``img`` with ``flow``: ``out(x) = img(x + flow(x))``, bilinear.

    Args:
        img: ``(N, C, H, W)`` float tensor (any channel count; images are RGB in [0, 1]).
        flow: ``(N, 2, H, W)`` float tensor in pixels, channel 0 = x (columns),
            channel 1 = y (rows), living on the *output* grid. For temporal
            consistency ``warp(frame[t-1], flow_bw[t])`` gives an image aligned
            with frame t.
        padding: ``"zeros"`` (samples outside read 0, like ``cv2.BORDER_CONSTANT``)
            or ``"border"`` (edge pixels repeat, like ``cv2.BORDER_REPLICATE``).

    Returns:
        ``(warped, valid)``: warped is ``(N, C, H, W)`` with ``img``'s dtype;
        valid is ``(N, 1, H, W)`` bool, True where the sample fell inside the
        frame. Differentiable with respect to both ``img`` and ``flow``.
    """
    check_images(img, "img", channels=None)
    check_flow(flow, "flow")
    check_same_size(img, flow, "img", "flow")
    if padding not in PADDINGS:
        raise FlowError(f"warp padding {padding!r}: expected one of {', '.join(PADDINGS)}")
    _, _, h, w = img.shape
    flow = flow.to(img.dtype)
    sx, sy = sample_coords(flow)
    # align_corners=True maps -1 and +1 to the centres of the first and last
    # pixels, i.e. normalised = 2 * x / (W - 1) - 1: the cv2.remap convention.
    grid = torch.stack((2.0 * sx / (w - 1) - 1.0, 2.0 * sy / (h - 1) - 1.0), dim=-1)
    warped = F.grid_sample(img, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    valid = ((sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)).unsqueeze(1)
    return warped, valid


class Warp(nn.Module):
    """Module form of :func:`warp`: ``Warp()(img, flow) -> (warped, valid)``."""

    def __init__(self, padding: str = "zeros") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise FlowError(f"warp padding {padding!r}: expected one of {', '.join(PADDINGS)}")
        self.padding = padding

    def forward(self, img: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return warp(img, flow, padding=self.padding)
