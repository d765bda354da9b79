"""The still-image engine: objective terms, coarse-to-fine scales, and the run.

Every mode is "optimize an image against a list of weighted terms": style
transfer (content + style + TV), content reconstruction (content only),
texture synthesis (style only), and video frames (plus temporal terms, added
by the video pipeline through ``extra_terms``).

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1] (DESIGN.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from vidstyle import defaults, precision
from vidstyle.errors import LayerError, VidstyleError
from vidstyle.losses import ContentLoss, StyleLoss, blend_grams, gram_matrix, tv_loss
from vidstyle.optimize import IterationInfo, OptimizerSettings, OptimizeResult, optimize
from vidstyle.vgg import VGGFeatures, layer_index, min_size, resize_long_side
from vidstyle.weights import WeightsSpec, build_features, deepest_available


# ----------------------------------------------------------------------------- terms

class Term(Protocol):
    """One weighted part of the objective. ``layers`` are the VGG layers it reads."""

    name: str
    weight: float
    layers: tuple[str, ...]

    def __call__(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor: ...


@dataclass
class ContentTerm:
    targets: dict[str, torch.Tensor]  # layer -> target features
    weight: float
    name: str = "content"

    def __post_init__(self):
        self.layers = tuple(self.targets)
        self._losses = {k: ContentLoss(v) for k, v in self.targets.items()}

    def __call__(self, x, feats):
        return sum(loss(feats[k]) for k, loss in self._losses.items()) / len(self._losses)


@dataclass
class StyleTerm:
    grams: dict[str, torch.Tensor]  # layer -> target Gram (blended over style images)
    layer_weights: dict[str, float]  # sum to 1
    weight: float
    norm: str = defaults.GRAM_NORM
    name: str = "style"

    def __post_init__(self):
        self.layers = tuple(self.grams)
        self._losses = {k: StyleLoss(v, self.norm) for k, v in self.grams.items()}

    def __call__(self, x, feats):
        return sum(self.layer_weights[k] * loss(feats[k]) for k, loss in self._losses.items())


@dataclass
class TVTerm:
    weight: float
    name: str = "tv"
    layers: tuple[str, ...] = ()

    def __call__(self, x, feats):
        return tv_loss(x)


class Objective:
    """Sum of weighted terms, with one forward pass through the (truncated) network.

    ``precision`` (fp32, bf16, fp16) is that of the network only: its features
    are cast back to float32 before any term sees them, so Grams, losses and
    the gradient's accumulation into the image stay float32.
    """

    def __init__(self, net: VGGFeatures, terms: Sequence[Term],
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, *, precision: str = "fp32"):
        self.net = net
        self.transform = transform  # maps the free pixels to the image the terms see (e.g. a masked blend)
        self.precision = precision
        self.terms = [t for t in terms if t.weight != 0]
        if not self.terms:
            raise VidstyleError("nothing to optimize: every loss weight is 0")
        self.layers = sorted({layer for t in self.terms for layer in t.layers}, key=layer_index)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.transform is not None:
            x = self.transform(x)
        feats = {}
        if self.layers:
            with precision.autocast(self.precision, x.device):
                feats = self.net(x, self.layers)
            if self.precision != "fp32":
                feats = {k: v.float() for k, v in feats.items()}
        parts = {t.name: t.weight * t(x, feats) for t in self.terms}
        return sum(parts.values()), parts


# -------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class Settings:
    """Resolved options of one still-image run (the CLI fills these from its flags).

    Loss weights left as ``None`` take the defaults of the weight source
    (:func:`vidstyle.defaults.loss_weights`); layers left as ``None`` take the
    standard ones, or the shallow ones when the weights file stops early.
    """

    size: int = defaults.SIZE
    model: str = defaults.MODEL
    weights: Path | None = None
    pooling: str = defaults.POOLING
    content_layers: tuple[str, ...] | None = None
    style_layers: tuple[str, ...] | None = None
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    gram_norm: str = defaults.GRAM_NORM
    style_blend: tuple[float, ...] | None = None
    style_scale: float = defaults.STYLE_SCALE
    init: str = defaults.INIT  # "noise", "content" or an image path
    seed: int = defaults.SEED
    scales: str = defaults.SCALES
    precision: str = defaults.PRECISION  # of the network's forward/backward (vidstyle.precision)
    optim: OptimizerSettings = field(default_factory=OptimizerSettings)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weights"] = str(self.weights) if self.weights else None
        return d


def validate(settings: Settings) -> None:
    s = settings
    if s.size <= 0:
        raise VidstyleError(f"--size must be > 0, got {s.size}")
    if s.model not in defaults.MODELS:
        raise VidstyleError(f"--model {s.model!r}: expected one of {', '.join(defaults.MODELS)}")
    if s.pooling not in defaults.POOLINGS:
        raise VidstyleError(f"--pooling {s.pooling!r}: expected max or avg")
    if s.gram_norm not in defaults.GRAM_NORMS:
        raise VidstyleError(f"--gram-norm {s.gram_norm!r}: expected one of {', '.join(defaults.GRAM_NORMS)}")
    if s.style_scale <= 0:
        raise VidstyleError(f"--style-scale must be > 0, got {s.style_scale}")
    for name in ("content_weight", "style_weight", "tv_weight"):
        value = getattr(s, name)
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise VidstyleError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
    for layers in (s.content_layers or (), s.style_layers or ()):
        for layer in layers:
            layer_index(layer)
    if s.style_layer_weights is not None and s.style_layers is not None and len(s.style_layer_weights) != len(s.style_layers):
        raise VidstyleError(f"--style-layer-weights has {len(s.style_layer_weights)} values for "
                            f"{len(s.style_layers)} style layers")
    if s.optim.iterations <= 0:
        raise VidstyleError(f"--iterations must be > 0, got {s.optim.iterations}")
    if s.precision not in defaults.PRECISIONS:
        raise VidstyleError(f"--precision {s.precision!r}: expected one of {', '.join(defaults.PRECISIONS)}")


def resolve(settings: Settings) -> tuple[Settings, list[str]]:
    """Fill defaults that depend on the weight source; return notes worth telling the user."""
    notes: list[str] = []
    validate(settings)
    w = defaults.loss_weights(settings.model, settings.gram_norm)
    s = replace(
        settings,
        content_weight=w.content if settings.content_weight is None else settings.content_weight,
        style_weight=w.style if settings.style_weight is None else settings.style_weight,
        tv_weight=w.tv if settings.tv_weight is None else settings.tv_weight,
    )
    if s.content_layers is None:
        layers, note = fitting_layers(s, defaults.CONTENT_LAYERS, defaults.SHALLOW_CONTENT_LAYERS, "content layers")
        s = replace(s, content_layers=layers)
        notes += [note] if note else []
    if s.style_layers is None:
        layers, note = fitting_layers(s, defaults.STYLE_LAYERS, defaults.SHALLOW_STYLE_LAYERS, "style layers")
        s = replace(s, style_layers=layers)
        notes += [note] if note else []
    return s, notes


def fitting_layers(settings: Settings, standard: Sequence[str], shallow: Sequence[str],
                   what: str) -> tuple[tuple[str, ...], str | None]:
    """The ``standard`` layers, or the ``shallow`` ones (with a note saying so) when the
    weights file stops before the deepest standard layer. Every command's default layers
    go through here, so a partial file behaves the same in image, reconstruct, texture,
    sweep and video."""
    have = deepest_available(WeightsSpec(settings.model, settings.weights))
    if have is None or layer_index(max(standard, key=layer_index)) <= layer_index(have):
        return tuple(standard), None
    return tuple(shallow), f"{settings.weights} stops at {have}: using {what} {','.join(shallow)}"


def parse_scales(spec: str, size: int, *, smallest: int = defaults.SCALE_MIN) -> list[int]:
    """Long sides of the coarse-to-fine scales, ascending, ending at ``size``.

    ``auto``: halve from ``size`` while >= ``smallest`` px; ``none``: one scale;
    ``128,256,512``: explicit; ``START:FACTOR`` (``128:2``, ``128:sqrt2``): geometric.
    """
    spec = spec.strip().lower()
    if spec in ("none", "1", "off", ""):
        return [size]
    if spec == "auto":
        sizes = [size]
        while sizes[0] // 2 >= smallest:
            sizes.insert(0, sizes[0] // 2)
        return sizes
    try:
        if ":" in spec:
            start_s, factor_s = spec.split(":", 1)
            start = int(start_s)
            factor = math.sqrt(2) if factor_s in ("sqrt2", "sqrt(2)") else float(factor_s)
            if start <= 0 or factor <= 1:
                raise ValueError
            sizes, cur = [], float(start)
            while round(cur) < size:
                sizes.append(round(cur))
                cur *= factor
            return sizes + [size]
        sizes = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise VidstyleError(f"--scales {spec!r}: expected auto, none, a list like 128,256,512, or START:FACTOR like 128:2") from None
    if not sizes or any(v <= 0 for v in sizes) or sizes != sorted(sizes):
        raise VidstyleError(f"--scales {spec!r}: sizes must be positive and ascending")
    sizes = [v for v in sizes if v < size]
    return sizes + [size]


def scaled_hw(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    h, w = hw
    k = long_side / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))


def check_size(hw: tuple[int, int], layers: Sequence[str], *, aspect_of: tuple[int, int] | None = None) -> None:
    """Raise if ``hw`` is too small for ``layers``; the message gives the minimum ``--size``
    for the aspect ratio of ``aspect_of`` (the source image), else of ``hw``."""
    need = min_size(layers)
    if min(hw) < need:
        deepest = max(layers, key=layer_index)
        ref = aspect_of or hw
        long_needed = math.ceil(need * max(ref) / min(ref))
        raise VidstyleError(f"image size {hw[1]}x{hw[0]} is too small for layer {deepest}: "
                            f"its short side must be >= {need} px (--size >= {long_needed} for this aspect ratio)")


# ----------------------------------------------------------------------------- runs

@dataclass
class RunResult:
    """Outcome of a still-image run."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1], on the run's device
    iterations: int  # summed over scales
    stop_reason: str  # of the last scale
    loss: float
    terms: dict[str, float]
    seconds: float
    scales: list[dict]
    history: list[dict]
    settings: dict
    notes: list[str] = field(default_factory=list)
    finite: bool = True
    evaluations: int = 0  # loss+gradient passes, summed over scales
    precision: str = "fp32"  # the network's, as run

    def summary(self) -> str:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in self.terms.items())
        return (f"{self.iterations} iterations ({self.evaluations} evaluations, {self.precision}) over "
                f"{len(self.scales)} scale(s) in {self.seconds:.1f}s; "
                f"stop: {self.stop_reason}; loss {self.loss:.4g} ({terms})")


