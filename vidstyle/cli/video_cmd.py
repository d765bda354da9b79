"""``vidstyle video`` (temporally consistent video style transfer) and ``vidstyle evaluate`` (E_temp)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidstyle import defaults
from vidstyle.atomic import write_json
from vidstyle.cli import flow_options as fo
from vidstyle.cli import options as o
from vidstyle.cli.checks import check_extension, check_input_file, check_numbers, check_video_size
from vidstyle.cli.common import USER_ERRORS, check_output, console, fail, parse_csv, resolve_device
from vidstyle.cli.guard import check_work_dir, guard_memory, out_of_memory, work_dir_summary
from vidstyle.cli.progress import environment, graceful_interrupt
from vidstyle.errors import VidstyleError
from vidstyle.video.outputs import check_output_path, normalise_output, remove_stale_partials

if TYPE_CHECKING:  # torch and PyAV: imported at run time only once the command line is checked
    import torch

    from vidstyle.engine import ResolvedSettings
    from vidstyle.video.decode import VideoInfo
    from vidstyle.video.pipeline import VideoSettings

VIDEO = "Video options"
PARALLEL = "Parallel runs (Ray)"


class VideoProgress:
    """Rich display of a video run: frames done/total, s/frame, ETA, the current frame's loss and last stop reason."""

    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet
        self._p = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[now]}"), console=console, disable=quiet, transient=False)
        self._task = None
        self._passes = 1
        self._frames = None
        self._t0 = 0.0
        self._done = 0
        self._current = ""
        self._last = ""

    def __enter__(self):
        self._p.__enter__()
        return self

    def __exit__(self, *exc):
        self._p.__exit__(*exc)

    def start(self, *, frames, passes, size, resumed):
        self._passes, self._frames = passes, frames
        total = frames * passes if frames else None
        self._t0 = time.perf_counter()
        self._task = self._p.add_task(f"video {size[1]}x{size[0]}", total=total, rate="- s/frame", now="")

    def frame_start(self, *, pass_, index, iterations):
        p = f" pass {pass_}/{self._passes}" if self._passes > 1 else ""
        self._current = f"frame {index}{p}"
        self._p.update(self._task, now=f"{self._current} starting")

    def iteration(self, info):  # vidstyle.optimize.IterationInfo
        self._p.update(self._task, now=f"{self._current} it {info.iteration}/{info.iterations} "
                                        f"loss {info.loss:.4g} | {self._last}")

    def frame_done(self, report):
        if report.resumed:
            self._p.advance(self._task)
            self._t0 = time.perf_counter()  # the rate counts this run's frames only
            return
        self._done += 1
        rate = (time.perf_counter() - self._t0) / self._done
        reason = report.stop_reason.split(":")[0]
        shot = " (new shot)" if report.shot_start and report.position > 0 else ""
        self._last = f"frame {report.index}: {report.iterations} its, {reason}{shot}"
        self._p.update(self._task, advance=1, rate=f"{rate:.2f} s/frame", now=self._last)

    def encoding(self, frames):
        self._p.update(self._task, now=f"encoding {frames} frames")


