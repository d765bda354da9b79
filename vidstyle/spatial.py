"""Spatial control: masks, per-layer guides, guided Gram matrices, regions, blend compositing.

Follows Gatys, Ecker, Bethge, Hertzmann and Shechtman 2017, "Controlling
Perceptual Factors in Neural Style Transfer", section 4 (spatial control):
each region r has a guidance channel T_r on the content; at layer l the guide
T_r^l multiplies the feature maps before the Gram matrix,
G_r^l = (F^l * T_r^l)(F^l * T_r^l)^T, and region r is matched to its own style.

Conventions (DESIGN.md): images ``(N, 3, H, W)`` float32 RGB in [0, 1];
masks and guides ``(N, 1, H, W)`` float in [0, 1] with 1 = the styled region.
Library code never prints: warnings come back as lists of strings ("notes").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vidstyle import defaults
from vidstyle.errors import VidstyleError
from vidstyle.vgg import LAYERS, layer_index

# ----------------------------------------------------------------------------- masks


def load_mask(path: str | Path, *, what: str = "mask") -> torch.Tensor:
    """Read an image file as a mask ``(1, 1, H, W)`` in [0, 1]: the mean of its RGB channels.

    Any Pillow-readable file works (transparent pixels count as white, as
    :func:`vidstyle.imageio.load_image` composites on white).
    """
    from vidstyle.imageio import load_image

    return image_to_mask(load_image(path, what=what))


def image_to_mask(img: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB (or ``(N, 1, H, W)``) in [0, 1] -> ``(N, 1, H, W)`` mask, channel mean."""
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise ValueError(f"a mask image must be (N, 1|3, H, W), got shape {tuple(img.shape)}")
    return img.float().mean(dim=1, keepdim=True).clamp(0, 1)


def resize_mask(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking) of a ``(N, 1, H, W)`` mask, kept in [0, 1]."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    shrink = hw[0] < mask.shape[-2] or hw[1] < mask.shape[-1]
    return F.interpolate(mask, size=tuple(hw), mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)


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
                            f"({ratio_m:.3f} vs {ratio_c:.3f}); refusing to stretch it, make a mask of the content's size")
    return resize_mask(mask, hw), [f"{what} is {mw}x{mh}, the content {w}x{h}: resized the mask to fit"]


def mask_warnings(mask: torch.Tensor, *, what: str = "mask") -> list[str]:
    """Notes for degenerate masks: all black (nothing styled) or all white (no spatial control)."""
    if float(mask.max()) < 0.5 / 255:
        return [f"{what} is all black: nothing will be styled"]
    if float(mask.min()) > 1 - 0.5 / 255:
        return [f"{what} is all white: the whole image is styled, as without a mask"]
    return []


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
    from PIL import Image

    if path.suffix.lower() in Image.registered_extensions():
        mask = load_mask(path)
        if hw is not None:
            mask, _ = fit_mask(mask, hw, what=f"mask {path}")
        return itertools.repeat(mask) if frames is None else itertools.repeat(mask, frames)
    return _mask_video(path, hw=hw, frames=frames, start=start, duration=duration)


def _mask_video(path: Path, *, hw, frames, start, duration) -> Iterator[torch.Tensor]:
    from vidstyle.imageio import from_uint8
    from vidstyle.video.decode import iter_frames

    count = 0
    for frame in iter_frames(path, max_frames=frames, start=start, duration=duration):
        mask = image_to_mask(from_uint8(frame.image))
        if hw is not None:
            mask, _ = fit_mask(mask, hw, what=f"mask video {path}")
        yield mask
        count += 1
    if frames is not None and count < frames:
        raise VidstyleError(f"mask video {path} has {count} frames but the content has {frames}")


