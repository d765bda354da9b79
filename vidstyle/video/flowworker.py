"""A background thread that computes flows and masks ahead of the stylizer.

It reads frames in processing order, keeps the last few (for long-term
neighbours), asks the flow package (through its cache) for the flow from each
frame to its neighbours and the neighbour's reliability mask, and hands the
results over through a bounded queue, so flow for frame t+1 is computed while
frame t is being optimized and memory stays flat. :func:`open_flow_engine` opens
the flow backend and cache every kind of run shares.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flow import FlowCache, FlowEngine, get_backend, reliability_mask
from vidstyle import defaults
from vidstyle.imageio import from_uint8


@dataclass
class Neighbour:
    """Flow from frame ``t`` to an already processed frame ``index`` (``distance`` steps back in processing order).

    ``flow`` ``(1, 2, H, W)`` lives on t and points into the neighbour, so
    ``warp(out[index], flow)`` is aligned with t; ``mask`` ``(1, 1, H, W)`` is
    t's reliability with respect to the neighbour (Ruder et al. 2016).
    """

    distance: int
    index: int
    flow: torch.Tensor
    mask: torch.Tensor
    hits: int

    @property
    def reliable(self) -> float:
        return float(self.mask.mean())


@dataclass
class Job:
    """One frame in processing order, with the flows to its neighbours (empty when not needed)."""

    position: int
    index: int
    image: np.ndarray  # HxWx3 uint8 RGB as decoded
    content: torch.Tensor  # (1, 3, H, W) float32 in [0, 1]
    pts: int | None
    time: float | None
    neighbours: list[Neighbour] = field(default_factory=list)
    flow_seconds: float = 0.0


_END = object()


def neighbour_flow(engine: FlowEngine, t: int, frame_t: torch.Tensor, n: int, frame_n: torch.Tensor,
                   distance: int) -> Neighbour:
    """Flow from frame t into frame n and t's mask, from the cached pair (earlier, later) either way."""
    if n < t:
        pf = engine.pair(frame_n, frame_t, index=t)
        return Neighbour(distance, n, pf.flow_bw, pf.mask, pf.hits)
    # Backward pass of multi-pass: the same cached pair, read the other way round.
    pf = engine.pair(frame_t, frame_n, index=n)
    mask = reliability_mask(pf.flow_fw, pf.flow_bw, blur_sigma=engine.blur_sigma)
    return Neighbour(distance, n, pf.flow_fw, mask, pf.hits)


class FlowWorker:
    """Iterate :class:`Job` s; flows are computed on a daemon thread up to ``ahead`` frames early.

    ``frames`` yields ``(index, HxWx3 uint8, pts, time)`` in processing order;
    ``distances`` are the neighbour distances (processing order) to compute;
    ``wanted(index)`` says whether a frame needs its flows (finished frames of
    a resumed run do not); ``pin`` puts each frame in page-locked memory, so
    that a CUDA device copies it asynchronously. An exception from ``frames`` or the flow package is
    re-raised by the iterator after every job before it has been delivered.
    """

    def __init__(self, frames: Iterable, engine: FlowEngine | None, distances: Sequence[int], *,
                 wanted: Callable[[int], bool] = lambda index: True, ahead: int = 2, pin: bool = False):
        self.engine = engine
        self.distances = sorted(set(int(d) for d in distances))
        self._frames = frames
        self._wanted = wanted
        self._pin = pin
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._cancel = threading.Event()
        self.flow_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="vidstyle-flow", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        window: deque = deque(maxlen=max(self.distances, default=1))
        try:
            for position, (index, image, pts, time_s) in enumerate(self._frames):
                if self._cancel.is_set():
                    return
                content = from_uint8(image)
                if self._pin:
                    content = content.pin_memory()
                job = Job(position, index, image, content, pts, time_s)
                if self.engine is not None and self._wanted(index):
                    t0 = time.perf_counter()
                    for d in self.distances:
                        if d <= len(window):
                            n_index, n_content = window[-d]
                            job.neighbours.append(neighbour_flow(self.engine, index, content, n_index, n_content, d))
                    job.flow_seconds = time.perf_counter() - t0
                    self.flow_seconds += job.flow_seconds
                window.append((index, content))
                if not self._put(job):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(_END)

    def __iter__(self) -> Iterator[Job]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread (it finishes the flow it is computing) and drop queued jobs."""
        self._cancel.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)


def open_flow_engine(method: str, *, params: dict | None = None, device=None,
                     cache_dir: str | Path | None = None) -> FlowEngine:
    """The flow engine of a video run: backend ``method`` with ``params`` on ``device``, reading and filling
    the flow cache at ``cache_dir`` (None: no cache).

    Sequential runs, parallel workers and the E_temp measurement all open their
    flows here, so the same source frames, method and parameters find the same
    cache entries whoever computed them. The CLI passes the per-user cache
    (``$XDG_CACHE_HOME/vidstyle/flow``, see ``vidstyle.cli.flow_options``) that
    ``vidstyle flow`` fills too; the library never picks a folder on its own. A
    folder that cannot be written raises :class:`flow.FlowError` naming it.
    """
    backend = get_backend(method, device=device, **defaults.flow_params(method, params))
    return FlowEngine(backend, FlowCache(cache_dir) if cache_dir is not None else None)