def _video_settings(*, size, iterations, first_iterations, min_iterations, tol, optimizer, lr, seed, scales, model,
                    weights, pooling, content_weight, style_weight, tv_weight, content_layers, style_layers,
                    style_layer_weights, style_blend, style_scale, gram_norm, init, temporal_weight, long_term,
                    passes, shot_threshold, method, start, duration, max_frames, codec, crf, preview,
                    mask=None, mask_mode=defaults.MASK_MODE, guide=defaults.GUIDE, colors=defaults.COLORS,
                    match=defaults.COLOR_MATCH, precision=defaults.PRECISION):
    from vidstyle.video.pipeline import VideoSettings

    if preview is not None:
        if preview <= 0:
            raise VidstyleError(f"--preview must be > 0 frames, got {preview}")
        size = min(size, defaults.PREVIEW_SIZE)
        first_iterations = min(first_iterations, defaults.PREVIEW_FIRST_ITERATIONS)
        iterations = min(iterations, defaults.PREVIEW_ITERATIONS)
        max_frames = min(max_frames, preview) if max_frames else preview
    es = o.engine_settings(size=size, iterations=iterations, min_iterations=min_iterations, tol=tol,
                           optimizer=optimizer, lr=lr, seed=seed, scales=scales, model=model,
                           weights=weights, pooling=pooling, content_weight=content_weight, style_weight=style_weight,
                           tv_weight=tv_weight, content_layers=content_layers, style_layers=style_layers,
                           style_layer_weights=style_layer_weights, style_blend=style_blend, style_scale=style_scale,
                           gram_norm=gram_norm, precision=precision)
    # --tol and --min-iterations are the warm-start early stop of later frames; frame 0 keeps the still-image rule.
    es = dataclasses.replace(es, optim=dataclasses.replace(es.optim, min_iterations=defaults.MIN_ITERATIONS,
                                                           tol=defaults.TOL))
    try:
        lt = tuple(sorted({int(v) for v in parse_csv(long_term, option="--long-term")}))
    except ValueError:
        raise VidstyleError(f"--long-term {long_term!r}: expected frame distances like 1,2,4") from None
    vs = VideoSettings(engine=es, first_iterations=first_iterations, init=init, temporal_weight=temporal_weight,
                       long_term=lt, passes=passes, shot_threshold=shot_threshold, method=method, start=start,
                       duration=duration, max_frames=max_frames, codec=codec, crf=crf,
                       mask=str(mask) if mask is not None else None, mask_mode=mask_mode, guide=guide, colors=colors,
                       color_match=match, frame_min_iterations=min_iterations, frame_tol=tol)
    vs.validate()
    return vs


def check_mask_fits(mask: Path, hw: tuple[int, int]) -> None:
    """Refuse a --mask of another aspect ratio before any work (its header or probe, nothing decoded)."""
    import torch

    from vidstyle.masks import fit_mask
    from vidstyle.memory import image_header_size

    size = image_header_size(mask)
    if size is None:  # a mask video
        from vidstyle.video.decode import probe

        info = probe(mask)
        size = (info.height, info.width)
    fit_mask(torch.zeros(1, 1, *size), hw, what=f"mask {mask}")


def _frame_hw(output_size, info, size: int) -> tuple[int, int]:
    w, h = output_size(info.width, info.height, size)
    return h, w


# -- the steps of `vidstyle video`, in the order they run -------------------------------------------


@dataclass
class _Run:
    """What the set-up of a ``vidstyle video`` run decided (the rest of the command works from it)."""

    info: VideoInfo  # of the input
    vs: VideoSettings  # precision chosen for the device
    es: ResolvedSettings  # of ``vs.engine``
    notes: list[str]
    flow: fo.FlowChoice
    out: Path
    work_root: Path
    device: torch.device


def _check_command_line(input: Path, styles: list[Path], *, size: int | None, mask: Path | None,
                        log: Path | None, output: str | None, codec: str, overwrite: bool) -> Path | None:
    """The checks that need no heavy library (files, extensions, outputs); the output path if given."""
    check_video_size(size)
    check_input_file(input, "video")
    for s in styles:
        check_input_file(s, "style image")
    if mask is not None:
        check_input_file(mask, "--mask")
    check_extension(log, "--log", (".json",))
    if log is not None:
        check_output(log, overwrite)
    out = normalise_output(output) if output is not None else None
    if out is not None:
        check_output_path(out, codec=codec, overwrite=overwrite)
    return out