# ----------------------------------------------------------------------------- guides


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
        raise VidstyleError(f"--guide {mode!r}: expected one of {', '.join(defaults.GUIDES)}")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (N, 1, H, W), got shape {tuple(mask.shape)}")
    hw = tuple(mask.shape[-2:])
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
    :func:`vidstyle.losses.gram_matrix` but with the region's size sum(T^2) in
    place of H*W: ``chw`` divides by C*sum(T^2), ``hw`` by sum(T^2), ``none``
    not at all. Deviation: the paper leaves the normalisation open; ours makes
    the guided Gram a per-position average over the region, so a region's Gram
    is comparable with a whole style image's, and an all-ones guide gives
    exactly the plain Gram. An empty guide gives a zero matrix.
    """
    if features.dim() != 4:
        raise ValueError(f"guided_gram expects (N, C, H, W) features, got shape {tuple(features.shape)}")
    if guide.dim() != 4 or guide.shape[1] != 1 or guide.shape[-2:] != features.shape[-2:]:
        raise ValueError(f"guide must be (N, 1, {features.shape[-2]}, {features.shape[-1]}), "
                         f"got shape {tuple(guide.shape)}")
    n, c, h, w = features.shape
    guide = guide.to(features.dtype)
    flat = (features * guide).reshape(n, c, h * w)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    area = guide.pow(2).sum(dim=(1, 2, 3)).clamp_min(eps).view(-1, 1, 1)
    if norm == "chw":
        return gram / (c * area)
    if norm == "hw":
        return gram / area
    if norm == "none":
        return gram
    raise ValueError(f"gram norm must be one of {defaults.GRAM_NORMS}, got {norm!r}")


def guided_style_loss(features: torch.Tensor, guide: torch.Tensor, target_gram: torch.Tensor,
                      norm: str = defaults.GRAM_NORM) -> torch.Tensor:
    """Mean squared difference between the guided Gram of ``features`` and ``target_gram``."""
    gram = guided_gram(features, guide, norm)
    return F.mse_loss(gram, target_gram.expand_as(gram))


# ----------------------------------------------------------------------------- regions and terms


@dataclass(frozen=True)
class Region:
    """One styled region: its style image(s) (each ``(1, 3, H, W)`` in [0, 1], blended
    by ``blend`` like ``--style-blend``) and its mask on the content, ``(1, 1, H, W)`` in [0, 1]."""

    styles: tuple[torch.Tensor, ...]
    mask: torch.Tensor
    blend: tuple[float, ...] | None = None
    label: str = ""


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

    def __post_init__(self):
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

    def __call__(self, x, feats):
        if not self._parts:
            return x.new_zeros(())
        return sum(self.layer_weights[k] * guided_style_loss(feats[k], g, t, self.norm) for k, g, t in self._parts)


def guided_style_term(net, regions: Sequence[Region], hw: tuple[int, int], *, layers: Sequence[str],
                      layer_weights: dict[str, float], weight: float, norm: str = defaults.GRAM_NORM,
                      guide: str = defaults.GUIDE, style_scale: float = defaults.STYLE_SCALE, device=None,
                      targets: Callable | None = None) -> GuidedStyleTerm:
    """The :class:`GuidedStyleTerm` of ``regions`` for one scale of size ``hw``.

    Each region's mask is resized to ``hw`` and turned into per-layer guides
    (``guide`` mode); its style images give plain (unguided) Gram targets at
    long side ``style_scale * max(hw)``. ``targets`` replaces
    :func:`vidstyle.engine.style_targets` (same signature) e.g. to share targets.
    """
    from vidstyle.engine import style_targets

    targets = targets or style_targets
    long_side = max(1, round(max(hw) * style_scale))
    all_guides, all_grams = [], []
    for region in regions:
        m = resize_mask(region.mask.to(device), hw)
        all_guides.append(layer_guides(m, layers, guide))
        all_grams.append(targets(net, list(region.styles), list(layers), long_side=long_side,
                                 blend=region.blend, norm=norm, device=device))
    return GuidedStyleTerm(all_guides, all_grams, layer_weights, weight, norm,
                           labels=[r.label or f"region {i + 1}" for i, r in enumerate(regions)])


def blend_composite(x: torch.Tensor, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mask * x + (1 - mask) * content: the stylized image inside the region, the content outside.

    ``x``, ``content`` ``(N, 3, H, W)``, ``mask`` ``(N|1, 1, H, W)``, all at the same size.
    """
    return mask * x + (1 - mask) * content


