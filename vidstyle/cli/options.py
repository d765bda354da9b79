"""Engine options shared by every command, declared once.

A command lists the options it takes as parameters annotated with these
aliases and turns them into a :class:`vidstyle.engine.Settings` with
:func:`engine_settings`. Defaults come from :mod:`vidstyle.defaults`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vidstyle import defaults
from vidstyle.cli.checks import option_name
from vidstyle.cli.common import parse_csv, parse_floats
from vidstyle.errors import SettingsError, VidstyleError

if TYPE_CHECKING:  # torch-backed: imported inside the functions at run time, after the argument checks
    import torch

    from vidstyle.engine import Settings

ENGINE = "Engine options"
LOSS = "Loss options"

Output = Annotated[Path, typer.Option("-o", "--output", help="Output file (not overwritten without -y).")]
Overwrite = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace the output if it exists.")]
Size = Annotated[int, typer.Option("--size", help="Long side of the output in pixels.", rich_help_panel=ENGINE)]
Iterations = Annotated[int, typer.Option("--iterations", help="Iterations per scale (the early stop may end sooner).",
                                         rich_help_panel=ENGINE)]
MinIterations = Annotated[int, typer.Option("--min-iterations", help="The early stop never fires before this.",
                                            rich_help_panel=ENGINE)]
Tol = Annotated[float, typer.Option("--tol", help="Early stop: mean relative loss decrease per iteration over "
                                    f"the last {defaults.TOL_WINDOW} iterations below this. 0 disables it.",
                                    rich_help_panel=ENGINE)]
Optimizer = Annotated[str, typer.Option("--optimizer", help="lbfgs (projected L-BFGS) or adam.",
                                        rich_help_panel=ENGINE)]
LearningRate = Annotated[float, typer.Option("--lr", help="Adam step size (pixels in [0, 1]).", rich_help_panel=ENGINE)]
Init = Annotated[str, typer.Option("--init", help="noise, content, or an image file.", rich_help_panel=ENGINE)]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the noise image (same seed, same output).",
                                   rich_help_panel=ENGINE)]
Scales = Annotated[str, typer.Option("--scales", help="Coarse-to-fine long sides: auto (halve from --size down to "
                                     f"{defaults.SCALE_MIN}), none, a list like 128,256,512, or START:FACTOR "
                                     "such as 128:2 or 128:sqrt2.", rich_help_panel=ENGINE)]
Precision = Annotated[str, typer.Option(
    "--precision", help="Arithmetic of the VGG network: auto (bf16 where a one-off check on this machine finds it "
    f"faster, remembered in $XDG_CACHE_HOME/{defaults.PRECISION_CACHE}; else fp32), fp32, bf16 (CPUs with "
    "AVX512-BF16/AMX, recent GPUs) or fp16 (CUDA GPUs, with loss scaling). The image, Grams and losses stay "
    "float32.", rich_help_panel=ENGINE)]
Device = Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda or mps.",
                                     rich_help_panel=ENGINE)]
Model = Annotated[str, typer.Option("--model", envvar="VIDSTYLE_MODEL",
                                    help="VGG-19 weights: original (default; the original Oxford VGG-19, 8-bit, "
                                    "bundled: nothing to download), caffe (the same in full precision; 548 MB "
                                    "download) or torchvision (IMAGENET1K_V1, RGB mean/std; 548 MB download). "
                                    "With --weights: the file's input convention. `vidstyle weights` lists them.",
                                    rich_help_panel=ENGINE)]
Weights = Annotated[Optional[Path], typer.Option("--weights", envvar="VIDSTYLE_WEIGHTS",
                                                 help="Local VGG-19 state dict (env VIDSTYLE_WEIGHTS); partial files "
                                                 "serve the layers they cover.", rich_help_panel=ENGINE)]
Pooling = Annotated[str, typer.Option("--pooling", help="max or avg.", rich_help_panel=ENGINE)]
Log = Annotated[Optional[Path], typer.Option("--log", help="Write settings and per-iteration losses/times as JSON.",
                                             rich_help_panel=ENGINE)]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")]

ContentWeight = Annotated[Optional[float], typer.Option("--content-weight", help="Default depends on --model.",
                                                        rich_help_panel=LOSS)]
StyleWeight = Annotated[Optional[float], typer.Option("--style-weight", help="Default depends on --model.",
                                                      rich_help_panel=LOSS)]
TVWeight = Annotated[Optional[float], typer.Option("--tv-weight", help="Total-variation weight.", rich_help_panel=LOSS)]
ContentLayers = Annotated[Optional[str], typer.Option("--content-layers",
                                                      help=f"Default {','.join(defaults.CONTENT_LAYERS)}.",
                                                      rich_help_panel=LOSS)]
StyleLayers = Annotated[Optional[str], typer.Option("--style-layers",
                                                    help=f"Default {','.join(defaults.STYLE_LAYERS)}.",
                                                    rich_help_panel=LOSS)]
StyleLayerWeights = Annotated[Optional[str], typer.Option("--style-layer-weights",
                                                          help="One weight per style layer (normalised to sum 1).",
                                                          rich_help_panel=LOSS)]
StyleBlend = Annotated[Optional[str], typer.Option("--style-blend", help="Blend weights of several style images, "
                                                   "e.g. 0.7,0.3.", rich_help_panel=LOSS)]
StyleScale = Annotated[float, typer.Option("--style-scale", help="Style image size relative to the output.",
                                           rich_help_panel=LOSS)]
GramNorm = Annotated[str, typer.Option("--gram-norm", help="Gram normalisation: chw (default), hw or none.",
                                       rich_help_panel=LOSS)]


# Library parameters whose flag is not "--" + the name with dashes (see user_message).
FLAGS = {"color_match": "--match", "styles": "STYLE", "content": "CONTENT"}


def user_message(exc: BaseException) -> str:
    """The one-line message of a user error, a library :class:`SettingsError` under its flag's
    name ("size must be > 0" -> "--size must be > 0"), so one check serves the API and the CLI."""
    if isinstance(exc, SettingsError):
        return f"{FLAGS.get(exc.param, option_name(exc.param))} {exc.detail}"
    return str(exc)


def engine_settings(*, size: int = defaults.SIZE, iterations: int = defaults.ITERATIONS,
                    min_iterations: int = defaults.MIN_ITERATIONS, tol: float = defaults.TOL,
                    optimizer: str = defaults.OPTIMIZER, lr: float = defaults.ADAM_LR, init: str | None = None,
                    seed: int = defaults.SEED, scales: str = defaults.SCALES, model: str = defaults.MODEL,
                    weights: Path | None = None, pooling: str = defaults.POOLING,
                    content_weight: float | None = None, style_weight: float | None = None,
                    tv_weight: float | None = None, content_layers: str | None = None,
                    style_layers: str | None = None, style_layer_weights: str | None = None,
                    style_blend: str | None = None, style_scale: float = defaults.STYLE_SCALE,
                    gram_norm: str = defaults.GRAM_NORM,
                    precision: str = defaults.PRECISION) -> Settings:
    """Build the engine's settings from raw CLI values (``None``: the mode's default, filled by
    :func:`vidstyle.engine.resolve`). Numbers were checked by :func:`vidstyle.cli.checks.check_numbers`;
    what is checked here needs no torch (names and files), so a refusal answers at once."""
    # Deferred: this module declares options for every command and must not import torch.
    from vidstyle.engine import Settings
    from vidstyle.optimize import OptimizerSettings

    if optimizer not in defaults.OPTIMIZERS:
        raise VidstyleError(f"--optimizer {optimizer!r}: expected lbfgs or adam")
    if precision not in defaults.PRECISIONS:
        raise VidstyleError(f"--precision {precision!r}: expected one of {', '.join(defaults.PRECISIONS)}")
    if weights is not None and not Path(weights).is_file():
        raise VidstyleError(f"--weights {weights}: no such file")
    if init is not None and init not in defaults.INITS and not Path(init).is_file():
        raise VidstyleError(f"--init {init!r}: expected noise, content or an existing image file")
    layer_w = parse_floats(style_layer_weights, option="--style-layer-weights") if style_layer_weights else None
    blend = parse_floats(style_blend, option="--style-blend") if style_blend else None
    return Settings(
        size=size, model=model, weights=Path(weights) if weights else None, pooling=pooling,
        content_layers=tuple(parse_csv(content_layers, option="--content-layers")) if content_layers else None,
        style_layers=tuple(parse_csv(style_layers, option="--style-layers")) if style_layers else None,
        style_layer_weights=tuple(layer_w) if layer_w else None,
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight, gram_norm=gram_norm,
        style_blend=tuple(blend) if blend else None, style_scale=style_scale, init=init, seed=seed, scales=scales,
        precision=precision,
        optim=OptimizerSettings(optimizer=optimizer, iterations=iterations, min_iterations=min_iterations,
                                tol=tol, lr=lr),
    )


def precision_cache_file() -> Path:
    """Where ``--precision auto`` keeps its per-machine decision."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / defaults.PRECISION_CACHE


