"""The still-image engine: settings, coarse-to-fine scales, and the run.

Every mode is "optimize an image against a list of weighted terms"
(:mod:`vidstyle.terms`): style transfer (content + style + TV), content
reconstruction (content only), texture synthesis (style only). Callers with
more to say (spatial control in :mod:`vidstyle.controls`, temporal terms in
:mod:`vidstyle.video.pipeline`) build their own term lists and call
:func:`run_scales`; :func:`stylize_image` is the convenience for the plain case.

Settings are resolved once, at the entry point, by :func:`resolve`: a
:class:`Settings` (what the user said, ``None`` = "the default for this mode")
becomes a frozen :class:`ResolvedSettings` with every value concrete.

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1] (DESIGN.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from vidstyle import defaults, precision
from vidstyle.errors import LayerError, SettingsError, VidstyleError
from vidstyle.imageio import load_image
from vidstyle.optimize import IterationInfo, OptimizeResult, OptimizerSettings, optimize
from vidstyle.tensors import check_image, resize
from vidstyle.terms import (
    ContentTerm,
    Parametrisation,
    Plain,
    StyleTerm,
    TargetCache,
    Term,
    TermsFactory,
    TVTerm,
    check_size,
    content_targets,
    layer_weights,
    style_targets,
)
from vidstyle.vgg import VGGFeatures, layer_index
from vidstyle.weights import WeightsSpec, build_features, deepest_available

# Re-exported: the engine's public API names them (README "Python API").
__all__ = ["ContentTerm", "MODES", "Objective", "ResolvedSettings", "RunResult", "Settings", "StyleTerm",
           "TVTerm", "TargetCache", "Term", "check_size", "content_targets", "layer_weights", "load_network",
           "reconstruct_image", "resolve", "run_scales", "style_targets", "stylize_image", "stylize_terms",
           "synthesize_texture"]

MODES = tuple(defaults.INIT_BY_MODE)  # image, reconstruct, texture, video


class Objective:
    """Sum of weighted terms, with one forward pass through the (truncated) network.

    ``precision`` (fp32, bf16, fp16) is that of the network only. Terms get its
    features as they come out (bf16 under bf16 autocast) and widen them to float32
    themselves (the losses of :mod:`vidstyle.losses` do), so Grams and losses
    accumulate in float32 while a Gram's products can run in bf16 GEMMs (float32
    sums, rounded once); every part must come back float32, and the image and
    its gradient are float32.
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
        parts = {t.name: t.weight * t(x, feats) for t in self.terms}
        narrow = [name for name, v in parts.items() if v.dtype != torch.float32]
        if narrow:
            raise TypeError(f"terms {narrow} returned a loss narrower than float32: widen the features first")
        return sum(parts.values()), parts  # type: ignore[return-value]


# -------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class Settings:
    """The options of a run as given (the CLI fills these from its flags).

    ``None`` means "the default for this mode", filled by :func:`resolve`: loss
    weights from the weight source (:func:`vidstyle.defaults.loss_weights`), layers
    the standard ones (or the shallow ones when the weights file stops early), the
    start image per mode (:data:`vidstyle.defaults.INIT_BY_MODE`).
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
    init: str | None = None  # "noise", "content" or an image path; None: per mode
    seed: int = defaults.SEED
    scales: str = defaults.SCALES
    precision: str = defaults.PRECISION  # of the network's forward/backward (vidstyle.precision)
    optim: OptimizerSettings = field(default_factory=OptimizerSettings)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weights"] = str(self.weights) if self.weights else None
        return d


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings a run uses, every one concrete (made by :func:`resolve`, once per run).

    ``weights`` None is the model's own file (the registry's), ``style_blend`` None
    equal weights over the given style images; ``precision`` may still be ``auto``,
    which needs the device (:func:`run_scales` decides it, the CLI earlier).
    ``notes`` are what resolving found worth telling the user (e.g. the shallow layers).
    """

    size: int
    model: str
    weights: Path | None
    pooling: str
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    gram_norm: str
    style_blend: tuple[float, ...] | None
    style_scale: float
    init: str
    seed: int
    scales: str
    precision: str
    optim: OptimizerSettings
    mode: str = "image"
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("notes")
        d.pop("mode")
        d["weights"] = str(self.weights) if self.weights else None
        return d