class BlendTransform:
    """``--mask-mode blend`` as a reparametrisation: the network, the losses and the
    output all see ``blend_composite(x, content, mask)`` instead of the free
    pixels ``x``, i.e. the image is composited by the mask at every step.
    Pixels outside the mask get no gradient and the output shows the content there.
    """

    def __init__(self, content: torch.Tensor, mask: torch.Tensor):
        self.content = content.detach()
        self.mask = mask.detach()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return blend_composite(x, self.content, self.mask)


# ----------------------------------------------------------------------------- shared targets


class TargetCache:
    """Memoizes Gram targets so that runs sharing a style (video frames, sweep cells,
    regions with the same image) compute them once.

    Call it like :func:`vidstyle.engine.style_targets`. Keys hold the style
    tensors themselves (compared by identity), so a freed tensor's reused id
    never hits a stale entry. ``hits``/``misses`` count lookups.
    """

    def __init__(self):
        self._entries: list[tuple[tuple, tuple[torch.Tensor, ...], dict[str, torch.Tensor]]] = []
        self.hits = 0
        self.misses = 0

    def __call__(self, net, styles: Sequence[torch.Tensor], layers: Sequence[str], *, long_side: int,
                 blend: Sequence[float] | None, norm: str, device=None) -> dict[str, torch.Tensor]:
        from vidstyle.engine import style_targets

        key = (id(net), tuple(layers), long_side, tuple(blend) if blend else None, norm, str(device))
        styles = tuple(styles)
        for k, st, grams in self._entries:
            if k == key and len(st) == len(styles) and all(a is b for a, b in zip(st, styles)):
                self.hits += 1
                return grams
        self.misses += 1
        grams = style_targets(net, list(styles), list(layers), long_side=long_side, blend=blend, norm=norm,
                              device=device)
        self._entries.append((key, styles, grams))
        return grams


# ----------------------------------------------------------------------------- one frame's controls


