"""``vidstyle flow``: precompute a video's optical flows and reliability masks into the flow cache.

Also writes, on request, a colour-wheel video of the forward flows, Middlebury
``.flo`` files and the masks as PNGs. The flow options are those of ``vidstyle
video`` and ``vidstyle evaluate`` (:mod:`vidstyle.cli.flow_options`), and so are
the frame size rule (never upscaled) and the default cache: run with the same
options as a later ``vidstyle video``, this fills that run's flow cache.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidstyle import defaults
from vidstyle.atomic import atomic_file
from vidstyle.cli import flow_options as fo
from vidstyle.cli import options as o
from vidstyle.cli.checks import (
    VIDEO_EXTENSIONS,
    Rule,
    check_extension,
    check_folder_option,
    check_numbers,
    check_video_size,
)
from vidstyle.cli.common import USER_ERRORS, check_output, console, fail, resolve_device
from vidstyle.cli.guard import out_of_memory
from vidstyle.errors import VidstyleError


def _check_dir(path: Path, overwrite: bool, option: str) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VidstyleError(f"{option} {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise VidstyleError(f"{option} {path} is not empty (use -y/--overwrite to write into it)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidstyleError(f"{option} {path}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise VidstyleError(f"{option} {path} is not writable")
    return path


def _save_mask_png(path: Path, mask) -> None:
    import cv2

    from vidstyle.imageio import to_uint8  # torch-backed, like the masks this is called with

    ok, png = cv2.imencode(".png", to_uint8(mask)[..., 0])  # (1, 1, H, W) -> H x W grey
    if not ok:
        raise VidstyleError(f"cannot encode {path}")
    with atomic_file(path) as fh:
        fh.write(png.tobytes())


def register(app: typer.Typer) -> None:
    @app.command("flow")
    def flow_cmd(
        video: Annotated[Path, typer.Argument(help="Input video.")],
        method: fo.Method = defaults.FLOW_METHOD,
        preset: fo.Preset = defaults.DIS_PRESET,
        size: Annotated[int, typer.Option("--size", help="Long side of the frames the flow is computed on, px "
                                          "(rounded to even, never above the source's: the rule of vidstyle "
                                          "video, so use the --size you will stylize at and its run finds these "
                                          "flows in the cache).", rich_help_panel=fo.FLOW)] = defaults.VIDEO_SIZE,
        visualize: Annotated[Optional[Path], typer.Option(
            "--visualize", help="Write the forward flows as a colour-wheel video (Baker et al. 2011).")] = None,
        save_flo: Annotated[Optional[Path], typer.Option(
            "--save-flo", help="Folder for Middlebury .flo files: forward_NNNNN.flo (frame N -> N+1) and "
            "backward_NNNNN.flo (frame N -> N-1).")] = None,
        masks: Annotated[Optional[Path], typer.Option(
            "--masks",
            help="Folder for reliability masks reliable_NNNNN.png of frame N w.r.t. N-1 (white = reliable).")] = None,
        cache_dir: fo.CacheDir = None,
        no_cache: fo.NoCache = False,
        flow_weights: fo.FlowWeights = None,
        device: o.Device = "auto",
        max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stop after this many frames.")] = None,
        overwrite: o.Overwrite = False,
        quiet: o.Quiet = False,
    ):
        """Compute forward/backward optical flow and reliability masks for every neighbouring frame pair
        of VIDEO into the flow cache (a second run is all cache hits), optionally exporting them."""
        try:
            if max_frames is not None and max_frames < 2:
                raise VidstyleError(f"--max-frames must be at least 2 (flow needs a pair), got {max_frames}")
            check_numbers(locals(), overrides={"size": Rule(16)})
            check_video_size(size)
            check_extension(visualize, "--visualize", VIDEO_EXTENSIONS)
            check_folder_option(save_flo, "--save-flo")
            check_folder_option(masks, "--masks")
            # Deferred until the arguments are checked: torch, OpenCV and PyAV take seconds to import.
            from flow import FlowVideoWriter, iter_flows, write_flo
            from vidstyle.video.decode import iter_frames, probe

            choice = fo.flow_choice(method, preset=preset, flow_weights=flow_weights, cache_dir=cache_dir,
                                    no_cache=no_cache)
            if visualize is not None:
                check_output(visualize, overwrite)
            flo_dir = _check_dir(save_flo, overwrite, "--save-flo") if save_flo is not None else None
            mask_dir = _check_dir(masks, overwrite, "--masks") if masks is not None else None
            info = probe(video)
            total_frames = info.frames
            if max_frames is not None:
                total_frames = min(total_frames or max_frames, max_frames)
            if total_frames is not None and total_frames < 2:
                raise VidstyleError(f"{video} has {total_frames} frame: flow needs at least 2")
            dev = resolve_device(device)
            backend = fo.build_backend(choice, device=dev, quiet=quiet)
            cache = fo.open_cache(choice)
            writer = FlowVideoWriter(visualize, fps=info.fps or 10) if visualize is not None else None
            pairs = full_hits = 0
            hw = (0, 0)  # the flows' height and width, from the first pair
            t0 = time.perf_counter()
            progress = Progress(
                TextColumn(f"[bold]flow {method}"), BarColumn(), MofNCompleteColumn(), TextColumn("pairs"),
                TextColumn("{task.fields[rate]} pairs/s"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=console, disable=quiet,
            )
            try:
                with progress:
                    task = progress.add_task("flow", total=(total_frames - 1) if total_frames else None, rate="-")
                    frames = (f.image for f in iter_frames(video, size=size, max_frames=max_frames))
                    for pf in iter_flows(frames, backend, cache):
                        t = pf.index
                        pairs += 1
                        full_hits += pf.cached
                        hw = (int(pf.flow_fw.shape[-2]), int(pf.flow_fw.shape[-1]))
                        if writer is not None:
                            writer.write(pf.flow_fw)
                        if flo_dir is not None:
                            write_flo(flo_dir / f"forward_{t - 1:05d}.flo", pf.flow_fw)
                            write_flo(flo_dir / f"backward_{t:05d}.flo", pf.flow_bw)
                        if mask_dir is not None:
                            _save_mask_png(mask_dir / f"reliable_{t:05d}.png", pf.mask)
                        dt = time.perf_counter() - t0
                        progress.update(task, completed=pairs, rate=f"{pairs / dt:.2f}" if dt > 0 else "-")
                if pairs and writer is not None:
                    writer.close()
            finally:
                if writer is not None:
                    writer.abort()  # no-op after close(); else removes the partial video
            if pairs == 0:
                raise VidstyleError(f"{video} has 1 frame: flow needs at least 2")
        except USER_ERRORS as exc:
            raise fail(o.user_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            message = out_of_memory(exc)
            if message is None:
                raise
            raise fail(message) from None
        seconds = time.perf_counter() - t0
        h, w = hw
        summary = f"{pairs} pairs at {w}x{h} with {method} in {seconds:.1f}s ({pairs / max(seconds, 1e-9):.2f} pairs/s)"
        if cache is not None:
            st = cache.stats
            summary += (f"; cache {cache.root}: {full_hits}/{pairs} pairs all hits, "
                        f"{st.hits} entries read, {st.writes} written")
            if st.healed:
                summary += f", {len(st.healed)} corrupt entries recomputed"
                for line in st.healed:
                    console.print(f"[yellow]warning:[/] recomputed corrupt cache entry {line}", soft_wrap=True)
        else:
            summary += "; no cache"
        console.print(f"[green]done[/]: {summary}", soft_wrap=True)
        outputs = [str(p) for p in (visualize, flo_dir, mask_dir) if p is not None]
        if outputs:
            console.print("wrote " + ", ".join(outputs), soft_wrap=True)