def validate(settings: Settings) -> None:
    """Raise :class:`SettingsError` (naming the parameter) for the first value out of range."""
    s = settings
    if s.size <= 0:
        raise SettingsError("size", f"must be > 0, got {s.size}")
    if s.model not in defaults.MODELS:
        raise SettingsError("model", f"{s.model!r}: expected one of {', '.join(defaults.MODELS)}")
    if s.pooling not in defaults.POOLINGS:
        raise SettingsError("pooling", f"{s.pooling!r}: expected max or avg")
    if s.gram_norm not in defaults.GRAM_NORMS:
        raise SettingsError("gram_norm", f"{s.gram_norm!r}: expected one of {', '.join(defaults.GRAM_NORMS)}")
    if s.style_scale <= 0:
        raise SettingsError("style_scale", f"must be > 0, got {s.style_scale}")
    for name in ("content_weight", "style_weight", "tv_weight"):
        value = getattr(s, name)
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise SettingsError(name, f"must be a finite number >= 0, got {value}")
    for layers in (s.content_layers or (), s.style_layers or ()):
        for layer in layers:
            layer_index(layer)
    lw, sl = s.style_layer_weights, s.style_layers
    if lw is not None and sl is not None and len(lw) != len(sl):
        raise SettingsError("style_layer_weights", f"has {len(lw)} values for {len(sl)} style layers")
    if s.precision not in defaults.PRECISIONS:
        raise SettingsError("precision", f"{s.precision!r}: expected one of {', '.join(defaults.PRECISIONS)}")
    # iterations > 0 is OptimizerSettings' own check (it cannot be built otherwise).


def fitting_layers(settings: Settings | ResolvedSettings, standard: Sequence[str], shallow: Sequence[str],
                   what: str) -> tuple[tuple[str, ...], str | None]:
    """The ``standard`` layers, or the ``shallow`` ones (with a note saying so) when the
    weights file stops before the deepest standard layer. Every mode's default layers
    go through here (from :func:`resolve`), so a partial file behaves the same in image,
    reconstruct, texture, sweep and video."""
    have = deepest_available(WeightsSpec(settings.model, settings.weights))
    if have is None or layer_index(max(standard, key=layer_index)) <= layer_index(have):
        return tuple(standard), None
    return tuple(shallow), f"{settings.weights} stops at {have}: using {what} {','.join(shallow)}"


