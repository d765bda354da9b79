"""Guided Gram matrices: the maths of spatial control, pure tensor functions.

Follows Gatys, Ecker, Bethge, Hertzmann and Shechtman 2017, "Controlling
Perceptual Factors in Neural Style Transfer", section 4 (spatial control):
each region r has a guidance channel T_r on the content; at layer l the guide
T_r^l multiplies the feature maps before the Gram matrix,
G_r^l = (F^l * T_r^l)(F^l * T_r^l)^T, and region r is matched to its own style.

Masks and guides are ``(N, 1, H, W)`` float in [0, 1] with 1 = the styled
region; features ``(N, C, H, W)``. Nothing here reads files or knows the engine:
:mod:`vidstyle.controls` builds the terms from these pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from vidstyle import defaults
from vidstyle.errors import SettingsError
from vidstyle.losses import normalise_gram, widen
from vidstyle.vgg import LAYERS, layer_index


def feature_hw(hw: tuple[int, int], layer: str) -> tuple[int, int]:
    """(H, W) of ``layer``'s feature maps for an input of ``hw``: VGG pools halve with floor."""
    h, w = hw
    for _, kind, *_ in LAYERS[: layer_index(layer) + 1]:
        if kind == "pool":
            h, w = h // 2, w // 2
    return h, w


def layer_guides(mask: torch.Tensor, layers: Sequence[str], mode: str = defaults.GUIDE) -> dict[str, torch.Tensor]:
    """The region's guide at each layer, ``{layer: (N, 1, h, w)}`` with the layer's feature size.

    * ``simple``: the mask resized (area average) to the layer's size;
    * ``inside``: a position keeps the smallest mask value in its receptive
      field (1 only if the field lies wholly inside the region);
    * ``all``: the largest value (1 if the field touches the region).

    ``inside``/``all`` probe the receptive fields by propagating the mask through
    the network's own geometry: each 3x3 convolution is a 3x3 min (``inside``) or
    max (``all``) filter, each 2x2/2 pool a 2x2/2 min or max (Gatys et al. 2017,
    section 4.1). Zero padding at the border is ignored (it belongs to no region).
    """
    if mode not in defaults.GUIDES:
        raise SettingsError("guide", f"{mode!r}: expected one of {', '.join(defaults.GUIDES)}")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (N, 1, H, W), got shape {tuple(mask.shape)}")
    hw = (int(mask.shape[-2]), int(mask.shape[-1]))
    if mode == "simple":
        return {k: F.interpolate(mask, size=feature_hw(hw, k), mode="area") if feature_hw(hw, k) != hw else mask
                for k in layers}
    wanted = set(layers)
    stop = max(layer_index(k) for k in layers)
    sign = -1.0 if mode == "inside" else 1.0  # min filter = -max(-x); max_pool pads with -inf, ignoring the border
    g = sign * mask
    out: dict[str, torch.Tensor] = {}
    for name, kind, *_ in LAYERS[: stop + 1]:
        if kind == "conv":
            g = F.max_pool2d(g, 3, stride=1, padding=1)
        elif kind == "pool":
            g = F.max_pool2d(g, 2, stride=2)
        if name in wanted:
            out[name] = sign * g
    return out


def guided_gram(features: torch.Tensor, guide: torch.Tensor, norm: str = defaults.GRAM_NORM,
                eps: float = 1e-8) -> torch.Tensor:
    """Gram matrix of ``features`` ``(N, C, H, W)`` weighted by ``guide`` ``(N|1, 1, H, W)``, ``(N, C, C)``.

    G = (F * T)(F * T)^T (Gatys et al. 2017, eq. 6), normalised like
    :func:`vidstyle.losses.gram_matrix` (:func:`vidstyle.losses.normalise_gram`) but
    with the region's size sum(T^2) in place of H*W. Deviation: the paper leaves the
    normalisation open; ours makes the guided Gram a per-position average over the
    region, so a region's Gram is comparable with a whole style image's, and an
    all-ones guide gives exactly the plain Gram. An empty guide gives a zero matrix.
    """
    if features.dim() != 4:
        raise ValueError(f"guided_gram expects (N, C, H, W) features, got shape {tuple(features.shape)}")
    if guide.dim() != 4 or guide.shape[1] != 1 or guide.shape[-2:] != features.shape[-2:]:
        raise ValueError(f"guide must be (N, 1, {features.shape[-2]}, {features.shape[-1]}), "
                         f"got shape {tuple(guide.shape)}")
    n, c, h, w = features.shape
    features = widen(features)  # the network's bf16/fp16 features: a float32 Gram (vidstyle.losses)
    guide = guide.to(features.dtype)
    flat = (features * guide).reshape(n, c, h * w)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    area = guide.pow(2).sum(dim=(1, 2, 3)).clamp_min(eps).view(-1, 1, 1)
    return normalise_gram(gram, c, area, norm)


def guided_style_loss(features: torch.Tensor, guide: torch.Tensor, target_gram: torch.Tensor,
                      norm: str = defaults.GRAM_NORM) -> torch.Tensor:
    """Mean squared difference between the guided Gram of ``features`` and ``target_gram``."""
    gram = guided_gram(features, guide, norm)
    return F.mse_loss(gram, target_gram.expand_as(gram))


@dataclass
class GuidedStyleTerm:
    """Style term over regions: sum over regions r and layers l of
    w_l * MSE(guided Gram of x's features under T_r^l, region r's target Gram).

    Satisfies :class:`vidstyle.engine.Term`. ``guides[r][layer]`` is
    ``(1, 1, h, w)`` at the layer's size for the current scale; ``grams[r][layer]``
    the target. Regions are summed with equal weights, so each region is
    styled as strongly as a whole image would be with the same ``weight``.
    Layers where a region's guide is empty (e.g. a thin region under
    ``--guide inside``) are skipped and listed in ``notes``.
    """

    guides: list[dict[str, torch.Tensor]]
    grams: list[dict[str, torch.Tensor]]
    layer_weights: dict[str, float]
    weight: float
    norm: str = defaults.GRAM_NORM
    name: str = "style"
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.guides) != len(self.grams):
            raise ValueError(f"{len(self.guides)} region guides but {len(self.grams)} region targets")
        self.layers = tuple(sorted({k for g in self.grams for k in g}, key=layer_index))
        self.notes: list[str] = []
        self._parts: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        for r, (guides, grams) in enumerate(zip(self.guides, self.grams)):
            label = self.labels[r] if r < len(self.labels) else f"region {r + 1}"
            for k, target in grams.items():
                if float(guides[k].sum()) <= 0:
                    self.notes.append(f"{label} is empty at layer {k}; that layer is skipped for it")
                    continue
                self._parts.append((k, guides[k], target.detach()))

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self._parts:
            return x.new_zeros(())
        return sum(self.layer_weights[k] * guided_style_loss(feats[k], g, t, self.norm)  # type: ignore[return-value]
                   for k, g, t in self._parts)
