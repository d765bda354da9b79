"""Rich progress displays for optimization runs and downloads, and Ctrl-C handling."""

from __future__ import annotations

import platform
import signal
import sys
import time
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vidstyle.cli.common import console


class RunProgress:
    """One bar per optimization scale: iteration, loss terms, it/s and ETA."""

    def __init__(self, label: str, *, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} it/s"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"), console=console, disable=quiet, transient=False,
        )
        self._task: TaskID | None = None
        self._scale = None
        self._t0 = 0.0

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        self._progress.__exit__(*exc)

    def __call__(self, info) -> None:  # vidstyle.optimize.IterationInfo
        if info.scale != self._scale:
            if self._task is not None:
                self._progress.update(self._task, total=self._progress.tasks[self._task].completed)
            self._scale = info.scale
            self._t0 = time.perf_counter()
            h, w = info.size
            desc = f"{self.label} {w}x{h}" + (f" ({info.scale + 1}/{info.scales})" if info.scales > 1 else "")
            self._task = self._progress.add_task(desc, total=info.iterations, rate="-", losses="")
        assert self._task is not None  # set above on the first call (its scale differs from None)
        dt = time.perf_counter() - self._t0
        rate = f"{info.iteration / dt:.1f}" if dt > 0 else "-"
        losses = f"loss {info.loss:.4g} (" + ", ".join(f"{k} {v:.3g}" for k, v in info.terms.items()) + ")"
        self._progress.update(self._task, completed=info.iteration, rate=rate, losses=losses)


def download_progress(quiet: bool = False):
    """A progress hook ``(done_bytes, total_bytes)`` drawing a rich download bar."""
    state: dict = {}

    def hook(done: int, total: int | None) -> None:
        if quiet:
            return
        if "progress" not in state:
            p = Progress(TextColumn("downloading weights"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                         TimeRemainingColumn(), console=console)
            p.start()
            state["progress"], state["task"] = p, p.add_task("download", total=total)
        state["progress"].update(state["task"], completed=done, total=total)
        if total is not None and done >= total:
            state["progress"].stop()

    return hook


class StopFlag:
    """First Ctrl-C asks the run to stop after the current iteration; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested


@contextmanager
def graceful_interrupt():
    flag = StopFlag()
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        console.print("[yellow]stopping after this iteration (Ctrl-C again to abort)[/]")

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not in the main thread (e.g. under a test runner's worker)
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def environment() -> dict:
    import torch

    return {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "threads": torch.get_num_threads()}