def resolve(settings: Settings | ResolvedSettings, *, mode: str = "image",
            layers: Sequence[str] | None = None) -> tuple[ResolvedSettings, list[str]]:
    """Fill every default of ``mode`` (image, reconstruct, texture, video); return the
    frozen result and the notes worth telling the user (also in ``.notes``).

    * the start image: ``settings.init`` or the mode's (image/video: content; reconstruct/texture: noise);
    * loss weights from the weight source; reconstruction has no TV unless asked;
    * layers: ``layers`` (reconstruct/texture: the matched layers) or the given ones, else the
      standard ones of the mode, or the shallow ones when the weights file stops earlier (with a note).

    Already resolved settings come back as they are (so a helper may call this unconditionally).
    """
    if isinstance(settings, ResolvedSettings):
        return settings, list(settings.notes)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    validate(settings)
    notes: list[str] = []

    def default_layers(standard: Sequence[str], shallow: Sequence[str], what: str) -> tuple[str, ...]:
        chosen, note = fitting_layers(settings, standard, shallow, what)
        notes.extend([note] if note else [])
        return chosen

    if mode in ("reconstruct", "texture"):
        if layers is not None:
            matched = tuple(layers)
            for k in matched:
                layer_index(k)
        elif mode == "reconstruct":
            matched = default_layers(defaults.RECONSTRUCT_LAYERS, defaults.SHALLOW_RECONSTRUCT_LAYERS, "layers")
        else:
            matched = default_layers(defaults.TEXTURE_LAYERS, defaults.SHALLOW_STYLE_LAYERS, "layers")
        content_layers = style_layers = matched
    else:
        content_layers = settings.content_layers or default_layers(
            defaults.CONTENT_LAYERS, defaults.SHALLOW_CONTENT_LAYERS, "content layers")
        style_layers = settings.style_layers or default_layers(
            defaults.STYLE_LAYERS, defaults.SHALLOW_STYLE_LAYERS, "style layers")
    lw = settings.style_layer_weights
    if lw is not None and len(lw) != len(style_layers):
        raise SettingsError("style_layer_weights", f"has {len(lw)} values for {len(style_layers)} style layers")
    w = defaults.loss_weights(settings.model, settings.gram_norm)
    tv_default = 0.0 if mode == "reconstruct" else w.tv  # a reconstruction is pure unless asked
    resolved = ResolvedSettings(
        size=settings.size, model=settings.model, weights=settings.weights, pooling=settings.pooling,
        content_layers=tuple(content_layers), style_layers=tuple(style_layers),
        style_layer_weights=tuple(lw) if lw is not None else (1.0,) * len(style_layers),
        content_weight=w.content if settings.content_weight is None else float(settings.content_weight),
        style_weight=w.style if settings.style_weight is None else float(settings.style_weight),
        tv_weight=tv_default if settings.tv_weight is None else float(settings.tv_weight),
        gram_norm=settings.gram_norm, style_blend=settings.style_blend, style_scale=settings.style_scale,
        init=settings.init if settings.init is not None else defaults.INIT_BY_MODE[mode],
        seed=settings.seed, scales=settings.scales, precision=settings.precision, optim=settings.optim,
        mode=mode, notes=tuple(notes))
    return resolved, notes


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
        raise SettingsError("scales", f"{spec!r}: expected auto, none, a list like 128,256,512, or START:FACTOR "
                            "like 128:2") from None
    if not sizes or any(v <= 0 for v in sizes) or sizes != sorted(sizes):
        raise SettingsError("scales", f"{spec!r}: sizes must be positive and ascending")
    sizes = [v for v in sizes if v < size]
    return sizes + [size]


def scaled_hw(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    h, w = hw
    k = long_side / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))


def content_hw(content: torch.Tensor, size: int) -> tuple[int, int]:
    return scaled_hw((int(content.shape[-2]), int(content.shape[-1])), size)


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
    loss_passes: int = 0  # loss-only forward passes (each scale's last L-BFGS iteration), summed over scales

    def summary(self) -> str:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in self.terms.items())
        passes = f" and {self.loss_passes} loss-only" if self.loss_passes else ""
        return (f"{self.iterations} iterations ({self.evaluations} evaluations{passes}, {self.precision}) over "
                f"{len(self.scales)} scale(s) in {self.seconds:.1f}s; "
                f"stop: {self.stop_reason}; loss {self.loss:.4g} ({terms})")


def load_network(settings: Settings | ResolvedSettings, layers: Sequence[str], *, device=None, progress=None,
                 allow_download: bool = True) -> VGGFeatures:
    """Build the frozen VGG-19 for ``layers`` from the settings' weight source."""
    return build_features(WeightsSpec(settings.model, settings.weights), list(layers), pooling=settings.pooling,
                          device=device, progress=progress, allow_download=allow_download)


def noise_image(hw: tuple[int, int], seed: int, device=None) -> torch.Tensor:
    """Seeded white noise around mid-grey; the same on every device (drawn on the CPU)."""
    gen = torch.Generator().manual_seed(seed)
    img = 0.5 + defaults.NOISE_STD * torch.randn((1, 3, *hw), generator=gen)
    return img.clamp(0, 1).to(device)


