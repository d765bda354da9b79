"""``vidstyle video --workers N | --ray-address ADDR``: the chunk-parallel run (vidstyle.video.parallel).

Kept out of video_cmd.py so that a normal run never imports any of it; Ray
itself is imported only by :mod:`vidstyle.video.parallel`, when called.
"""

from __future__ import annotations

import importlib.util
import time

from rich.live import Live
from rich.table import Table

from vidstyle.cli.common import console
from vidstyle.errors import VidstyleError


def check_options(*, workers: int | None, ray_address: str | None, chunk_length: int | None, seam_overlap: int,
                  max_frames: int | None) -> None:
    """Refusals that need no heavy import (the caller turns them into one line and exit 2)."""
    from vidstyle.video.chunks import check_chunking  # numpy only

    if workers is not None and workers < 1:
        raise VidstyleError(f"--workers must be >= 1, got {workers}")
    if workers is not None and max_frames is not None and workers > max_frames:
        raise VidstyleError(f"--workers {workers} is more than the {max_frames} frames to stylize")
    if ray_address is not None and not ray_address.strip():
        raise VidstyleError("--ray-address: expected HOST:PORT or auto")
    check_chunking(chunk_length, seam_overlap)
    try:
        missing = importlib.util.find_spec("ray") is None
    except ValueError:  # sys.modules["ray"] is None: blocked
        missing = True
    if missing:
        from vidstyle.video.parallel import INSTALL_HINT

        raise VidstyleError(INSTALL_HINT)  # the CLI prints error messages as text (cli.common.fail escapes them)


class WorkerTable:
    """One rich display: a row per worker (task, frame, s/frame) and the overall ETA."""

    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet
        self._live = Live(Table(), console=console, refresh_per_second=4, transient=False) if not quiet else None
        self._t0 = time.perf_counter()
        self._head = ""

    def __enter__(self):
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)

    def start(self, *, frames, chunks, seams, workers, resumed):
        self._head = f"{frames} frames, {chunks} chunks, {seams} seam(s), {workers} workers"
        self._t0 = time.perf_counter()
        if resumed:
            self._head += f", {resumed} task(s) finished earlier"
        if self.quiet:
            return
        console.print(f"[bold]parallel run[/]: {self._head}")

    def update(self, rows, done, total):
        if self._live is None:
            return
        elapsed = time.perf_counter() - self._t0
        eta = f"{elapsed / done * (total - done):.0f}s" if done else "-"
        table = Table(title=f"{done}/{total} tasks, {elapsed:.0f}s elapsed, ETA {eta}", title_justify="left")
        for col in ("worker", "task", "frame", "s/frame"):
            table.add_column(col)
        for name, row in sorted(rows.items()):
            spf = row.get("s_per_frame")
            table.add_row(name, row.get("task", ""), str(row.get("frame", "")), f"{spf:.2f}" if spf else "-")
        self._live.update(table)

    def encoding(self, frames):
        if self._live is not None:
            self._live.stop()  # the table's last state stays above this line
            if not console.is_terminal:  # rich leaves a non-terminal's last line open after the table
                console.line()
        if not self.quiet:
            console.print(f"encoding {frames} frames")


def main(input, styles, style_imgs, *, out, vs, work_root, restart, overwrite, quiet, workers, ray_address,
         chunk_length, seam_overlap, device, log, keep_work: bool = True, flow_params: dict | None = None,
         cache_dir=None) -> None:
    """The parallel ``vidstyle video``: run, write --log, print the summary (exit 130 when interrupted)."""
    import typer
    from rich.markup import escape

    from vidstyle.atomic import write_json
    from vidstyle.cli.guard import work_dir_summary
    from vidstyle.cli.progress import environment, graceful_interrupt

    payload = {"command": "video", "input": str(input), "styles": [str(s) for s in styles], "device": str(device),
               "environment": environment()} if log is not None else None
    with graceful_interrupt() as stop:
        result = run(input, style_imgs, out=out, vs=vs, work_root=work_root, restart=restart, overwrite=overwrite,
                     quiet=quiet, stop=stop, workers=workers, ray_address=ray_address, chunk_length=chunk_length,
                     seam_overlap=seam_overlap, device=device, log_payload=payload, flow_params=flow_params,
                     cache_dir=cache_dir)
    if log is not None:
        write_json(log, payload)
    if result.stop_reason == "interrupted":
        console.print(f"[yellow]interrupted[/]: finished chunks kept in {escape(str(result.work_dir))}; run the "
                      "same command again to continue")
        raise typer.Exit(130)
    console.print(f"[green]wrote {escape(str(result.output))}[/]: {escape(result.summary())}", soft_wrap=True)
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/]")
    # Flows live in the flow cache (or the workers' own), so the work dir holds frames only.
    console.print(work_dir_summary(result.work_dir, keep=keep_work, cache_inside=False), soft_wrap=True)


def run(input, style_imgs, *, out, vs, work_root, restart, overwrite, quiet, stop, workers, ray_address,
        chunk_length, seam_overlap, device, log_payload, flow_params=None, cache_dir=None):
    """Run the parallel path; returns the result and fills ``log_payload`` (when given) for --log."""
    from vidstyle.video.parallel import stylize_video_parallel

    with WorkerTable(quiet=quiet) as table:
        result = stylize_video_parallel(input, style_imgs, output=out, settings=vs, workers=workers,
                                        address=ray_address, chunk_length=chunk_length, overlap=seam_overlap,
                                        device=None if device is None or str(device) == "cpu" else device,
                                        work_dir=work_root, restart=restart, overwrite=overwrite,
                                        observer=table, should_stop=stop, flow_params=flow_params,
                                        cache_dir=cache_dir)
    if log_payload is not None:
        log_payload.update({
            "frames": result.frames, "seconds": result.seconds, "output": str(result.output) if result.output else None,
            "work_dir": str(result.work_dir), "stop_reason": result.stop_reason, "settings": result.settings,
            "notes": result.notes,
            "parallel": {"workers": result.workers, "threads_per_worker": result.threads,
                         "chunks": [[c.start, c.stop] for c in result.chunks],
                         "backward": [c.number for c in result.chunks if c.backward],
                         "anchors": {str(k): v for k, v in result.anchors.items()},
                         "seams": [s.start for s in result.seams], "seam_frames": result.seam_frames,
                         "cuts": result.cuts,
                         "skipped_seams": result.skipped_seams, "tasks": result.task_log},
            "temporal": {"e_temp": result.e_temp, "flash": result.flash, "seam_ratio": result.seam_ratio,
                         "per_frame": {str(k): v for k, v in result.errors.items()}}})
    return result

