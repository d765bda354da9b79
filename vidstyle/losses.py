"""Losses of the optimization: a pure function and a thin module for each.

Feature tensors are ``(N, C, H, W)``, in the network's precision (bf16 or fp16
under autocast): Grams and losses accumulate in float32 and come back in
float32 (on the CPU a bf16 Gram is rounded to bf16 once on the way: ``_SelfProduct``).
Images ``(N, 3, H, W)`` RGB in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidstyle import defaults

GRAM_NORMS = defaults.GRAM_NORMS
_NARROW = (torch.bfloat16, torch.float16)


def widen(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is the network's bf16/fp16 output, else as it is (float64 stays)."""
    return t.float() if t.dtype in _NARROW else t


class _SelfProduct(torch.autograd.Function):
    """``A A^T`` of one ``(C, P)`` matrix, float32, with a backward of one product.

    Autograd would differentiate ``A @ A.t()`` as two products (one per factor)
    and add them, and the two arrive in different memory layouts; the gradient
    is ``(G' + G'^T) A`` instead: symmetrise the small ``(C, C)`` gradient first.
    A full-depth evaluation at 448 px then costs 0.88x what it did
    (benchmarks/README.md, "The Gram's own backward").

    ``A`` may be the network's bf16 or fp16 features; the product accumulates
    in float32 either way. For bf16 features it is one bf16 GEMM, which sums in
    float32 and rounds its small ``(C, C)`` result to bf16 once (exactly the
    correctly rounded Gram, like the convolutions' outputs), widened for the
    float32 loss: half the float32 product's time, 0.96x an evaluation at
    448 px, and the video's losses within their own run-to-run scatter
    (benchmarks/README.md, "The Gram's forward in bf16"). Only on the CPU, where
    that was checked: cuBLAS may sum a split bf16 product in bf16
    (``torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction``), and
    a Gram's long, thin product is the one it splits, so a GPU keeps the float32
    product (its cost there is small beside the network's). The backward product
    of bf16 features runs in bf16 too: its result enters the network's bf16
    backward, which rounds it to bf16 there anyway, and bf16 has float32's
    range (0.92-0.93x an evaluation: "The Gram's backward in bf16, and the last
    iteration without a gradient"). fp16's range is not float32's (a raw Gram
    reaches 1e9 at 448 px, fp16's largest value is 65504, and a loss-scaled
    gradient could overflow it), so fp16 features get float32 products both ways.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return _self_product(a)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        dtype = a.dtype
        sym = grad + grad.t()
        if dtype == torch.bfloat16:
            sym = sym.to(dtype)
        else:
            a = widen(a)
        # ``a`` may be the transposed view of channels-last features (rows = positions): then the gradient
        # goes back in that layout, so the network's backward gets channels-last gradients without a copy.
        out = sym @ a if a.is_contiguous() else (a.t() @ sym).t()
        return out.to(dtype)


def _rounded_once(features: torch.Tensor) -> bool:
    """Whether the Gram of ``features`` is a bf16 product (float32 sums, rounded once): bf16 on the CPU."""
    return features.dtype == torch.bfloat16 and features.device.type == "cpu"


def _self_product(flat: torch.Tensor) -> torch.Tensor:
    """``flat @ flat^T`` of ``(C, P)`` or ``(N, C, P)`` features, float32: the Gram's forward product."""
    if _rounded_once(flat):
        return (flat @ flat.transpose(-1, -2)).float()
    wide = widen(flat)
    return wide @ wide.transpose(-1, -2)


def _channel_rows(features: torch.Tensor) -> torch.Tensor:
    """One image's features as a ``(C, H*W)`` matrix, a view in either memory layout."""
    _, c, h, w = features.shape
    if features.is_contiguous() or not features.is_contiguous(memory_format=torch.channels_last):
        return features.reshape(c, h * w)
    return features.permute(0, 2, 3, 1).reshape(h * w, c).t()  # the network's channels-last output


def gram_matrix(features: torch.Tensor, norm: str = "chw") -> torch.Tensor:
    """G = F F^T per image, ``(N, C, C)``, float32 whatever the features' precision
    (bf16 features on the CPU: the float32 sums rounded to bf16 once, see ``_SelfProduct``).

    ``chw`` divides by C*H*W (neural-style's choice, DESIGN.md), ``hw`` by H*W
    (Gatys et al. 2016's per-position average), ``none`` not at all.
    """
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects (N, C, H, W) features, got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    if n == 1:  # one image (every run here): one product forward, one backward
        gram = _SelfProduct.apply(_channel_rows(features)).unsqueeze(0)
    else:
        gram = _self_product(features.reshape(n, c, h * w))
    return normalise_gram(gram, c, h * w, norm)


def normalise_gram(gram: torch.Tensor, channels: int, area: float | torch.Tensor, norm: str) -> torch.Tensor:
    """Divide a raw Gram ``F F^T`` by ``channels * area`` (``chw``), ``area`` (``hw``) or nothing (``none``).

    ``area`` is H*W for a plain Gram and the guide's energy sum(T^2) for a guided one
    (:func:`vidstyle.guided.guided_gram`), so both normalise by the same rule.
    """
    if norm == "chw":
        return gram / (channels * area)
    if norm == "hw":
        return gram / area
    if norm == "none":
        return gram
    raise ValueError(f"gram norm must be one of {GRAM_NORMS}, got {norm!r}")


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of feature maps (Gatys et al. 2016, eq. 1, as a mean), in float32."""
    return F.mse_loss(widen(features), target.expand_as(features))


def style_loss(features: torch.Tensor, target_gram: torch.Tensor, norm: str = "chw") -> torch.Tensor:
    """Mean squared difference between the Gram of ``features`` and ``target_gram``."""
    gram = gram_matrix(features, norm)
    return F.mse_loss(gram, target_gram.expand_as(gram))


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Squared total variation: mean of squared horizontal plus vertical neighbour differences."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def blend_grams(grams: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted sum of several style images' Grams (weights normalised to sum to 1)."""
    if len(grams) != len(weights):
        raise ValueError(f"{len(grams)} Gram matrices but {len(weights)} blend weights")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"style blend weights must sum to > 0, got {weights}")
    # A loop, not sum(): the same additions in the same order, typed as a tensor (no list is empty here:
    # empty weights sum to 0 and are refused above).
    blended = grams[0] * (weights[0] / total)
    for g, w in zip(grams[1:], weights[1:]):
        blended = blended + g * (w / total)
    return blended


class ContentLoss(nn.Module):
    target: torch.Tensor  # a buffer (registered below), declared for type checkers

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return content_loss(features, self.target)


class StyleLoss(nn.Module):
    target: torch.Tensor  # a buffer (registered below), declared for type checkers

    def __init__(self, target_gram: torch.Tensor, norm: str = "chw"):
        super().__init__()
        self.norm = norm
        self.register_buffer("target", target_gram.detach())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return style_loss(features, self.target, self.norm)


class TVLoss(nn.Module):
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return tv_loss(img)