def initial_image(init: str | torch.Tensor, hw: tuple[int, int], *, content: torch.Tensor | None,
                  seed: int, device) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        return resize(init.to(device), hw)
    if init == "noise":
        return noise_image(hw, seed, device)
    if init == "content":
        if content is None:
            raise SettingsError("init", "content needs a content image (texture synthesis has none)")
        return resize(content.to(device), hw)
    return resize(load_image(init, what="--init image").to(device), hw)


def run_scales(net: VGGFeatures, make_terms: TermsFactory, final_hw: tuple[int, int], settings: ResolvedSettings,
               layers: Sequence[str], *,
               content: torch.Tensor | None = None, init: str | torch.Tensor | None = None,
               callback: Callable[[IterationInfo], None] | None = None, device=None,
               should_stop: Callable[[], bool] | None = None, notes: Sequence[str] | None = None,
               param: Parametrisation | None = None,
               scale_optim: Sequence[OptimizerSettings] | None = None, carry: dict | None = None) -> RunResult:
    """Optimize the terms of ``make_terms(hw)`` coarse to fine: each scale starts from the
    upsampled result of the one before.

    ``param`` (default :class:`~vidstyle.terms.Plain`) maps the optimized pixels to the image the
    terms see and the run returns (e.g. :class:`~vidstyle.terms.MaskBlend`).
    ``layers`` are the deepest layers the terms read; scales too small for them are skipped.
    Coarse scales get ``settings.optim.coarse()`` (a short budget: they only lay out the picture),
    the final scale ``settings.optim``; ``scale_optim`` (optional, one per scale) replaces both;
    ``carry`` hands the optimizer's memory between runs (:func:`vidstyle.optimize.optimize`).
    ``notes`` default to the settings' own.
    """
    start = time.perf_counter()
    param = param if param is not None else Plain()
    notes = list(settings.notes if notes is None else notes)
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    choice = precision.choose(settings.precision, dev)  # "auto" already resolved by the CLI; else once per process
    if choice.requested == "auto":
        notes.append(choice.note())
    settings = replace(settings, precision=choice.precision)
    scaler = precision.make_scaler(choice.precision)
    sizes = [scaled_hw(final_hw, s) for s in parse_scales(settings.scales, max(final_hw))]
    sizes[-1] = (int(final_hw[0]), int(final_hw[1]))
    if scale_optim is not None and len(scale_optim) != len(sizes):
        raise ValueError(f"{len(scale_optim)} optimizer settings for {len(sizes)} scales")
    x = None
    history: list[dict] = []
    per_scale: list[dict] = []
    total_iters = 0
    total_evals = total_loss_passes = 0
    result: OptimizeResult | None = None
    t = None
    for i, hw in enumerate(sizes):
        try:  # before the terms: their targets need a forward pass at this size
            check_size(hw, layers)
        except VidstyleError:
            if i < len(sizes) - 1:  # a too-small coarse scale is skipped, not an error
                continue
            raise
        t = param.at(hw)
        objective = Objective(net, make_terms(hw), t, precision=choice.precision)
        x0 = initial_image(init if init is not None else settings.init, hw, content=content,
                           seed=settings.seed, device=device) if x is None else resize(x, hw)
        if scale_optim is not None:
            optim = scale_optim[i]
        else:
            optim = settings.optim if i == len(sizes) - 1 else settings.optim.coarse()
        result = optimize(objective, x0, optim, callback=callback, scale=i, scales=len(sizes),
                          clock_start=start, should_stop=should_stop, scaler=scaler, carry=carry)
        x = result.image
        total_iters += result.iterations
        total_evals += result.evaluations
        total_loss_passes += result.loss_passes
        history.extend(result.history)
        per_scale.append({"size": list(hw), "iterations": result.iterations, "evaluations": result.evaluations,
                          "loss_passes": result.loss_passes,
                          "stop_reason": result.stop_reason,
                          "loss": result.loss, "terms": result.terms, "seconds_end": result.seconds})
        if not result.finite or (should_stop is not None and should_stop()):
            break
    assert result is not None and x is not None
    if t is not None:
        with torch.no_grad():
            x = t(x).clamp(0, 1)
    return RunResult(image=x, iterations=total_iters, stop_reason=result.stop_reason, loss=result.loss,
                     terms=result.terms, seconds=time.perf_counter() - start, scales=per_scale, history=history,
                     settings=settings.to_dict(), notes=notes, finite=result.finite,
                     evaluations=total_evals, precision=choice.precision, loss_passes=total_loss_passes)