def choose_precision(settings: Settings, device: torch.device) -> tuple[Settings, str]:
    """Settings with ``--precision`` resolved for ``device`` (auto: measured once per machine, cached),
    and for auto a line saying which (else ""); a precision the device lacks is a :class:`VidstyleError`."""
    from vidstyle import precision  # torch: deferred like every engine import here

    choice = precision.choose(settings.precision, device, cache_file=precision_cache_file())
    note = choice.note() if choice.requested == "auto" else ""
    return dataclasses.replace(settings, precision=choice.precision), note


# ------------------------------------- spatial and colour control (vidstyle.controls, vidstyle.masks, vidstyle.color)
SPATIAL = "Spatial and colour control"

StyleSpec = Annotated[Optional[list[str]], typer.Option(
    "--style", help="Style image, or STYLE:MASK for a region styled only where MASK is white; repeat for "
    "several regions (guided mode).", rich_help_panel=SPATIAL)]
Mask = Annotated[Optional[Path], typer.Option(
    "--mask", help="Style only where this mask is white, keep the content elsewhere. A mask of another size "
    "but the same aspect ratio is resized (with a warning); another aspect ratio is refused.",
    rich_help_panel=SPATIAL)]
MaskMode = Annotated[str, typer.Option(
    "--mask-mode", help="guided (Gatys et al. 2017 guided Gram matrices) or blend (composite stylized and "
    "content by the mask at every step).", rich_help_panel=SPATIAL)]
Guide = Annotated[str, typer.Option(
    "--guide", help="Mask-to-layer downsampling for guided mode: simple (resize), inside (receptive field wholly "
    "inside the region) or all (touching it).", rich_help_panel=SPATIAL)]
Colors = Annotated[str, typer.Option(
    "--colors", help="style (keep the style's colours), original (content's colours by a luminance swap after "
    "optimization), luminance (luminance-only transfer) or match (recolour the style to the content first).",
    rich_help_panel=SPATIAL)]
ColorMatch = Annotated[str, typer.Option(
    "--match", help="Colour matching for --colors match: pca, chol or sym.", rich_help_panel=SPATIAL)]