def load_network(settings: Settings, layers: Sequence[str], *, device=None, progress=None,
                 allow_download: bool = True) -> VGGFeatures:
    """Build the frozen VGG-19 for ``layers`` from the settings' weight source."""
    return build_features(WeightsSpec(settings.model, settings.weights), list(layers), pooling=settings.pooling,
                          device=device, progress=progress, allow_download=allow_download)


def noise_image(hw: tuple[int, int], seed: int, device=None) -> torch.Tensor:
    """Seeded white noise around mid-grey; the same on every device (drawn on the CPU)."""
    gen = torch.Generator().manual_seed(seed)
    img = 0.5 + defaults.NOISE_STD * torch.randn((1, 3, *hw), generator=gen)
    return img.clamp(0, 1).to(device)


def _resize(img: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(img.shape[-2:]) == tuple(hw):
        return img
    shrink = hw[0] < img.shape[-2]
    return F.interpolate(img, size=hw, mode="bilinear", align_corners=False, antialias=shrink)


def initial_image(init: str | torch.Tensor, hw: tuple[int, int], *, content: torch.Tensor | None,
                  seed: int, device) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        return _resize(init.to(device), hw)
    if init == "noise":
        return noise_image(hw, seed, device)
    if init == "content":
        if content is None:
            raise VidstyleError("--init content needs a content image (texture synthesis has none)")
        return _resize(content.to(device), hw)
    from vidstyle.imageio import load_image

    return _resize(load_image(init, what="--init image").to(device), hw)


TermsFactory = Callable[[tuple[int, int]], list[Term]]
# Per scale (H, W): a map from the optimized pixels to the image the terms see and the run returns, or None.
TransformFactory = Callable[[tuple[int, int]], Callable[[torch.Tensor], torch.Tensor] | None]


def run_scales(net: VGGFeatures, make_terms: TermsFactory, final_hw: tuple[int, int], settings: Settings,
               layers: Sequence[str], *,
               content: torch.Tensor | None = None, init: str | torch.Tensor | None = None,
               callback: Callable[[IterationInfo], None] | None = None, device=None,
               should_stop: Callable[[], bool] | None = None, notes: list[str] | None = None,
               transform: TransformFactory | None = None,
               scale_optim: Sequence[OptimizerSettings] | None = None, carry: dict | None = None) -> RunResult:
    """Optimize coarse to fine: each scale starts from the upsampled result of the one before.

    ``transform(hw)`` (optional) reparametrises a scale: the terms see, and the
    run returns, ``transform(hw)(x)`` instead of the optimized pixels ``x``.

    ``layers`` are the deepest layers the terms read; scales too small for them are skipped.
    ``scale_optim`` (optional, one per scale) replaces ``settings.optim`` scale by scale;
    ``carry`` hands the optimizer's memory between runs (:func:`vidstyle.optimize.optimize`).
    """
    start = time.perf_counter()
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    choice = precision.choose(settings.precision, dev)  # "auto" already resolved by the CLI; else once per process
    if choice.requested == "auto":
        notes = list(notes or []) + [choice.note()]
    settings = replace(settings, precision=choice.precision)
    scaler = precision.make_scaler(choice.precision)
    sizes = [scaled_hw(final_hw, s) for s in parse_scales(settings.scales, max(final_hw))]
    sizes[-1] = tuple(final_hw)
    if scale_optim is not None and len(scale_optim) != len(sizes):
        raise ValueError(f"{len(scale_optim)} optimizer settings for {len(sizes)} scales")
    x = None
    history: list[dict] = []
    per_scale: list[dict] = []
    total_iters = 0
    total_evals = 0
    result: OptimizeResult | None = None
    t = None
    for i, hw in enumerate(sizes):
        try:  # before the terms: their targets need a forward pass at this size
            check_size(hw, layers)
        except VidstyleError:
            if i < len(sizes) - 1:  # a too-small coarse scale is skipped, not an error
                continue
            raise
        t = transform(hw) if transform is not None else None
        objective = Objective(net, make_terms(hw), t, precision=choice.precision)
        x0 = initial_image(init if init is not None else settings.init, hw, content=content,
                           seed=settings.seed, device=device) if x is None else _resize(x, hw)
        optim = scale_optim[i] if scale_optim is not None else settings.optim
        result = optimize(objective, x0, optim, callback=callback, scale=i, scales=len(sizes),
                          clock_start=start, should_stop=should_stop, scaler=scaler, carry=carry)
        x = result.image
        total_iters += result.iterations
        total_evals += result.evaluations
        history.extend(result.history)
        per_scale.append({"size": list(hw), "iterations": result.iterations, "evaluations": result.evaluations,
                          "stop_reason": result.stop_reason,
                          "loss": result.loss, "terms": result.terms, "seconds_end": result.seconds})
        if not result.finite or (should_stop is not None and should_stop()):
            break
    assert result is not None
    if t is not None:
        with torch.no_grad():
            x = t(x).clamp(0, 1)
    return RunResult(image=x, iterations=total_iters, stop_reason=result.stop_reason, loss=result.loss,
                     terms=result.terms, seconds=time.perf_counter() - start, scales=per_scale, history=history,
                     settings=settings.to_dict(), notes=list(notes or []), finite=result.finite,
                     evaluations=total_evals, precision=choice.precision)


def style_targets(net: VGGFeatures, styles: Sequence[torch.Tensor], layers: Sequence[str], *, long_side: int,
                  blend: Sequence[float] | None, norm: str, device=None) -> dict[str, torch.Tensor]:
    """Blended Gram targets of the style images, each resized to ``long_side``."""
    weights = list(blend) if blend is not None else [1.0] * len(styles)
    if len(weights) != len(styles):
        raise VidstyleError(f"--style-blend has {len(weights)} weights for {len(styles)} style images")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise VidstyleError(f"--style-blend weights must be >= 0 and not all 0, got {weights}")
    per_layer: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    with torch.no_grad():
        for style in styles:
            s = resize_long_side(style.to(device), long_side)
            check_size(tuple(s.shape[-2:]), layers)
            feats = net(s, layers)
            for k in layers:
                per_layer[k].append(gram_matrix(feats[k], norm))
    return {k: blend_grams(v, weights) for k, v in per_layer.items()}


def content_targets(net: VGGFeatures, content: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        feats = net(content, layers)
    return {k: feats[k].detach() for k in layers}


def layer_weights(layers: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    w = list(weights) if weights is not None else [1.0] * len(layers)
    if any(v < 0 for v in w) or sum(w) <= 0:
        raise VidstyleError(f"--style-layer-weights must be >= 0 and not all 0, got {w}")
    total = sum(w)
    return {k: v / total for k, v in zip(layers, w)}


def needed_layers(settings: Settings, *, content: bool = True, style: bool = True) -> list[str]:
    layers = set()
    if content:
        layers |= set(settings.content_layers or ())
    if style:
        layers |= set(settings.style_layers or ())
    if not layers:
        raise LayerError("no layers to optimize against")
    return sorted(layers, key=layer_index)


def stylize_terms(net: VGGFeatures, settings: Settings, content: torch.Tensor, styles: Sequence[torch.Tensor],
                  hw: tuple[int, int], device=None, style_cache: dict | None = None,
                  style_term: Callable[[tuple[int, int]], Term] | None = None) -> list[Term]:
    """Content + style + TV terms for one scale of a style-transfer run.

    ``style_cache`` (a dict the caller keeps) memoizes the Gram targets per
    style size, so a video or a sweep computes them once, not once per frame.
    ``style_term(hw)`` replaces the plain style term (e.g. guided Grams per region).
    """
    s = settings
    c = _resize(content.to(device), hw)
    terms: list[Term] = [ContentTerm(content_targets(net, c, s.content_layers), s.content_weight)]
    if style_term is not None:
        return terms + [style_term(hw), TVTerm(s.tv_weight)]
    long_side = max(1, round(max(hw) * s.style_scale))
    key = (long_side, s.style_layers, s.style_blend, s.gram_norm)
    grams = style_cache.get(key) if style_cache is not None else None
    if grams is None:
        grams = style_targets(net, styles, s.style_layers, long_side=long_side,
                              blend=s.style_blend, norm=s.gram_norm, device=device)
        if style_cache is not None:
            style_cache[key] = grams
    terms.append(StyleTerm(grams, layer_weights(s.style_layers, s.style_layer_weights), s.style_weight, s.gram_norm))
    terms.append(TVTerm(s.tv_weight))
    return terms


def content_hw(content: torch.Tensor, size: int) -> tuple[int, int]:
    return scaled_hw(tuple(content.shape[-2:]), size)


def stylize_image(content: torch.Tensor, styles: Sequence[torch.Tensor], *, settings: Settings = Settings(),
                  device=None, net: VGGFeatures | None = None,
                  callback: Callable[[IterationInfo], None] | None = None,
                  extra_terms: Callable[[tuple[int, int]], list[Term]] | None = None,
                  init: str | torch.Tensor | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  style_cache: dict | None = None,
                  style_term: Callable[[tuple[int, int]], Term] | None = None,
                  transform: TransformFactory | None = None,
                  scale_optim: Sequence[OptimizerSettings] | None = None, carry: dict | None = None) -> RunResult:
    """Style transfer (Gatys et al. 2016): ``content`` painted in the style of ``styles``.

    ``content`` and each style are ``(1, 3, H, W)`` RGB in [0, 1]; the result has
    long side ``settings.size``. ``extra_terms(hw)`` adds terms (e.g. temporal)
    per scale; ``init`` overrides ``settings.init`` (an image tensor is resized);
    ``style_cache`` is kept by callers that run many frames with the same styles.
    ``style_term(hw)`` replaces the plain style term (``styles`` may then be
    empty) and ``transform(hw)`` reparametrises the pixels (see :func:`run_scales`);
    :mod:`vidstyle.spatial` builds both for masks and regions.
    """
    if not styles and style_term is None:
        raise VidstyleError("at least one style image is needed")
    settings, notes = resolve(settings)
    hw = content_hw(content, settings.size)
    check_size(hw, needed_layers(settings), aspect_of=tuple(content.shape[-2:]))
    if net is None:
        net = load_network(settings, needed_layers(settings), device=device)

    def make_terms(scale_hw):
        terms = stylize_terms(net, settings, content, styles, scale_hw, device, style_cache, style_term)
        return terms + (extra_terms(scale_hw) if extra_terms else [])

    return run_scales(net, make_terms, hw, settings, needed_layers(settings), content=content.to(device),
                      init=init, callback=callback, device=device, should_stop=should_stop, notes=notes,
                      transform=transform, scale_optim=scale_optim, carry=carry)


def reconstruct_image(content: torch.Tensor, *, layers: Sequence[str] | None = None,
                      settings: Settings = Settings(), device=None, net: VGGFeatures | None = None,
                      callback: Callable[[IterationInfo], None] | None = None) -> RunResult:
    """Content reconstruction (Mahendran and Vedaldi 2015; Gatys et al. 2016, fig. 1).

    Optimizes from ``settings.init`` (noise by default) so that the features at
    ``layers`` match those of ``content`` (default conv4_2, or conv3_2 when the
    weights stop earlier). No style or TV term, unless ``settings.tv_weight`` is set explicitly.
    """
    tv = settings.tv_weight or 0.0  # pure reconstruction unless asked
    note = None
    if layers is None:
        layers, note = fitting_layers(settings, defaults.RECONSTRUCT_LAYERS, defaults.SHALLOW_RECONSTRUCT_LAYERS,
                                      "layers")
    settings = replace(settings, content_layers=tuple(layers), style_layers=tuple(layers))
    settings, notes = resolve(settings)
    notes += [note] if note else []
    hw = content_hw(content, settings.size)
    if net is None:
        net = load_network(settings, list(layers), device=device)

    def make_terms(scale_hw):
        c = _resize(content.to(device), scale_hw)
        return [ContentTerm(content_targets(net, c, list(layers)), 1.0), TVTerm(tv)]

    return run_scales(net, make_terms, hw, settings, list(layers), content=content.to(device), callback=callback,
                      device=device, notes=notes)


def synthesize_texture(style: torch.Tensor | Sequence[torch.Tensor], *, size: tuple[int, int] = defaults.TEXTURE_SIZE,
                       layers: Sequence[str] | None = None, settings: Settings = Settings(),
                       device=None, net: VGGFeatures | None = None,
                       callback: Callable[[IterationInfo], None] | None = None) -> RunResult:
    """Texture synthesis (Gatys et al. 2015): match Gram matrices of ``layers`` from noise.

    ``size`` is the output (H, W); the style image is scaled so its long side is
    ``settings.style_scale`` x the output's long side. ``layers`` default to the
    style layers (relu1_1..relu5_1, or relu1_1..relu3_1 when the weights stop earlier).
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    note = None
    if layers is None:
        layers, note = fitting_layers(settings, defaults.TEXTURE_LAYERS, defaults.SHALLOW_STYLE_LAYERS, "layers")
    settings = replace(settings, content_layers=tuple(layers), style_layers=tuple(layers))
    settings, notes = resolve(settings)
    notes += [note] if note else []
    if min(size) <= 0:
        raise VidstyleError(f"texture size must be positive, got {size[1]}x{size[0]}")
    if net is None:
        net = load_network(settings, list(layers), device=device)
    lw = layer_weights(layers, settings.style_layer_weights)

    def make_terms(scale_hw):
        grams = style_targets(net, styles, list(layers), long_side=max(1, round(max(scale_hw) * settings.style_scale)),
                              blend=settings.style_blend, norm=settings.gram_norm, device=device)
        return [StyleTerm(grams, lw, 1.0, settings.gram_norm)]

    return run_scales(net, make_terms, tuple(size), settings, list(layers), callback=callback, device=device,
                      notes=notes)