def needed_layers(settings: Settings | ResolvedSettings, *, content: bool = True, style: bool = True) -> list[str]:
    layers: set[str] = set()
    if content:
        layers |= set(settings.content_layers or ())
    if style:
        layers |= set(settings.style_layers or ())
    if not layers:
        raise LayerError("no layers to optimize against")
    return sorted(layers, key=layer_index)


def content_term(net: VGGFeatures, settings: ResolvedSettings, content: torch.Tensor, hw: tuple[int, int],
                 device=None) -> ContentTerm:
    """The content term of one scale: ``content`` resized to ``hw``, its features as targets."""
    dev = torch.device(device) if device is not None else content.device
    targets = content_targets(net, resize(content.to(dev), hw), settings.content_layers,
                              precision.choose(settings.precision, dev).precision)
    return ContentTerm(targets, settings.content_weight)


def style_term(net: VGGFeatures, settings: ResolvedSettings, styles: Sequence[torch.Tensor], hw: tuple[int, int],
               device=None, targets: TargetCache | None = None) -> StyleTerm:
    """The plain style term of one scale: Gram targets of ``styles`` at ``style_scale`` x the scale's long side."""
    s = settings
    long_side = max(1, round(max(hw) * s.style_scale))
    grams = (targets or style_targets)(net, styles, s.style_layers, long_side=long_side, blend=s.style_blend,
                                       norm=s.gram_norm, device=device)
    return StyleTerm(grams, layer_weights(s.style_layers, s.style_layer_weights), s.style_weight, s.gram_norm)


def stylize_terms(net: VGGFeatures, settings: ResolvedSettings, content: torch.Tensor,
                  styles: Sequence[torch.Tensor], hw: tuple[int, int], device=None,
                  targets: TargetCache | None = None) -> list[Term]:
    """Content + style + TV terms for one scale of a style-transfer run.

    ``targets`` (a :class:`~vidstyle.terms.TargetCache` the caller keeps) computes the Gram
    targets once for a video or a sweep, not once per frame or cell.
    """
    return [content_term(net, settings, content, hw, device), style_term(net, settings, styles, hw, device, targets),
            TVTerm(settings.tv_weight)]


def stylize_image(content: torch.Tensor, styles: Sequence[torch.Tensor], *,
                  settings: Settings | ResolvedSettings = Settings(), device=None, net: VGGFeatures | None = None,
                  callback: Callable[[IterationInfo], None] | None = None,
                  init: str | torch.Tensor | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  targets: TargetCache | None = None) -> RunResult:
    """Style transfer (Gatys et al. 2016): ``content`` painted in the style of ``styles``.

    ``content`` and each style are ``(1, 3, H, W)`` RGB in [0, 1]; the result has
    long side ``settings.size``. ``init`` overrides ``settings.init`` (an image tensor
    is resized); ``targets`` is kept by callers that run many images with the same styles.
    Masks, regions and temporal terms build their own term lists and call :func:`run_scales`
    (:mod:`vidstyle.controls`, :mod:`vidstyle.video.pipeline`).
    """
    if not styles:
        raise VidstyleError("at least one style image is needed")
    check_image(content, "content image", batch=1)
    for i, style in enumerate(styles):
        check_image(style, f"style image {i + 1}", batch=1)
    rs, _ = resolve(settings, mode="image")
    hw = content_hw(content, rs.size)
    layers = needed_layers(rs)
    check_size(hw, layers, aspect_of=(int(content.shape[-2]), int(content.shape[-1])))
    if net is None:
        net = load_network(rs, layers, device=device)
    content = content.to(device)

    def make_terms(scale_hw: tuple[int, int]) -> list[Term]:
        return stylize_terms(net, rs, content, styles, scale_hw, device, targets)

    return run_scales(net, make_terms, hw, rs, layers, content=content, init=init, callback=callback,
                      device=device, should_stop=should_stop)