@dataclass
class FrameControls:
    """Mask/region/colour options applied to one image or video frame.

    Build with :func:`frame_controls`. ``content`` and ``styles`` are what the
    optimization sees (after colour preprocessing; ``styles`` is empty in
    guided mode, whose styles live in ``regions``); ``original`` is the content
    as given. Run with::

        result = stylize_image(c.content, c.styles, settings=..., net=net,
                               **c.engine_hooks(net, settings, device))
        image = c.postprocess(result.image)
    """

    content: torch.Tensor
    styles: list[torch.Tensor]
    regions: list[Region]
    original: torch.Tensor
    mask_mode: str = defaults.MASK_MODE
    guide: str = defaults.GUIDE
    colors: str = defaults.COLORS
    notes: list[str] = field(default_factory=list)

    @property
    def spatial(self) -> bool:
        return bool(self.regions)

    @property
    def guided(self) -> bool:
        return self.spatial and self.mask_mode == "guided"

    def style_term(self, net, settings, device=None, *, targets: Callable | None = None
                   ) -> Callable[[tuple[int, int]], GuidedStyleTerm] | None:
        """Per-scale factory of the guided style term (None unless guided regions apply).

        ``settings`` is resolved here (:func:`vidstyle.engine.resolve` is idempotent).
        ``targets``: e.g. a :class:`TargetCache` kept across frames.
        """
        if not self.guided:
            return None
        from vidstyle import engine

        s, _ = engine.resolve(settings)
        lw = engine.layer_weights(s.style_layers, s.style_layer_weights)

        def make(hw: tuple[int, int]) -> GuidedStyleTerm:
            term = guided_style_term(net, self.regions, hw, layers=s.style_layers, layer_weights=lw,
                                     weight=s.style_weight, norm=s.gram_norm, guide=self.guide,
                                     style_scale=s.style_scale, device=device, targets=targets)
            self.notes.extend(n for n in term.notes if n not in self.notes)
            return term

        return make

    def transform(self, device=None) -> Callable[[tuple[int, int]], BlendTransform] | None:
        """Per-scale factory of the blend-mode compositing (None unless ``--mask-mode blend``)."""
        if not self.spatial or self.mask_mode != "blend":
            return None
        from vidstyle.engine import _resize

        def make(hw: tuple[int, int]) -> BlendTransform:
            return BlendTransform(_resize(self.content.to(device), hw), resize_mask(self.regions[0].mask.to(device), hw))

        return make

    def engine_hooks(self, net, settings, device=None, *, targets: Callable | None = None) -> dict:
        """Keyword arguments for :func:`vidstyle.engine.stylize_image` (``style_term``, ``transform``)."""
        return {"style_term": self.style_term(net, settings, device, targets=targets),
                "transform": self.transform(device)}

    def postprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Colour postprocessing of the optimized image (luminance swap for ``original``/``luminance``)."""
        from vidstyle.color import apply_colors

        return apply_colors(image, self.original, self.colors)

    def with_masks(self, masks: Sequence[torch.Tensor], content: torch.Tensor | None = None) -> "FrameControls":
        """The same controls with new region masks (one per region, e.g. a mask video's next
        frame) and optionally a new content frame; the style tensors are kept, so a
        :class:`TargetCache` keeps hitting. Masks are fitted to the content like in
        :func:`frame_controls`; new warnings go to ``.notes``."""
        if len(masks) != len(self.regions):
            raise ValueError(f"{len(masks)} masks for {len(self.regions)} regions")
        original = self.original if content is None else content
        from vidstyle import color

        opt_content = self.content if content is None else color.preprocess_content(content, self.colors)
        hw = tuple(original.shape[-2:])
        notes: list[str] = []
        regions = []
        for r, m in zip(self.regions, masks):
            m, n = fit_mask(m, hw, what=r.label or "mask")
            notes += n
            regions.append(Region(r.styles, m, r.blend, r.label))
        return FrameControls(opt_content, self.styles, regions, original, self.mask_mode, self.guide, self.colors,
                             notes)


def frame_controls(content: torch.Tensor, styles: Sequence[torch.Tensor] = (), *,
                   mask: torch.Tensor | None = None, regions: Sequence[Region] | None = None,
                   mask_mode: str = defaults.MASK_MODE, guide: str = defaults.GUIDE,
                   colors: str = defaults.COLORS, color_match: str = defaults.COLOR_MATCH,
                   style_blend: Sequence[float] | None = None,
                   color_reference: torch.Tensor | None = None) -> FrameControls:
    """Turn mask/region/colour options into the controls of one frame.

    ``content`` ``(1, 3, H, W)``; ``styles`` whole-image style images;
    ``mask`` ``(1, 1, h, w)`` (the styles apply only where it is 1; fitted to
    the content by :func:`fit_mask`); ``regions`` each with their own styles
    and mask (not together with ``mask`` or ``styles``).
    ``color_reference`` is the image whose colours ``match``/``luminance`` fit
    the styles to (default: ``content``; for a video, pass one frame for all).
    Raises :class:`VidstyleError` for contradictory options; warnings are in ``.notes``.
    """
    from vidstyle import color

    if mask_mode not in defaults.MASK_MODES:
        raise VidstyleError(f"--mask-mode {mask_mode!r}: expected one of {', '.join(defaults.MASK_MODES)}")
    if guide not in defaults.GUIDES:
        raise VidstyleError(f"--guide {guide!r}: expected one of {', '.join(defaults.GUIDES)}")
    color.check_mode(colors, color_match)
    regions = list(regions or [])
    styles = list(styles)
    hw = tuple(content.shape[-2:])
    notes: list[str] = []
    if regions and mask is not None:
        raise VidstyleError("use either --mask (with the style images) or --style IMAGE:MASK regions, not both")
    if regions and styles:
        raise VidstyleError("style images without a mask cannot be mixed with --style IMAGE:MASK regions; "
                            "give every style its mask")
    if not regions and not styles:
        raise VidstyleError("at least one style image is needed")
    if mask is not None:
        regions = [Region(tuple(styles), mask, tuple(style_blend) if style_blend else None, "mask")]
    if len(regions) > 1 and mask_mode == "blend":
        raise VidstyleError(f"--mask-mode blend composites one styled region; {len(regions)} regions need "
                            "--mask-mode guided")
    fitted = []
    for i, r in enumerate(regions):
        what = r.label or f"mask of region {i + 1}"
        if r.mask.dim() != 4 or tuple(r.mask.shape[:2]) != (1, 1):
            raise ValueError(f"{what} must be (1, 1, H, W), got shape {tuple(r.mask.shape)}")
        m, n = fit_mask(r.mask, hw, what=what)
        notes += n + mask_warnings(m, what=what)
        fitted.append(Region(r.styles, m, r.blend, r.label))
    reference = content if color_reference is None else color_reference
    opt_content = color.preprocess_content(content, colors)
    opt_regions = [Region(tuple(color.preprocess_styles(r.styles, reference, colors, color_match)), r.mask, r.blend,
                          r.label) for r in fitted]
    if opt_regions and mask_mode == "blend":  # one region: its styles give the plain term over the composite
        opt_styles = list(opt_regions[0].styles)
    elif opt_regions:
        opt_styles = []
    else:
        opt_styles = color.preprocess_styles(styles, reference, colors, color_match)
    return FrameControls(opt_content, opt_styles, opt_regions, content, mask_mode, guide, colors, notes)


def parse_region(spec: str) -> tuple[Path, Path | None]:
    """``"sky.jpg:sky_mask.png"`` -> (style, mask); ``"sky.jpg"`` -> (style, None).

    Splits at the last ``:`` unless the whole text names an existing file.
    """
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    style, mask = spec.rsplit(":", 1)
    if not style or not mask:
        raise VidstyleError(f"--style {spec!r}: expected STYLE or STYLE:MASK")
    return Path(style), Path(mask)


def load_style_specs(specs: Sequence[str]) -> tuple[list[torch.Tensor], list[Region]]:
    """``--style`` values -> (plain style images, regions): ``STYLE`` is a whole-image style,
    ``STYLE:MASK`` a region. Missing files raise :class:`VidstyleError` naming them."""
    from vidstyle.imageio import load_image

    plain, regions = [], []
    for spec in specs:
        style, mask = parse_region(spec)
        if not style.exists():
            raise VidstyleError(f"--style {spec}: style image {style} not found")
        if mask is None:
            plain.append(load_image(style, what="style image"))
            continue
        if not mask.exists():
            raise VidstyleError(f"--style {spec}: mask file {mask} not found")
        regions.append(Region((load_image(style, what="style image"),), load_mask(mask, what=f"mask {mask}"),
                              label=f"mask {mask}"))
    return plain, regions


def load_controls(content: torch.Tensor, styles: Sequence[torch.Tensor], *, style_specs: Sequence[str] = (),
                  mask: str | Path | None = None, mask_mode: str = defaults.MASK_MODE, guide: str = defaults.GUIDE,
                  colors: str = defaults.COLORS, color_match: str = defaults.COLOR_MATCH,
                  style_blend: Sequence[float] | None = None) -> FrameControls:
    """:func:`frame_controls` from command-line values: ``styles`` already loaded,
    ``style_specs`` the ``--style STYLE[:MASK]`` values, ``mask`` a mask file."""
    plain, regions = load_style_specs(style_specs)
    mask_t = None
    if mask is not None:
        if not Path(mask).exists():
            raise VidstyleError(f"--mask {mask}: no such file")
        mask_t = load_mask(mask, what=f"--mask {mask}")
    return frame_controls(content, list(styles) + plain, mask=mask_t, regions=regions, mask_mode=mask_mode,
                          guide=guide, colors=colors, color_match=color_match, style_blend=style_blend)


def coverage(mask: torch.Tensor) -> float:
    """Fraction of the image a mask covers (its mean), for reports."""
    return float(mask.mean()) if mask.numel() else math.nan
