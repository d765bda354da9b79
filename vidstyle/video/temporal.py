"""The temporal consistency loss of video style transfer (Ruder, Dosovitskiy and Brox 2016).

``temporal_loss(x, warped, mask) = mean over the 3*H*W entries of c * (x - w)^2``
on pixels in [0, 1]: ``x`` is the frame being optimized, ``w`` the previous
stylized frame warped into it by the backward flow and ``c`` its reliability
mask. :class:`TemporalTerm` plugs it into the engine's objective (one term per
earlier frame for long-term consistency), resized to each coarse-to-fine scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from vidstyle.errors import VidstyleError
from vidstyle.tensors import resize


def _check(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise VidstyleError(f"temporal loss: image must be (N,3,H,W), got {tuple(x.shape)}")
    if warped.shape != x.shape:
        raise VidstyleError(f"temporal loss: warped frame {tuple(warped.shape)} does not match image {tuple(x.shape)}")
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != x.shape[-2:] or mask.shape[0] != x.shape[0]:
        raise VidstyleError(f"temporal loss: mask must be (N,1,H,W) = ({x.shape[0]},1,{x.shape[2]},{x.shape[3]}), "
                            f"got {tuple(mask.shape)}")


def temporal_loss(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder et al. 2016, eq. 6: ``1/D sum c (x - w)^2`` with D = 3*H*W (per image, averaged over N).

    Args:
        x: ``(N, 3, H, W)`` image being optimized, RGB in [0, 1].
        warped: ``(N, 3, H, W)`` previous stylized frame warped onto ``x`` (same range).
        mask: ``(N, 1, H, W)`` reliability in [0, 1], broadcast over the channels.
    """
    _check(x, warped, mask)
    return (mask * (x - warped) ** 2).mean()


class TemporalLoss(nn.Module):
    """Module form of :func:`temporal_loss` with a fixed target: ``TemporalLoss(w, c)(x)``."""

    warped: torch.Tensor  # buffers (registered below), declared for type checkers
    mask: torch.Tensor

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("warped", warped.detach())
        self.register_buffer("mask", mask.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_loss(x, self.warped, self.mask)


@dataclass
class TemporalTerm:
    """An engine :class:`~vidstyle.engine.Term`: ``weight * temporal_loss(x, warped, mask)``.

    ``warped`` ``(1, 3, H, W)`` and ``mask`` ``(1, 1, H, W)`` are given at full
    frame size and resized to whatever scale the engine optimizes; the loss is
    a mean, so its size does not change with the scale.
    """

    warped: torch.Tensor
    mask: torch.Tensor
    weight: float
    name: str = "temporal"
    layers: tuple[str, ...] = ()
    _at: dict = field(default_factory=dict, repr=False)

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        hw = (int(x.shape[-2]), int(x.shape[-1]))
        if hw not in self._at:
            self._at[hw] = (resize(self.warped.to(x.device), hw).detach(),
                            resize(self.mask.to(x.device), hw).clamp(0, 1).detach())
        w, c = self._at[hw]
        return temporal_loss(x, w, c)