def reconstruct_image(content: torch.Tensor, *, layers: Sequence[str] | None = None,
                      settings: Settings | ResolvedSettings = Settings(), device=None,
                      net: VGGFeatures | None = None,
                      callback: Callable[[IterationInfo], None] | None = None) -> RunResult:
    """Content reconstruction (Mahendran and Vedaldi 2015; Gatys et al. 2016, fig. 1).

    Optimizes from the start image (noise by default) so that the features at
    ``layers`` match those of ``content`` (default conv4_2, or conv3_2 when the
    weights stop earlier). No style term; no TV term unless ``settings.tv_weight`` is set.
    """
    check_image(content, "content image", batch=1)
    rs, _ = resolve(settings, mode="reconstruct", layers=layers)
    if layers is not None and isinstance(settings, ResolvedSettings):  # e.g. a sweep's column
        rs = replace(rs, content_layers=tuple(layers), style_layers=tuple(layers))
    matched = list(rs.content_layers)
    hw = content_hw(content, rs.size)
    if net is None:
        net = load_network(rs, matched, device=device)
    content = content.to(device)

    def make_terms(scale_hw: tuple[int, int]) -> list[Term]:
        targets = content_targets(net, resize(content, scale_hw), matched,
                                  precision.choose(rs.precision, content.device).precision)
        return [ContentTerm(targets, 1.0), TVTerm(rs.tv_weight)]

    return run_scales(net, make_terms, hw, rs, matched, content=content, callback=callback, device=device)


def synthesize_texture(style: torch.Tensor | Sequence[torch.Tensor], *, size: tuple[int, int] = defaults.TEXTURE_SIZE,
                       layers: Sequence[str] | None = None, settings: Settings | ResolvedSettings = Settings(),
                       device=None, net: VGGFeatures | None = None,
                       callback: Callable[[IterationInfo], None] | None = None,
                       should_stop: Callable[[], bool] | None = None,
                       targets: TargetCache | None = None) -> RunResult:
    """Texture synthesis (Gatys et al. 2015): match Gram matrices of ``layers`` from noise.

    ``size`` is the output (H, W); the style image is scaled so its long side is
    ``settings.style_scale`` x the output's long side. ``layers`` default to the
    style layers (relu1_1..relu5_1, or relu1_1..relu3_1 when the weights stop earlier).
    ``targets`` shares Gram targets across runs (a sweep's layer sets).
    """
    styles: list[torch.Tensor] = list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]
    for i, s in enumerate(styles):
        check_image(s, f"style image {i + 1}", batch=1)
    if min(size) <= 0:
        raise SettingsError("size", f"must be positive, got {size[1]}x{size[0]}")
    rs, _ = resolve(settings, mode="texture", layers=layers)
    if layers is not None and isinstance(settings, ResolvedSettings):  # e.g. a sweep's layer set
        rs = replace(rs, content_layers=tuple(layers), style_layers=tuple(layers),
                     style_layer_weights=(1.0,) * len(layers))
    matched = list(rs.style_layers)
    if net is None:
        net = load_network(rs, matched, device=device)
    lw = layer_weights(matched, rs.style_layer_weights)

    def make_terms(scale_hw: tuple[int, int]) -> list[Term]:
        long_side = max(1, round(max(scale_hw) * rs.style_scale))
        grams = (targets or style_targets)(net, styles, matched, long_side=long_side, blend=rs.style_blend,
                                           norm=rs.gram_norm, device=device)
        return [StyleTerm(grams, lw, 1.0, rs.gram_norm)]

    return run_scales(net, make_terms, (int(size[0]), int(size[1])), rs, matched, callback=callback, device=device,
                      should_stop=should_stop)