def _prepare(input: Path, styles: list[Path], info: VideoInfo, vs: VideoSettings, flow_opts: fo.FlowChoice, *,
             out: Path | None, codec: str, overwrite: bool, work_dir: Path | None, device: str, quiet: bool,
             preview: bool) -> _Run:
    """Output and work folder, device, flow backend (weights fetched now) and precision."""
    from vidstyle.engine import resolve
    from vidstyle.video.pipeline import default_output, default_work_dir

    if out is None:
        out = default_output(input, styles, preview=preview)
        check_output_path(out, codec=codec, overwrite=overwrite)
    work_root = Path(work_dir) if work_dir is not None else default_work_dir(out)
    check_work_dir(work_root, out)
    for stale in remove_stale_partials(out):
        console.print(f"[dim]removed {escape(str(stale))}, left by a run killed while encoding[/]", soft_wrap=True)
    dev = resolve_device(device)
    # Built once here, before any long work: downloads spynet/raft weights (with a bar) and checks a
    # --flow-weights file; the run then builds its own from the same plain parameters.
    fo.build_backend(flow_opts, device=dev, quiet=quiet)
    engine, precision_note = o.choose_precision(vs.engine, dev)
    vs = dataclasses.replace(vs, engine=engine)
    es, notes = resolve(vs.engine, mode="video")
    if precision_note:
        notes.append(precision_note)
    return _Run(info=info, vs=vs, es=es, notes=notes, flow=flow_opts, out=out, work_root=work_root, device=dev)


def _check_fits(run: _Run, input: Path, styles: list[Path], *, mask: Path | None, start: float,
                restart: bool) -> None:
    """Refusals that need the input's size: --start past the end, a mask of another shape, too little memory."""
    from vidstyle.engine import needed_layers
    from vidstyle.video.decode import output_size
    from vidstyle.video.workdir import unfinished_manifest

    info, es = run.info, run.es
    width, height = output_size(info.width, info.height, run.vs.engine.size)
    if info.duration is not None and start >= info.duration:
        raise VidstyleError(f"--start {start:g}: the video {input} is only {info.duration:.2f}s long")
    if mask is not None:
        check_mask_fits(mask, (height, width))
    guard_memory((height, width), needed_layers(es), device=run.device, optimizer=es.optim.optimizer,
                 style_paths=styles, style_scale=es.style_scale, video=True,
                 sizes_for=lambda n: _frame_hw(output_size, info, n))
    if unfinished_manifest(run.work_root) and not restart:
        console.print(f"[dim]work dir {escape(str(run.work_root))} holds no finished frame: this run's "
                      "settings replace the earlier run's[/]", soft_wrap=True)


def _stylize(run: _Run, input: Path, style_imgs: list, *, restart: bool, overwrite: bool, quiet: bool,
             measure: bool):
    """The sequential run, with a progress display; E_temp of the result when ``measure`` (for --log)."""
    from vidstyle.cli.image_run import network_for
    from vidstyle.engine import needed_layers
    from vidstyle.video.pipeline import measure_temporal, stylize_video

    net = network_for(run.es, needed_layers(run.es), run.device, quiet)
    with graceful_interrupt() as stop, VideoProgress(quiet=quiet) as bar:
        result = stylize_video(input, style_imgs, output=run.out, settings=run.vs, device=run.device, net=net,
                               work_dir=run.work_root, restart=restart, cache_dir=run.flow.cache_dir,
                               overwrite=overwrite, observer=bar, should_stop=stop, flow_params=run.flow.params)
    report = None
    if measure and result.frames >= 2 and result.output is not None:
        report = measure_temporal(result, input, run.vs, device=run.device, cache_dir=run.flow.cache_dir,
                                  flow_params=run.flow.params)
    return result, report


