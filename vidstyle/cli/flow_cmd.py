"""``vidstyle flow``: precompute a video's optical flows and reliability masks into the flow cache.

Also writes, on request, a colour-wheel video of the forward flows, Middlebury
``.flo`` files and the masks as PNGs. :func:`flow_backend_params` turns the
shared ``--method/--preset/--flow-weights`` options into ``get_backend`` keywords.
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
from vidstyle.cli import options as o
from vidstyle.cli.checks import (VIDEO_EXTENSIONS, Rule, check_extension, check_folder_option, check_numbers,
                                 check_video_size)
from vidstyle.cli.common import USER_ERRORS, check_output, console, fail, resolve_device
from vidstyle.cli.guard import out_of_memory
from vidstyle.cli.progress import download_progress
from vidstyle.errors import VidstyleError

FLOW = "Flow options"

METHOD_HELP = (
    "deepflow: OpenCV-contrib DeepFlow (CPU; it has no DeepMatching step, so it is weaker on large "
    "motion than the DeepFlow2 of Ruder et al.). dis: OpenCV DIS, the fast CPU option (see --preset). "
    "spynet: SPyNet in PyTorch, CPU or GPU; its public pretrained weights are for NON-COMMERCIAL RESEARCH "
    "ONLY (downloaded once into the torch hub cache, never bundled). raft: torchvision's RAFT-small."
)

Method = Annotated[str, typer.Option("--method", help=METHOD_HELP, rich_help_panel=FLOW)]
Preset = Annotated[str, typer.Option("--preset", help="DIS preset: ultrafast, fast or medium.", rich_help_panel=FLOW)]
FlowWeights = Annotated[Optional[str], typer.Option(
    "--flow-weights", help="spynet/raft weights: a local file, or a SPyNet model name (sintel-final, sintel-clean, "
    "chairs-final, chairs-clean, kitti-final; default sintel-final). SPyNet weights: non-commercial research only.",
    rich_help_panel=FLOW)]
CacheDir = Annotated[Optional[Path], typer.Option(
    "--cache-dir", help="Flow cache folder (default $XDG_CACHE_HOME/vidstyle/flow, i.e. ~/.cache/vidstyle/flow).",
    rich_help_panel=FLOW)]


def default_cache_dir() -> Path:
    """The per-user flow cache: ``$XDG_CACHE_HOME/vidstyle/flow`` (default ``~/.cache/vidstyle/flow``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / defaults.FLOW_CACHE_SUBDIR


def flow_backend_params(method: str, *, preset: str = defaults.DIS_PRESET, flow_weights: str | None = None,
                        quiet: bool = False) -> dict:
    """Keyword arguments for ``flow.get_backend(method, ...)`` from the CLI's flow options."""
    if method not in defaults.FLOW_METHODS:
        raise VidstyleError(f"--method {method!r}: expected one of {', '.join(defaults.FLOW_METHODS)}")
    if method == "dis":
        params: dict = {"preset": preset}
    elif preset != defaults.DIS_PRESET:
        raise VidstyleError(f"--preset is a DIS setting; --method {method} does not take it")
    else:
        params = {}
    if flow_weights is not None:
        if method not in ("spynet", "raft"):
            raise VidstyleError(f"--flow-weights is for spynet or raft; --method {method} has no weights")
        params["weights"] = flow_weights
    elif method == "spynet":
        params["weights"] = defaults.SPYNET_MODEL
    if method in ("spynet", "raft"):
        params["progress"] = download_progress(quiet)
    return params


def open_cache(cache_dir: Path | None, *, no_cache: bool):
    """The flow cache: an explicit unwritable ``--cache-dir`` is an error; an unwritable default
    folder is a warning and the run goes on without a cache."""
    from flow import FlowCache, FlowError

    if no_cache:
        return None
    if cache_dir is not None:
        return FlowCache(cache_dir)
    try:
        return FlowCache(default_cache_dir())
    except FlowError as exc:
        console.print(f"[yellow]warning:[/] {exc}; running without a flow cache (pass --cache-dir DIR)")
        return None


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
    import numpy as np

    arr = (mask[0, 0].clamp(0, 1).mul(255).round().to("cpu").numpy()).astype(np.uint8)
    ok, png = cv2.imencode(".png", arr)
    if not ok:
        raise VidstyleError(f"cannot encode {path}")
    with atomic_file(path) as fh:
        fh.write(png.tobytes())


def register(app: typer.Typer) -> None:
    @app.command("flow")
    def flow_cmd(
        video: Annotated[Path, typer.Argument(help="Input video.")],
        method: Method = defaults.FLOW_METHOD,
        preset: Preset = defaults.DIS_PRESET,
        size: Annotated[int, typer.Option("--size", help="Long side of the frames the flow is computed on, px "
                                          "(use the size you will stylize at, so the cache is reused).",
                                          rich_help_panel=FLOW)] = defaults.VIDEO_SIZE,
        visualize: Annotated[Optional[Path], typer.Option(
            "--visualize", help="Write the forward flows as a colour-wheel video (Baker et al. 2011).")] = None,
        save_flo: Annotated[Optional[Path], typer.Option(
            "--save-flo", help="Folder for Middlebury .flo files: forward_NNNNN.flo (frame N -> N+1) and "
            "backward_NNNNN.flo (frame N -> N-1).")] = None,
        masks: Annotated[Optional[Path], typer.Option(
            "--masks", help="Folder for reliability masks reliable_NNNNN.png of frame N w.r.t. N-1 (white = reliable).")] = None,
        cache_dir: CacheDir = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the flow cache.")] = False,
        flow_weights: FlowWeights = None,
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
            from flow import FlowVideoWriter, get_backend, iter_flows, write_flo
            from vidstyle.video.decode import iter_frames, probe

            params = flow_backend_params(method, preset=preset, flow_weights=flow_weights, quiet=quiet)
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
            backend = get_backend(method, device=dev, **params)
            cache = open_cache(cache_dir, no_cache=no_cache)
            writer = FlowVideoWriter(visualize, fps=info.fps or 10) if visualize is not None else None
            pairs = full_hits = 0
            shape = None
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
                        shape = pf.flow_fw.shape
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
            raise fail(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - only out-of-memory becomes a user error
            message = out_of_memory(exc)
            if message is None:
                raise
            raise fail(message) from None
        seconds = time.perf_counter() - t0
        h, w = shape[-2:]
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
