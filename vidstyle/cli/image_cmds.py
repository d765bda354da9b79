"""Still-image commands: ``vidstyle image``, ``vidstyle reconstruct``, ``vidstyle texture``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vidstyle import defaults
from vidstyle.cli import options as o
from vidstyle.cli.checks import check_extension, check_input_file, check_numbers
from vidstyle.cli.common import USER_ERRORS, check_output, fail, parse_csv
from vidstyle.cli.guard import out_of_memory
from vidstyle.errors import VidstyleError

# torch, the engine and the image I/O live in vidstyle.cli.image_run, imported by each command after its
# arguments and files have been checked: a refused command line answers without paying their start-up.


def raise_if_out_of_memory(exc: BaseException) -> None:
    message = out_of_memory(exc)
    if message is not None:
        raise fail(message) from None


def check_still(params: dict, *, inputs: list[tuple[Path, str]], output: Path, log: Path | None,
                overwrite: bool) -> None:
    """Everything a still-image command can check without torch: numbers, inputs, output extensions."""
    check_numbers(params)
    check_extension(output, "-o", "image")
    check_extension(log, "--log", (".json",))
    for path, what in inputs:
        check_input_file(path, what)
    _check_outputs(output, log, overwrite)


def _check_outputs(output: Path, log: Path | None, overwrite: bool) -> None:
    check_output(output, overwrite)
    if log is not None:
        check_output(log, overwrite)


def register(app: typer.Typer) -> None:
    @app.command("image")
    def image_cmd(
        content: Annotated[Path, typer.Argument(help="Content image.")],
        output: o.Output,
        styles: Annotated[Optional[list[Path]], typer.Argument(help="One or more style images.")] = None,
        size: o.Size = defaults.SIZE,
        content_weight: o.ContentWeight = None,
        style_weight: o.StyleWeight = None,
        tv_weight: o.TVWeight = None,
        content_layers: o.ContentLayers = None,
        style_layers: o.StyleLayers = None,
        style_layer_weights: o.StyleLayerWeights = None,
        style_blend: o.StyleBlend = None,
        style_scale: o.StyleScale = defaults.STYLE_SCALE,
        gram_norm: o.GramNorm = defaults.GRAM_NORM,
        init: o.Init = defaults.INIT_BY_MODE["image"],
        iterations: o.Iterations = defaults.ITERATIONS,
        min_iterations: o.MinIterations = defaults.MIN_ITERATIONS,
        tol: o.Tol = defaults.TOL,
        optimizer: o.Optimizer = defaults.OPTIMIZER,
        lr: o.LearningRate = defaults.ADAM_LR,
        scales: o.Scales = defaults.SCALES,
        seed: o.Seed = defaults.SEED,
        device: o.Device = "auto",
        precision: o.Precision = defaults.PRECISION,
        model: o.Model = defaults.MODEL,
        weights: o.Weights = None,
        pooling: o.Pooling = defaults.POOLING,
        style_spec: o.StyleSpec = None,
        mask: o.Mask = None,
        mask_mode: o.MaskMode = defaults.MASK_MODE,
        guide: o.Guide = defaults.GUIDE,
        colors: o.Colors = defaults.COLORS,
        match: o.ColorMatch = defaults.COLOR_MATCH,
        log: o.Log = None,
        overwrite: o.Overwrite = False,
        quiet: o.Quiet = False,
    ):
        """Style transfer: paint CONTENT in the style of STYLE (Gatys et al. 2016)."""
        try:
            check_still(locals(), inputs=[(content, "content image")] + [(s, "style image") for s in styles or []],
                        output=output, log=log, overwrite=overwrite)
            settings = o.engine_settings(
                size=size, iterations=iterations, min_iterations=min_iterations, tol=tol, optimizer=optimizer,
                lr=lr, init=init, seed=seed, scales=scales, model=model, weights=weights, pooling=pooling,
                content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                content_layers=content_layers, style_layers=style_layers, style_layer_weights=style_layer_weights,
                style_blend=style_blend, style_scale=style_scale, gram_norm=gram_norm, precision=precision)
            from vidstyle.cli import image_run  # torch: only now (see the module's top)

            image_run.run_image(settings, content=content, styles=list(styles or []), style_spec=list(style_spec or []),
                                mask=mask, mask_mode=mask_mode, guide=guide, colors=colors, match=match,
                                output=output, log=log, device=device, quiet=quiet)
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            raise_if_out_of_memory(exc)
            raise

    @app.command("reconstruct")
    def reconstruct_cmd(
        content: Annotated[Path, typer.Argument(help="Image to reconstruct.")],
        output: o.Output,
        layers: Annotated[Optional[str], typer.Option(
            "--layers", help=f"Layer(s) whose features are matched. Default {','.join(defaults.RECONSTRUCT_LAYERS)} "
            f"({','.join(defaults.SHALLOW_RECONSTRUCT_LAYERS)} when --weights stops earlier).")] = None,
        diff: Annotated[bool, typer.Option("--diff", help="Also write OUT.diff.png: |result - content| x 4.")] = False,
        size: o.Size = defaults.SIZE,
        init: o.Init = defaults.INIT_BY_MODE["reconstruct"],
        iterations: o.Iterations = defaults.ITERATIONS,
        min_iterations: o.MinIterations = defaults.MIN_ITERATIONS,
        tol: o.Tol = defaults.TOL,
        optimizer: o.Optimizer = defaults.OPTIMIZER,
        lr: o.LearningRate = defaults.ADAM_LR,
        scales: o.Scales = defaults.SCALES,
        seed: o.Seed = defaults.SEED,
        tv_weight: o.TVWeight = None,
        device: o.Device = "auto",
        precision: o.Precision = defaults.PRECISION,
        model: o.Model = defaults.MODEL,
        weights: o.Weights = None,
        pooling: o.Pooling = defaults.POOLING,
        log: o.Log = None,
        overwrite: o.Overwrite = False,
        quiet: o.Quiet = False,
    ):
        """Content reconstruction: find an image whose features at --layers match CONTENT's."""
        try:
            check_still(locals(), inputs=[(content, "content image")], output=output, log=log, overwrite=overwrite)
            layer_list = parse_csv(layers, option="--layers") if layers is not None else None
            settings = o.engine_settings(size=size, iterations=iterations, min_iterations=min_iterations, tol=tol,
                                         optimizer=optimizer, lr=lr, init=init, seed=seed, scales=scales,
                                         model=model, weights=weights, pooling=pooling, tv_weight=tv_weight,
                                         precision=precision)
            diff_path = output.with_name(output.stem + ".diff.png")
            if diff:
                check_output(diff_path, overwrite)
            from vidstyle.cli import image_run  # torch: only now (see the module's top)

            image_run.run_reconstruct(settings, content=content, layers=layer_list,
                                      diff_path=diff_path if diff else None, output=output, log=log, device=device,
                                      quiet=quiet)
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            raise_if_out_of_memory(exc)
            raise

    @app.command("texture")
    def texture_cmd(
        style: Annotated[Path, typer.Argument(help="Texture/style image.")],
        output: o.Output,
        layers: Annotated[Optional[str], typer.Option(
            "--layers", help=f"Layers whose Gram matrices are matched. Default {','.join(defaults.TEXTURE_LAYERS)} "
            f"({','.join(defaults.SHALLOW_STYLE_LAYERS)} when --weights stops earlier).")] = None,
        size: Annotated[str, typer.Option("--size", help="Output WxH (e.g. 320x240) or N for NxN.")] =
        f"{defaults.TEXTURE_SIZE[1]}x{defaults.TEXTURE_SIZE[0]}",
        style_scale: o.StyleScale = defaults.STYLE_SCALE,
        gram_norm: o.GramNorm = defaults.GRAM_NORM,
        iterations: o.Iterations = defaults.ITERATIONS,
        min_iterations: o.MinIterations = defaults.MIN_ITERATIONS,
        tol: o.Tol = defaults.TOL,
        optimizer: o.Optimizer = defaults.OPTIMIZER,
        lr: o.LearningRate = defaults.ADAM_LR,
        scales: o.Scales = defaults.SCALES,
        seed: o.Seed = defaults.SEED,
        device: o.Device = "auto",
        precision: o.Precision = defaults.PRECISION,
        model: o.Model = defaults.MODEL,
        weights: o.Weights = None,
        pooling: o.Pooling = defaults.POOLING,
        log: o.Log = None,
        overwrite: o.Overwrite = False,
        quiet: o.Quiet = False,
    ):
        """Texture synthesis from noise (Gatys et al. 2015)."""
        try:
            hw = parse_wxh(size)
            check_still(locals(), inputs=[(style, "style image")], output=output, log=log, overwrite=overwrite)
            layer_list = parse_csv(layers, option="--layers") if layers is not None else None
            settings = o.engine_settings(size=max(hw), iterations=iterations, min_iterations=min_iterations,
                                         tol=tol, optimizer=optimizer, lr=lr, seed=seed,
                                         scales=scales, model=model, weights=weights, pooling=pooling,
                                         style_scale=style_scale, gram_norm=gram_norm, precision=precision)
            from vidstyle.cli import image_run  # torch: only now (see the module's top)

            image_run.run_texture(settings, style=style, hw=hw, layers=layer_list, output=output, log=log,
                                  device=device, quiet=quiet)
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            raise_if_out_of_memory(exc)
            raise


def parse_wxh(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (240, 320) as (H, W); ``"256"`` -> (256, 256)."""
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x", 1))
        else:
            w = h = int(text)
    except ValueError:
        raise VidstyleError(f"--size {text!r}: expected WxH like 320x240, or one number") from None
    if w <= 0 or h <= 0:
        raise VidstyleError(f"--size must be > 0, got {text}")  # a WxH text: the CLI's own parse
    return h, w
