"""``vidstyle sweep --over MODE``: one setting varied over values, as a labelled contact
sheet plus JSON and Markdown tables of final losses, iterations and seconds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vidstyle import defaults
from vidstyle.atomic import write_json, write_text
from vidstyle.cli import options as o
from vidstyle.cli.checks import check_folder_option, check_input_file, check_numbers
from vidstyle.cli.common import USER_ERRORS, check_output, console, fail, resolve_device
from vidstyle.cli.guard import guard_memory, out_of_memory
from vidstyle.cli.progress import download_progress, environment, graceful_interrupt
from vidstyle.errors import VidstyleError

SHEET, JSON, MARKDOWN, CELLS = "sheet.png", "results.json", "results.md", "cells"


class SweepProgress:
    """Two bars: runs done out of the sweep (rate, ETA) and the current run's iterations."""

    def __init__(self, total: int, *, quiet: bool):
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                           TimeRemainingColumn(), console=console, disable=quiet)
        self._runs = self._p.add_task("runs", total=total, info="")
        self._iters: TaskID | None = None
        self._t0 = time.perf_counter()

    def __enter__(self):
        self._p.__enter__()
        return self

    def __exit__(self, *exc):
        self._p.__exit__(*exc)

    def on_cell(self, index: int, cell) -> None:
        self._p.update(self._runs, completed=index, info=f"{cell.row_label} / {cell.col_label}")
        if self._iters is not None:
            self._p.remove_task(self._iters)
        self._iters = self._p.add_task("  iterations", total=cell.settings.optim.iterations, info="")
        self._t0 = time.perf_counter()

    def __call__(self, info) -> None:
        assert self._iters is not None, "on_cell comes before the run's iterations"
        dt = time.perf_counter() - self._t0
        rate = f"{info.iteration / dt:.1f} it/s" if dt > 0 else ""
        scale = f" scale {info.scale + 1}/{info.scales}" if info.scales > 1 else ""
        self._p.update(self._iters, completed=info.iteration, total=info.iterations,
                       info=f"{rate}{scale} loss {info.loss:.4g}")

    def done(self, count: int) -> None:
        self._p.update(self._runs, completed=count, info="")


def split_values(raw: list[str] | None, mode: str) -> list[str] | None:
    """``--values`` as typed (repeatable) -> items: commas separate values, except for
    ``style-layers`` where each occurrence (or ``;``-separated part) is one layer set."""
    if raw is None:
        return None
    sep = ";" if mode == "style-layers" else ","
    items = [part.strip() for v in raw for part in v.split(sep) if part.strip()]
    if not items:
        raise VidstyleError("--values: empty list")
    return items


def input_paths(over: str, images: list[Path], styles: list[Path]) -> tuple[list[Path], list[Path]]:
    """(contents, styles) of a sweep: with --style every IMAGE is a content; without it the first IMAGE
    is the content and the rest are styles; ``style-layers`` takes styles only."""
    if over == "style-layers":
        return [], images + styles
    if over == "content-layers" or styles or over == "grid":
        if over == "grid" and not styles:
            raise VidstyleError("--over grid: give the contents as IMAGES and each style with --style")
        return images, styles
    return images[:1], images[1:]


