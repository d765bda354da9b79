"""Reliability (occlusion) masks from a forward-backward consistency check.

Follows Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos"
(GCPR 2016) and their ``consistencyChecker``: a pixel of frame t is reliable
when its backward flow and the forward flow of frame t-1 undo each other and
it does not sit on a motion boundary. Masks are ``(N, 1, H, W)`` float in
[0, 1], 1 = reliable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from flow._checks import check_flow, check_same_size
from flow.errors import FlowError
from flow.warp import warp

BLUR_SIGMA = 0.8
# Thresholds of Ruder et al. 2016, Sec. 4 (disocclusion) and the reference checker.
DISOCC_REL, DISOCC_ABS = 0.01, 0.5
EDGE_REL, EDGE_ABS = 0.01, 0.002
# Bump when the algorithm changes: it is part of the flow-cache key of masks.
MASK_VERSION = 1


@dataclass(frozen=True)
class ConsistencyParts:
    """Why pixels were rejected, each ``(N, 1, H, W)`` bool (before the blur).

    ``outside``: x + w_b(x) left the frame; ``disoccluded``: forward-backward
    check failed; ``motion_boundary``: flow gradient too large. The three are
    disjoint (tested in that order); ``reliable`` is none of them.
    """

    outside: torch.Tensor
    disoccluded: torch.Tensor
    motion_boundary: torch.Tensor

    @property
    def reliable(self) -> torch.Tensor:
        return ~(self.outside | self.disoccluded | self.motion_boundary)


def _central_gradients(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """d/dx and d/dy of each flow channel by central differences ``(f(x+1) - f(x-1)) / 2``.

    The reference checker uses the 3-tap derivative [-1/2, 0, 1/2]; image
    borders repeat the edge value (so the derivative there is one-sided, halved).
    """
    padded = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    dx = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) * 0.5
    dy = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) * 0.5
    return dx, dy


def consistency_parts(flow_bw: torch.Tensor, flow_fw_prev: torch.Tensor) -> ConsistencyParts:
    """The three rejection tests of :func:`reliability_mask`, unblurred (see there for shapes)."""
    check_flow(flow_bw, "flow_bw")
    check_flow(flow_fw_prev, "flow_fw_prev")
    check_same_size(flow_bw, flow_fw_prev, "flow_bw", "flow_fw_prev")
    flow_fw_prev = flow_fw_prev.to(flow_bw.dtype)
    # w_f' = forward flow of frame t-1 sampled bilinearly at x' = x + w_b(x).
    fw_at, inside = warp(flow_fw_prev, flow_bw)
    outside = ~inside
    sum_sq = ((flow_bw + fw_at) ** 2).sum(1, keepdim=True)
    bw_sq = (flow_bw**2).sum(1, keepdim=True)
    fw_sq = (fw_at**2).sum(1, keepdim=True)
    disocc = (sum_sq > DISOCC_REL * (bw_sq + fw_sq) + DISOCC_ABS) & inside
    dx, dy = _central_gradients(flow_bw)
    grad_sq = (dx**2 + dy**2).sum(1, keepdim=True)  # |grad u_b|^2 + |grad v_b|^2
    edge = (grad_sq > EDGE_REL * bw_sq + EDGE_ABS) & inside & ~disocc
    return ConsistencyParts(outside=outside, disoccluded=disocc, motion_boundary=edge)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)``, kernel radius ceil(3 sigma), edges repeated."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    kx = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), ky, groups=c)


def reliability_mask(flow_bw: torch.Tensor, flow_fw_prev: torch.Tensor, *,
                     blur_sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Reliability of frame t's pixels with respect to frame t-1 (Ruder et al. 2016).

    Args:
        flow_bw: ``(N, 2, H, W)`` backward flow of frame t (lives on t, points into t-1), pixels, x then y.
        flow_fw_prev: ``(N, 2, H, W)`` forward flow of frame t-1 (lives on t-1, points into t).
        blur_sigma: Gaussian blur after the test; 0 returns the hard {0, 1} decision.

    For pixel x let x' = x + w_b(x) and w_f' = flow_fw_prev sampled bilinearly at x'.
    c = 0 if x' is outside the frame; else c = 0 (disocclusion) if
    ``|w_b + w_f'|^2 > 0.01 (|w_b|^2 + |w_f'|^2) + 0.5``; else c = 0 (motion
    boundary) if ``|grad u_b|^2 + |grad v_b|^2 > 0.01 |w_b|^2 + 0.002``; else
    c = 1. Disocclusions are set to -1 before the blur, as the reference
    checker does, so the blur spreads them outward; the result is clipped to [0, 1].

    Returns:
        ``(N, 1, H, W)`` float mask in [0, 1] (``flow_bw``'s dtype), 1 = reliable.
    """
    if not (isinstance(blur_sigma, (int, float)) and blur_sigma >= 0):
        raise FlowError(f"blur_sigma {blur_sigma!r}: expected a number >= 0")
    parts = consistency_parts(flow_bw, flow_fw_prev)
    c = parts.reliable.to(flow_bw.dtype)
    c = c - parts.disoccluded.to(flow_bw.dtype)  # -1 on disocclusions
    return gaussian_blur(c, float(blur_sigma)).clamp_(0.0, 1.0)


def combine_long_term_masks(masks_closest_first: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Long-term consistency weights, "closest first" (Ruder et al. 2016, Sec. 4.2).

    Args:
        masks_closest_first: reliability masks c_j of frame t with respect to
            frames t-j, ordered by increasing distance j; each ``(N, 1, H, W)`` in [0, 1].

    Returns:
        c'_j = max(0, c_j - sum of c'_k over closer k), same order and shapes:
        a pixel takes its temporal constraint from the closest frame where it is
        reliable, and from farther frames only what closer ones left over.
    """
    masks = list(masks_closest_first)
    if not masks:
        return []
    for i, m in enumerate(masks):
        if not isinstance(m, torch.Tensor) or m.dim() != 4 or m.shape[1] != 1:
            shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
            raise FlowError(f"masks_closest_first[{i}]: expected shape (N,1,H,W), got {shape}")
        if m.shape != masks[0].shape:
            raise FlowError(f"masks_closest_first[{i}] has shape {tuple(m.shape)}, [0] has {tuple(masks[0].shape)}")
    out: list[torch.Tensor] = []
    taken = torch.zeros_like(masks[0])
    for m in masks:
        c = (m - taken).clamp(min=0.0)
        out.append(c)
        taken = taken + c
    return out
