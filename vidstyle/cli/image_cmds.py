"""Still-image commands: ``vidstyle image``, ``vidstyle reconstruct``, ``vidstyle texture``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from vidstyle import defaults
from vidstyle.cli import options as o
from vidstyle.cli.checks import check_extension, check_input_file, check_numbers
from vidstyle.cli.common import USER_ERRORS, check_output, console, fail, parse_csv, resolve_device
from vidstyle.cli.guard import guard_memory, out_of_memory
from vidstyle.cli.progress import RunProgress, download_progress, environment, graceful_interrupt, write_json
from vidstyle.errors import VidstyleError

# torch, the engine and the image I/O are imported inside each command, after its arguments and
# files have been checked: a refused command line answers without paying their start-up.


def network_for(settings, layers: list[str], device, quiet: bool):
    """Load VGG-19 for ``layers``, drawing a download bar if the weights must be fetched."""
    from vidstyle.engine import load_network

    return load_network(settings, layers, device=device, progress=download_progress(quiet))


def guard_still(content: Path, size: int, layers, device, settings, styles) -> None:
    """The memory guard of a still image, sized from the content file's header (nothing decoded yet)."""
    from vidstyle.memory import image_header_size, scaled

    hw = image_header_size(content)
    if hw is not None:  # an unreadable file is reported by the loader
        guard_memory(scaled(hw, size), layers, device=device, optimizer=settings.optim.optimizer,
                     style_paths=styles, style_scale=settings.style_scale)


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


def finish(result, output: Path, *, log: Path | None, command: str, extra: dict | None = None) -> None:
    """Save, log, print the one-line summary; a non-finite run ends with exit code 2."""
    from vidstyle.imageio import save_image

    save_image(result.image, output)
    if log is not None:
        write_json(log, {"command": command, "output": str(output), "iterations": result.iterations,
                         "stop_reason": result.stop_reason, "seconds": result.seconds, "loss": result.loss,
                         "terms": result.terms, "scales": result.scales, "settings": result.settings,
                         "history": result.history, "notes": result.notes, "environment": environment(),
                         **(extra or {})})
    if not result.finite:
        raise fail(f"{result.stop_reason}: wrote the last finite image to {output}")
    console.print(f"[green]wrote {output}[/]: {result.summary()}")


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
        init: o.Init = defaults.IMAGE_INIT,
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
            # Deferred until the arguments are checked (torch takes seconds to import).
            from vidstyle.engine import needed_layers, resolve, stylize_image
            from vidstyle.imageio import load_image
            from vidstyle.spatial import load_controls

            dev = resolve_device(device)
            settings, precision_note = o.choose_precision(settings, dev)
            if precision_note and not quiet:
                console.print(f"[dim]{precision_note}[/]")
            settings, notes = resolve(settings)
            guard_still(content, settings.size, needed_layers(settings), dev, settings, styles or [])
            content_img = load_image(content, what="content image")
            style_imgs = [load_image(s, what="style image") for s in styles or []]
            # Spatial and colour control (vidstyle.spatial): masks, regions, --colors; warnings are not errors.
            controls = load_controls(content_img, style_imgs, style_specs=style_spec or [], mask=mask,
                                     mask_mode=mask_mode, guide=guide, colors=colors, color_match=match,
                                     style_blend=settings.style_blend)
            for note in controls.notes:
                console.print(f"[yellow]warning:[/] {note}")
            for note in notes:
                console.print(f"[dim]{note}[/]")
            net = network_for(settings, needed_layers(settings), dev, quiet)
            with graceful_interrupt() as stop, RunProgress("stylize", quiet=quiet) as bar:
                result = stylize_image(controls.content, controls.styles, settings=settings, device=dev, net=net,
                                       callback=bar, should_stop=stop, **controls.engine_hooks(net, settings, dev))
            result.image = controls.postprocess(result.image)
            finish(result, output, log=log, command="image",
                   extra={"content": str(content), "styles": [str(s) for s in styles or []] + list(style_spec or []),
                          "mask": str(mask) if mask else None, "mask_mode": mask_mode, "guide": guide,
                          "colors": colors, "match": match, "device": str(dev)})
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None
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
        init: o.Init = defaults.INIT,
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
            # Deferred until the arguments are checked (torch takes seconds to import).
            from vidstyle.engine import reconstruct_image
            from vidstyle.imageio import load_image, save_image

            layer_list = default_layers(layer_list, settings, defaults.RECONSTRUCT_LAYERS,
                                        defaults.SHALLOW_RECONSTRUCT_LAYERS, quiet)
            dev = resolve_device(device)
            settings, precision_note = o.choose_precision(settings, dev)
            if precision_note and not quiet:
                console.print(f"[dim]{precision_note}[/]")
            guard_still(content, settings.size, layer_list, dev, settings, [])
            content_img = load_image(content, what="content image")
            net = network_for(replace(settings, content_layers=tuple(layer_list)), layer_list, dev, quiet)
            with RunProgress("reconstruct", quiet=quiet) as bar:
                result = reconstruct_image(content_img, layers=layer_list, settings=settings, device=dev, net=net,
                                           callback=bar)
            if diff:
                save_image(amplified_difference(result.image, content_img), diff_path)
            finish(result, output, log=log, command="reconstruct",
                   extra={"content": str(content), "layers": layer_list, "device": str(dev)})
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None
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
                                         tol=tol, optimizer=optimizer, lr=lr, init="noise", seed=seed,
                                         scales=scales, model=model, weights=weights, pooling=pooling,
                                         style_scale=style_scale, gram_norm=gram_norm, precision=precision)
            # Deferred until the arguments are checked (torch takes seconds to import).
            from vidstyle.engine import synthesize_texture
            from vidstyle.imageio import load_image

            layer_list = default_layers(layer_list, settings, defaults.TEXTURE_LAYERS, defaults.SHALLOW_STYLE_LAYERS,
                                        quiet)
            dev = resolve_device(device)
            settings, precision_note = o.choose_precision(settings, dev)
            if precision_note and not quiet:
                console.print(f"[dim]{precision_note}[/]")
            guard_memory(hw, layer_list, device=dev, optimizer=settings.optim.optimizer, style_paths=[style],
                         style_scale=settings.style_scale)
            style_img = load_image(style, what="style image")
            net = network_for(settings, layer_list, dev, quiet)
            with RunProgress("texture", quiet=quiet) as bar:
                result = synthesize_texture(style_img, size=hw, layers=layer_list, settings=settings, device=dev,
                                            net=net, callback=bar)
            finish(result, output, log=log, command="texture",
                   extra={"style": str(style), "layers": layer_list, "device": str(dev)})
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            raise_if_out_of_memory(exc)
            raise


def default_layers(given: list[str] | None, settings, standard, shallow, quiet: bool) -> list[str]:
    """The user's --layers, else the standard ones, or the shallow ones when --weights stops early."""
    if given is not None:
        return given
    from vidstyle.engine import fitting_layers

    layers, note = fitting_layers(settings, standard, shallow, "layers")
    if note and not quiet:
        console.print(f"[dim]{note}[/]")
    return list(layers)


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
        raise VidstyleError(f"--size must be > 0, got {text}")
    return h, w


def amplified_difference(result, content, gain: float = 4.0):
    """|result - content| x gain as an image (content resized to the result)."""
    import torch.nn.functional as F

    from vidstyle.imageio import to_uint8

    c = F.interpolate(content.to(result.device), size=result.shape[-2:], mode="bilinear", align_corners=False,
                      antialias=True)
    return to_uint8(((result - c).abs() * gain).clamp(0, 1))
