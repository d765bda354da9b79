"""The pieces an objective is made of: terms, their targets, and image parametrisations.

Every mode optimizes an image against a list of weighted :class:`Term` s: style
transfer (content + style + TV), content reconstruction (content), texture
synthesis (style), spatial control (content + guided style + TV, built by
:mod:`vidstyle.controls`), video frames (plus temporal terms, built by
:mod:`vidstyle.video.pipeline`). Callers build their own lists; the engine
(:mod:`vidstyle.engine`) only runs them, scale after scale, over a
:class:`Parametrisation` of the pixels (plain, or blended with the content by a mask).

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1] (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from vidstyle import defaults
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.losses import ContentLoss, StyleLoss, blend_grams, gram_matrix, tv_loss
from vidstyle.precision import autocast
from vidstyle.tensors import resize
from vidstyle.vgg import VGGFeatures, layer_index, min_size, resize_long_side

# ----------------------------------------------------------------------------- terms


class Term(Protocol):
    """One weighted part of the objective. ``layers`` are the VGG layers it reads.

    ``feats`` come in the network's precision (bf16 under bf16 autocast); a term
    returns a float32 loss, widening what it reads first (:mod:`vidstyle.losses`).
    """

    name: str
    weight: float
    layers: tuple[str, ...]

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor: ...


# Per scale (H, W) of a coarse-to-fine run: the terms of that scale (their targets are scale-sized).
TermsFactory = Callable[[tuple[int, int]], list[Term]]


@dataclass
class ContentTerm:
    targets: dict[str, torch.Tensor]  # layer -> target features
    weight: float
    name: str = "content"

    def __post_init__(self) -> None:
        self.layers = tuple(self.targets)
        self._losses = {k: ContentLoss(v) for k, v in self.targets.items()}

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(loss(feats[k]) for k, loss in self._losses.items()) / len(self._losses)


@dataclass
class StyleTerm:
    grams: dict[str, torch.Tensor]  # layer -> target Gram (blended over style images)
    layer_weights: dict[str, float]  # sum to 1
    weight: float
    norm: str = defaults.GRAM_NORM
    name: str = "style"

    def __post_init__(self) -> None:
        self.layers = tuple(self.grams)
        self._losses = {k: StyleLoss(v, self.norm) for k, v in self.grams.items()}

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.layer_weights[k] * loss(feats[k]) for k, loss in self._losses.items())


@dataclass
class TVTerm:
    weight: float
    name: str = "tv"
    layers: tuple[str, ...] = ()

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return tv_loss(x)


# --------------------------------------------------------------------------- targets


def check_size(hw: tuple[int, int], layers: Sequence[str], *, aspect_of: tuple[int, int] | None = None) -> None:
    """Raise if ``hw`` is too small for ``layers``; the message gives the minimum ``--size``
    for the aspect ratio of ``aspect_of`` (the source image), else of ``hw``."""
    need = min_size(layers)
    if min(hw) < need:
        deepest = max(layers, key=layer_index)
        ref = aspect_of or hw
        long_needed = -(-need * max(ref) // min(ref))  # ceil
        raise VidstyleError(f"image size {hw[1]}x{hw[0]} is too small for layer {deepest}: "
                            f"its short side must be >= {need} px (--size >= {long_needed} for this aspect ratio)")


def style_targets(net: VGGFeatures, styles: Sequence[torch.Tensor], layers: Sequence[str], *, long_side: int,
                  blend: Sequence[float] | None, norm: str, device=None) -> dict[str, torch.Tensor]:
    """Blended Gram targets of the style images, each resized to ``long_side``."""
    weights = list(blend) if blend is not None else [1.0] * len(styles)
    if len(weights) != len(styles):
        raise SettingsError("style_blend", f"has {len(weights)} weights for {len(styles)} style images")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise SettingsError("style_blend", f"weights must be >= 0 and not all 0, got {weights}")
    per_layer: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    with torch.no_grad():
        for style in styles:
            s = resize_long_side(style.to(device), long_side)
            check_size((int(s.shape[-2]), int(s.shape[-1])), layers)
            feats = net(s, layers)
            for k in layers:
                per_layer[k].append(gram_matrix(feats[k], norm))
    return {k: blend_grams(v, weights) for k, v in per_layer.items()}


def content_targets(net: VGGFeatures, content: torch.Tensor, layers: Sequence[str],
                    precision: str = "fp32") -> dict[str, torch.Tensor]:
    """The content's features (float32), computed in the network ``precision`` the run's image sees: the
    same arithmetic on both sides, so the content loss of the content itself is 0 (and a video frame's
    target costs a half-precision forward pass, not a float32 one)."""
    with torch.no_grad(), autocast(precision, content.device):
        feats = net(content, layers)
    return {k: feats[k].detach().float() for k in layers}


def layer_weights(layers: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    w = list(weights) if weights is not None else [1.0] * len(layers)
    if any(v < 0 for v in w) or sum(w) <= 0:
        raise SettingsError("style_layer_weights", f"must be >= 0 and not all 0, got {w}")
    total = sum(w)
    return {k: v / total for k, v in zip(layers, w)}


class TargetCache:
    """The one memo of Gram targets: runs that share a style (video frames, sweep cells, regions
    with the same image, texture layer sets) compute each target once.

    Call it like :func:`style_targets`. An entry is keyed by the network, the style tensors
    themselves (compared by identity, so a freed tensor's reused ``id`` never hits a stale
    entry), the long side, the blend, the normalisation and the device; within an entry the
    Grams are kept per layer, so a later call that asks for more layers computes only the
    missing ones. ``hits``/``misses`` count lookups; ``misses`` is the number of computations.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[VGGFeatures, tuple[torch.Tensor, ...], tuple, dict[str, torch.Tensor]]] = []
        self.hits = 0
        self.misses = 0

    def __call__(self, net: VGGFeatures, styles: Sequence[torch.Tensor], layers: Sequence[str], *, long_side: int,
                 blend: Sequence[float] | None, norm: str, device=None) -> dict[str, torch.Tensor]:
        styles = tuple(styles)
        key = (long_side, tuple(blend) if blend is not None else None, norm, str(device))
        grams = self._entry(net, styles, key)
        missing = [k for k in layers if k not in grams]
        if missing:
            self.misses += 1
            grams.update(style_targets(net, list(styles), missing, long_side=long_side, blend=blend, norm=norm,
                                       device=device))
        else:
            self.hits += 1
        return {k: grams[k] for k in layers}

    def _entry(self, net: VGGFeatures, styles: tuple[torch.Tensor, ...], key: tuple) -> dict[str, torch.Tensor]:
        for n, st, k, found in self._entries:
            if n is net and k == key and len(st) == len(styles) and all(a is b for a, b in zip(st, styles)):
                return found
        grams: dict[str, torch.Tensor] = {}
        self._entries.append((net, styles, key, grams))
        return grams