def write_results(result, outdir: Path, *, cell: int, device, save_image, cell_filename) -> None:
    """Each run's image, the contact sheet, results.json and results.md (every file atomic)."""
    for r in result.results:
        save_image(r.image, outdir / CELLS / cell_filename(r.cell))
    save_image(result.sheet(cell), outdir / SHEET)
    payload = result.to_json()
    for rec, r in zip(payload["runs"], result.results):
        rec["file"] = f"{CELLS}/{cell_filename(r.cell)}"
    payload.update({"settings": result.plan.cells[0].settings.to_dict(), "device": str(device),
                    "environment": environment()})
    write_json(outdir / JSON, payload)
    write_text(outdir / MARKDOWN, f"# vidstyle sweep --over {result.plan.mode}\n\n" + result.markdown())


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep_cmd(
        over: Annotated[str, typer.Option("--over", help=f"What to vary: {', '.join(defaults.SWEEP_MODES)}.")],
        outdir: Annotated[Path, typer.Option("-o", "--output", help=f"Output folder (created): {SHEET}, {JSON}, "
                                             f"{MARKDOWN} and {CELLS}/ with each run's image.")],
        images: Annotated[Optional[list[Path]], typer.Argument(
            help="Content images (style images for style-layers). Without --style, CONTENT STYLE [STYLE...].")]
        = None,
        style: Annotated[Optional[list[Path]], typer.Option(
            "--style", help="Style image (repeat); with --style every IMAGE is a content.")] = None,
        values: Annotated[Optional[list[str]], typer.Option(
            "--values", help="Values to sweep, comma-separated (or repeated): layers, weights, iteration counts, "
            "seeds, inits. For style-layers one layer set per --values (or ';'-separated), e.g. "
            "'relu1_1;relu1_1,relu2_1'. Default: per mode (README).")] = None,
        cell: Annotated[int, typer.Option("--cell", help="Long side of a sheet cell, px.")] = defaults.SWEEP_CELL,
        size: o.Size = defaults.SWEEP_SIZE,
        content_weight: o.ContentWeight = None,
        style_weight: o.StyleWeight = None,
        tv_weight: o.TVWeight = None,
        content_layers: o.ContentLayers = None,
        style_layers: o.StyleLayers = None,
        style_layer_weights: o.StyleLayerWeights = None,
        style_blend: o.StyleBlend = None,
        style_scale: o.StyleScale = defaults.STYLE_SCALE,
        gram_norm: o.GramNorm = defaults.GRAM_NORM,
        init: Annotated[Optional[str], typer.Option(
            "--init", help="noise, content or an image file. Default: content for style transfer, noise for "
            "reconstruction, texture and seeds.", rich_help_panel=o.ENGINE)] = None,
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
        overwrite: o.Overwrite = False,
        quiet: o.Quiet = False,
    ):
        """Compare settings side by side: layers, weights, seeds, inits, or every content x style."""
        try:
            check_numbers(locals())
            check_folder_option(outdir, "-o")
            for path in list(images or []) + list(style or []):
                check_input_file(path, "image")
            # Deferred until the arguments are checked (torch takes seconds to import).
            from vidstyle.engine import load_network
            from vidstyle.imageio import load_image, save_image
            from vidstyle.sweep import cell_filename, plan_sweep, run_sweep

            if over not in defaults.SWEEP_MODES:
                raise VidstyleError(f"--over {over!r}: expected one of {', '.join(defaults.SWEEP_MODES)}")
            value_list = split_values(values, over)
            if cell < 16:
                raise VidstyleError(f"--cell must be >= 16 px, got {cell}")
            # init None: each run's mode decides (vidstyle.engine.resolve; reconstruction, texture and seeds: noise)
            settings = o.engine_settings(
                size=size, iterations=iterations, min_iterations=min_iterations, tol=tol, optimizer=optimizer,
                lr=lr, init=init, seed=seed, scales=scales, model=model, weights=weights,
                pooling=pooling, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                content_layers=content_layers, style_layers=style_layers, style_layer_weights=style_layer_weights,
                style_blend=style_blend, style_scale=style_scale, gram_norm=gram_norm, precision=precision)
            # every run of the sweep at the same precision, decided before the plan copies the settings
            settings, precision_note = o.choose_precision(settings, resolve_device(device))
            if precision_note and not quiet:
                console.print(f"[dim]{precision_note}[/]")
            content_paths, style_paths = input_paths(over, list(images or []), list(style or []))

            def named(paths, what):
                return [(p.stem, load_image(p, what=what)) for p in paths]

            first = (content_paths or style_paths)[:1]
            if first:  # before any image is decoded: sized from the first image's header, at full depth
                from vidstyle.memory import image_header_size, scaled

                hw = image_header_size(first[0])
                if hw is not None:
                    full = list(defaults.STYLE_LAYERS) + list(defaults.CONTENT_LAYERS)
                    guard_memory(scaled(hw, settings.size), full, device=resolve_device(device),
                                 optimizer=settings.optim.optimizer,
                                 style_paths=style_paths[:1], style_scale=settings.style_scale)
            plan = plan_sweep(over, contents=named(content_paths, "content image"),
                              styles=named(style_paths, "style image"), values=value_list, settings=settings)
            outdir = Path(outdir)
            if outdir.exists() and not outdir.is_dir():
                raise VidstyleError(f"{outdir} exists and is not a folder")
            if not outdir.parent.exists():
                raise VidstyleError(f"output folder {outdir.parent} does not exist")
            targets = [outdir / n for n in (SHEET, JSON, MARKDOWN)] + [outdir / CELLS / cell_filename(c)
                                                                       for c in plan.cells]
            for path in targets:
                if path.exists() and not overwrite:
                    raise VidstyleError(f"{path} already exists (use -y/--overwrite to replace it)")
            (outdir / CELLS).mkdir(parents=True, exist_ok=True)
            check_output(outdir / JSON, True)  # the folder is writable
            for note in plan.notes:
                console.print(f"[dim]{note}[/]")
            dev = resolve_device(device)
            net = load_network(plan.cells[0].settings, plan.layers, device=dev, progress=download_progress(quiet))
            with graceful_interrupt() as stop, SweepProgress(len(plan.cells), quiet=quiet) as bar:
                result = run_sweep(plan, net=net, device=dev, on_cell=bar.on_cell, callback=bar, should_stop=stop)
                bar.done(len(result.results))
            if not result.results:
                raise VidstyleError("interrupted before the first run finished: nothing written")
            write_results(result, outdir, cell=cell, device=dev, save_image=save_image, cell_filename=cell_filename)
            done = f"{len(result.results)}/{len(plan.cells)} runs"
            console.print(f"[green]wrote {outdir / SHEET}[/], {JSON}, {MARKDOWN}: {done} in {result.seconds:.1f}s, "
                          f"{result.targets_computed} style target computation(s)")
            if len(result.results) < len(plan.cells):
                raise fail(f"interrupted: wrote the {done} that finished")
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            message = out_of_memory(exc)
            if message is None:
                raise
            raise fail(message) from None