def _write_log(log: Path, run: _Run, input: Path, styles: list[Path], result, report) -> None:
    """The --log JSON of a sequential run."""
    flow_opts = run.flow
    write_json(log, {
        "command": "video", "input": str(input), "styles": [str(s) for s in styles],
        "output": str(result.output) if result.output else None, "work_dir": str(result.work_dir),
        "frames": result.frames, "stylized": result.stylized, "resumed": result.resumed,
        "seconds": result.seconds, "seconds_per_frame": result.seconds_per_frame,
        "stylize_seconds": result.stylize_seconds, "flow_seconds": result.flow_seconds,
        "flow_cache": {"dir": str(flow_opts.cache_dir) if flow_opts.cache_dir else None,
                       "hits": result.flow_hits, "misses": result.flow_misses},
        "flow": {"method": flow_opts.method, "params": flow_opts.params},
        "stop_reason": result.stop_reason, "settings": result.settings, "notes": result.notes,
        "temporal": report.to_dict() if report else None,
        "frame_reports": [vars(r) for r in result.reports], "device": str(run.device),
        "environment": environment()})


def _finish(result, report, *, keep_work: bool) -> None:
    """How the run ended: interrupted (exit 130), stopped by a decode error (exit 2), or the summary."""
    if result.stop_reason == "interrupted":
        console.print(f"[yellow]interrupted[/]: {result.frames} frames seen, finished ones kept in "
                      f"{result.work_dir}; run the same command again to continue")
        raise typer.Exit(130)
    if result.decode_error:
        raise fail(f"{result.decode_error}; stylized the {result.frames} frames before it into "
                   f"{result.output} (work dir {result.work_dir} kept)")
    console.print(f"[green]wrote {result.output}[/]: {result.summary()}"
                  + (f"; {report.summary()}" if report else ""))
    console.print(work_dir_summary(result.work_dir, keep=keep_work, cache_inside=False), soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("video")
    def video_cmd(
        input: Annotated[Path, typer.Argument(help="Input video (any container/codec FFmpeg reads).")],
        styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
        output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output video (.mp4/.mkv/.mov), or "
                                                      "PNG frames: a folder/ (trailing slash) or a pattern like "
                                                      "frames/%05d.png; default <input>.<style>.mp4 beside the "
                                                      "input. Never overwritten without -y.")] = None,
        size: Annotated[Optional[int], typer.Option("--size", help="Long side of the stylized frames (rounded to "
                                                    f"even; default {defaults.VIDEO_SIZE}); never above the source's "
                                                    "long side (no upscaling).", rich_help_panel=VIDEO)] = None,
        start: Annotated[float, typer.Option("--start", help="Start at this second of the input.",
                                             rich_help_panel=VIDEO)] = 0.0,
        duration: Annotated[Optional[float], typer.Option("--duration", help="Seconds to stylize.",
                                                          rich_help_panel=VIDEO)] = None,
        max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stylize at most this many frames.",
                                                          rich_help_panel=VIDEO)] = None,
        init: Annotated[str, typer.Option("--init", help="Start of each later frame: prev-warped-all (the previous "
                                          "result warped by the flow, everywhere inside the frame: Ruder et al.), "
                                          "prev-warped (warped where the mask trusts the flow, the frame "
                                          "elsewhere), prev, content or noise.",
                                          rich_help_panel=VIDEO)] = defaults.VIDEO_INIT,
        temporal_weight: Annotated[Optional[float], typer.Option("--temporal-weight", help="Weight of the temporal "
                                                                 "loss on [0,1] pixels (default: derived, see README).",
                                                                 rich_help_panel=VIDEO)] = None,
        first_iterations: Annotated[int, typer.Option("--first-iterations", help="Iterations of frame 0 and of "
                                                      "each new shot, per scale of --scales (the early stop may end "
                                                      "sooner).", rich_help_panel=VIDEO)] = defaults.FIRST_ITERATIONS,
        iterations: Annotated[int, typer.Option("--iterations", help="Iterations of each later frame "
                                                "(one scale; the early stop may end sooner).",
                                                rich_help_panel=VIDEO)] = defaults.FRAME_ITERATIONS,
        long_term: Annotated[str, typer.Option("--long-term", help="Earlier frames the temporal loss uses, e.g. "
                                               "1,2,4 (masks combined closest first).", rich_help_panel=VIDEO)] =
        ",".join(map(str, defaults.LONG_TERM)),
        passes: Annotated[int, typer.Option("--passes", help="Multi-pass (Ruder et al. 2018): passes in "
                                            "alternating directions.", rich_help_panel=VIDEO)] = defaults.PASSES,
        shot_threshold: Annotated[float, typer.Option("--shot-threshold", help="A frame with a smaller reliable "
                                                      "fraction starts a new shot (no warped init, no temporal "
                                                      "loss).", rich_help_panel=VIDEO)] = defaults.SHOT_THRESHOLD,
        codec: Annotated[str, typer.Option("--codec", help="libx264 (default), libx265 or ffv1 (lossless, .mkv).",
                                           rich_help_panel=VIDEO)] = defaults.VIDEO_CODEC,
        crf: Annotated[int, typer.Option("--crf", help="x264/x265 quality (0-51, lower is better).",
                                         rich_help_panel=VIDEO)] = defaults.VIDEO_CRF,
        preview: Annotated[Optional[int], typer.Option("--preview", help="Quick look: the first N frames at "
                                                       f"{defaults.PREVIEW_SIZE} px with fewer iterations.",
                                                       rich_help_panel=VIDEO)] = None,
        work_dir: Annotated[Optional[Path], typer.Option("--work-dir", help="Finished frames and manifest "
                                                         "(default <output>.work); rerun to resume.",
                                                         rich_help_panel=VIDEO)] = None,
        restart: Annotated[bool, typer.Option("--restart", help="Discard the work dir's frames and start over.",
                                              rich_help_panel=VIDEO)] = False,
        keep_work: Annotated[bool, typer.Option("--keep-work/--no-keep-work", help="Keep the work dir after a "
                                                "finished video (the same command then re-encodes without "
                                                "restyling; flows live in the flow cache, not here). --no-keep-work "
                                                "removes it once the video is written.", rich_help_panel=VIDEO)]
        = True,
        method: fo.Method = defaults.FLOW_METHOD,
        preset: fo.Preset = defaults.DIS_PRESET,
        flow_weights: fo.FlowWeights = None,
        cache_dir: fo.CacheDir = None,
        no_cache: fo.NoCache = False,
        workers: Annotated[Optional[int], typer.Option("--workers", help="Chunk-parallel run on a local Ray "
                                                       "cluster of N workers (needs Ray: the 'ray' extra).",
                                                       rich_help_panel=PARALLEL)] = None,
        ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Join this Ray cluster "
                                                           "(HOST:PORT or auto) instead of starting one.",
                                                           rich_help_panel=PARALLEL)] = None,
        chunk_length: Annotated[Optional[int], typer.Option("--chunk-length", help="Frames per chunk (default: "
                                                            "one chunk per worker, at most "
                                                            f"{defaults.CHUNK_LENGTH}).", rich_help_panel=PARALLEL)]
        = None,
        seam_overlap: Annotated[int, typer.Option("--seam-overlap", help="Frames re-run after each seam, "
                                                  "cross-fading from the chunk before.", rich_help_panel=PARALLEL)]
        = defaults.SEAM_OVERLAP,
        content_weight: o.ContentWeight = None,
        style_weight: o.StyleWeight = None,
        tv_weight: o.TVWeight = None,
        content_layers: o.ContentLayers = None,
        style_layers: o.StyleLayers = None,
        style_layer_weights: o.StyleLayerWeights = None,
        style_blend: o.StyleBlend = None,
        style_scale: o.StyleScale = defaults.STYLE_SCALE,
        gram_norm: o.GramNorm = defaults.GRAM_NORM,
        min_iterations: Annotated[int, typer.Option(
            "--min-iterations", help="Later frames: the early stop never fires before this (frame 0 and new shots "
            f"use the still-image {defaults.MIN_ITERATIONS}).",
            rich_help_panel=o.ENGINE)] = defaults.FRAME_MIN_ITERATIONS,
        tol: Annotated[float, typer.Option(
            "--tol", help="Later frames: stop once the whole loss (temporal term included) falls by less than this "
            f"per iteration, on average over the last {defaults.FRAME_TOL_WINDOW}; 0 disables it. Frame 0 and new "
            f"shots use the still-image {defaults.TOL:g} over {defaults.TOL_WINDOW}.", rich_help_panel=o.ENGINE)]
        = defaults.FRAME_TOL,
        optimizer: o.Optimizer = defaults.OPTIMIZER,
        lr: o.LearningRate = defaults.ADAM_LR,
        scales: Annotated[str, typer.Option("--scales", help="Coarse-to-fine scales of frame 0 and new shots "
                                            "(auto, none, 128,256,...); later frames run at full size.",
                                            rich_help_panel=o.ENGINE)] = defaults.VIDEO_SCALES,
        mask: Annotated[Optional[Path], typer.Option(
            "--mask", help="Style only where this mask is white: an image (every frame) or a mask video (one mask "
            "per frame). Same aspect ratio as the video (resized with a warning).", rich_help_panel=o.SPATIAL)] = None,
        mask_mode: o.MaskMode = defaults.MASK_MODE,
        guide: o.Guide = defaults.GUIDE,
        colors: o.Colors = defaults.COLORS,
        match: o.ColorMatch = defaults.COLOR_MATCH,
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
        """Stylize a video with temporal consistency (Ruder et al. 2016/2018), keeping its timing and audio."""
        try:
            # Everything that needs no heavy library first: a refused command line answers at once.
            check_numbers(locals())
            out = _check_command_line(input, styles, size=size, mask=mask, log=log, output=output, codec=codec,
                                      overwrite=overwrite)
            # Deferred until the arguments are checked: torch, OpenCV and PyAV take seconds to import.
            from vidstyle.video.decode import probe

            info = probe(input)  # a bad input fails here, before the network is loaded
            if size is None:
                size = min(defaults.VIDEO_SIZE, max(info.width, info.height))
            vs = _video_settings(
                size=size, iterations=iterations, first_iterations=first_iterations, min_iterations=min_iterations,
                tol=tol, optimizer=optimizer, lr=lr, seed=seed, scales=scales, model=model, weights=weights,
                pooling=pooling, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                content_layers=content_layers, style_layers=style_layers, style_layer_weights=style_layer_weights,
                style_blend=style_blend, style_scale=style_scale, gram_norm=gram_norm, init=init,
                temporal_weight=temporal_weight, long_term=long_term, passes=passes, shot_threshold=shot_threshold,
                method=method, start=start, duration=duration, max_frames=max_frames, codec=codec, crf=crf,
                preview=preview, mask=mask, mask_mode=mask_mode, guide=guide, colors=colors, match=match,
                precision=precision)
            flow_opts = fo.flow_choice(method, preset=preset, flow_weights=flow_weights, cache_dir=cache_dir,
                                       no_cache=no_cache)
            run = _prepare(input, styles, info, vs, flow_opts, out=out, codec=codec, overwrite=overwrite,
                           work_dir=work_dir, device=device, quiet=quiet, preview=preview is not None)
            parallel = workers is not None or ray_address is not None  # Ray only then (vidstyle.cli.parallel_video)
            if parallel:
                from vidstyle.cli.parallel_video import check_options

                check_options(workers=workers, ray_address=ray_address, chunk_length=chunk_length,
                              seam_overlap=seam_overlap, max_frames=max_frames)
            _check_fits(run, input, styles, mask=mask, start=start, restart=restart)
            from vidstyle.imageio import load_image

            style_imgs = [load_image(s, what="style image") for s in styles]
            for note in run.notes:
                console.print(f"[dim]{note}[/]")
            if parallel:  # reconstructed call (see vidstyle.cli.parallel_video.main)
                from vidstyle.cli.parallel_video import main as parallel_main

                parallel_main(input, styles, style_imgs, out=run.out, vs=run.vs, work_root=run.work_root,
                              restart=restart, overwrite=overwrite, quiet=quiet, workers=workers,
                              ray_address=ray_address, chunk_length=chunk_length, seam_overlap=seam_overlap,
                              device=run.device, log=log, keep_work=keep_work, flow_params=run.flow.params,
                              cache_dir=run.flow.cache_dir)
                return
            result, report = _stylize(run, input, style_imgs, restart=restart, overwrite=overwrite, quiet=quiet,
                                      measure=log is not None)
            if log is not None:
                _write_log(log, run, input, styles, result, report)
            _finish(result, report, keep_work=keep_work)
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is turned into a user error here
            message = out_of_memory(exc)
            if message is None:
                raise
            raise fail(f"{message}; finished frames are kept in the work dir: run the same command again "
                       "(or with a smaller --size) to continue") from None

    @app.command("evaluate")
    def evaluate_cmd(
        stylized: Annotated[Path, typer.Argument(help="Stylized video.")],
        source: Annotated[Path, typer.Option("--source", help="The video it was made from.")],
        start: Annotated[float, typer.Option("--start", help="Where in the source the stylized video starts (s).")]
        = 0.0,
        max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Measure the first N frames.")] = None,
        seams: Annotated[Optional[str], typer.Option("--seams", help="Frames where chunks of a parallel run meet, "
                                                     "e.g. 12,13,14,15 (its --log's parallel.seam_frames): their "
                                                     "errors are reported apart.")] = None,
        method: fo.Method = defaults.FLOW_METHOD,
        preset: fo.Preset = defaults.DIS_PRESET,
        flow_weights: fo.FlowWeights = None,
        cache_dir: fo.CacheDir = None,
        no_cache: fo.NoCache = False,
        device: o.Device = "auto",
        log: o.Log = None,
        overwrite: o.Overwrite = False,
    ):
        """Temporal error E_temp of STYLIZED (flow and masks from the source, computed with the flow options of
        the video run, whose cache they share) and its flash score."""
        try:
            check_numbers(locals())
            check_input_file(stylized, "video")
            check_input_file(source, "--source")
            check_extension(log, "--log", (".json",))
            if log is not None:
                check_output(log, overwrite)
            try:  # a parallel run's seam frames (vidstyle.video.chunks), reported apart
                seam_frames = sorted({int(v) for v in parse_csv(seams, option="--seams")}) if seams else []
            except ValueError:
                raise VidstyleError(f"--seams {seams!r}: expected frame numbers like 12,13,14") from None
            flow_opts = fo.flow_choice(method, preset=preset, flow_weights=flow_weights, cache_dir=cache_dir,
                                       no_cache=no_cache)
            # Deferred until the arguments are checked: torch, OpenCV and PyAV take seconds to import.
            from flow import FlowEngine
            from vidstyle.video.evaluate import evaluate_video

            dev = resolve_device(device)
            engine = FlowEngine(fo.build_backend(flow_opts, device=dev), fo.open_cache(flow_opts))
            report = evaluate_video(stylized, source, engine, start=start, max_frames=max_frames)
            typer.echo(f"E_temp {report.e_temp:.6e}")
            typer.echo(f"flash {report.flash:.3f} (worst frame {report.worst_frame})")
            seam = {}
            if seam_frames:
                from vidstyle.video.chunks import seam_ratio, seam_summary

                errors = {i + 1: e for i, e in enumerate(report.errors)}
                typer.echo(seam_summary(errors, seam_frames))
                seam = {"seam_frames": seam_frames, "seam_ratio": seam_ratio(errors, seam_frames)}
            if log is not None:
                write_json(log, {"command": "evaluate", "stylized": str(stylized), "source": str(source),
                                 "method": method, "flow_params": flow_opts.params, **report.to_dict(), **seam})
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