# ------------------------------------------------------------------ parametrisations

PixelMap = Callable[[torch.Tensor], torch.Tensor]


class Parametrisation(Protocol):
    """How the optimized pixels become the image the terms see and the run returns, per scale."""

    def at(self, hw: tuple[int, int]) -> PixelMap | None: ...


class Plain:
    """The optimized pixels are the image."""

    def at(self, hw: tuple[int, int]) -> PixelMap | None:
        return None


def blend_composite(x: torch.Tensor, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mask * x + (1 - mask) * content: the stylized image inside the region, the content outside.

    ``x``, ``content`` ``(N, 3, H, W)``, ``mask`` ``(N|1, 1, H, W)``, all at the same size.
    """
    return mask * x + (1 - mask) * content


class BlendTransform:
    """``--mask-mode blend`` at one scale: the network, the losses and the output all see
    ``blend_composite(x, content, mask)`` instead of the free pixels ``x``, i.e. the image is
    composited by the mask at every step. Pixels outside the mask get no gradient and the
    output shows the content there.
    """

    def __init__(self, content: torch.Tensor, mask: torch.Tensor):
        self.content = content.detach()
        self.mask = mask.detach()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return blend_composite(x, self.content, self.mask)


@dataclass
class MaskBlend:
    """The blend parametrisation (a reparametrisation of the pixels, so L-BFGS stays consistent):
    ``content`` ``(1, 3, H, W)`` and ``mask`` ``(1, 1, H, W)`` at full size, resized per scale."""

    content: torch.Tensor
    mask: torch.Tensor

    def at(self, hw: tuple[int, int]) -> PixelMap | None:
        return BlendTransform(resize(self.content, hw), resize(self.mask, hw).clamp(0, 1))
