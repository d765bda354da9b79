"""Chunk-parallel video stylization on Ray (the only module that imports Ray, and only when called).

:func:`stylize_video_parallel` is :func:`vidstyle.video.pipeline.stylize_video`
for many workers: the driver decodes the video (once for the frame count and
the shot changes, on small copies; once more straight into the object store,
one object per chunk, so it never holds the whole video), ships the frames and
the style images through Ray's object store (workers need not see the
driver's files), and one actor per worker holds the network and the style
targets, computes the flow it needs (into the user's flow cache where it can
write it) and runs stills, chunks and seam repairs
(:mod:`vidstyle.video.chunks` has the design). Results come back to the
driver, which writes them into the work dir with the same atomic PNGs and
records as the sequential path and encodes with the source's timing and audio.

Faults: a worker whose process dies is replaced by a new actor and its task
run again (up to ``RETRIES`` times), costing that chunk; a killed driver
resumes from the work dir: finished chunks and seams are skipped, the stills
(with an anchor's warm-up frame) are kept in ``<work>/stills``, and the
chunks' own results of the frames a seam repairs are kept aside
(``<work>/chunks``), so a resumed repair computes exactly what it would have.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from vidstyle import defaults, precision
from vidstyle.engine import resolve
from vidstyle.errors import VidstyleError
from vidstyle.imageio import to_uint8
from vidstyle.video.chunks import (
    Chunk,
    FrameResult,
    Seam,
    TaskResult,
    auto_chunk_length,
    check_chunking,
    plan,
    seam_ratio,
    shot_cuts,
)
from vidstyle.video.workdir import WorkDir

INSTALL_HINT = 'Ray is not installed: pip install "vidstyle[ray]"'
RETRIES = 3  # restarts of a dead worker process, and retries of the task it was running


class ParallelObserver:
    """Progress hooks of :func:`stylize_video_parallel` (no-ops here)."""

    def start(self, *, frames: int, chunks: int, seams: int, workers: int, resumed: int) -> None: ...
    def update(self, rows: dict[str, dict], done: int, total: int) -> None: ...
    def encoding(self, frames: int) -> None: ...


@dataclass
class ParallelResult:
    output: Path | None
    work_dir: Path
    frames: int
    chunks: list[Chunk]
    seams: list[Seam]
    workers: int
    threads: int | None
    seconds: float
    tasks_run: int  # chunk and seam tasks run by this call
    tasks_resumed: int  # found finished in the work dir
    errors: dict[int, float]  # frame -> temporal error against the frame before (as the evaluator measures it)
    seam_frames: list[int]  # frames whose error spans two chunks: seams' repaired ones, the one after, anchors
    skipped_seams: dict[int, str]
    anchors: dict[int, int]  # anchor frame -> largest difference (0-255) between its two chunks' copies
    cuts: list[int]  # shot changes found before planning: frames that start a shot (and a chunk)
    complete: bool
    stop_reason: str
    settings: dict
    notes: list[str] = field(default_factory=list)
    task_log: list[dict] = field(default_factory=list)

    @property
    def e_temp(self) -> float:
        return float(np.mean(list(self.errors.values()))) if self.errors else float("nan")

    @property
    def seam_ratio(self) -> float:
        """Worst seam frame's error / median non-seam frame's error (1: the seams cannot be told apart)."""
        return seam_ratio(self.errors, self.seam_frames)

    @property
    def flash(self) -> float:
        vals = list(self.errors.values())
        if len(vals) < 2:
            return float("nan")
        med = statistics.median(vals)
        return max(vals) / med if med > 0 else float("inf")

    def summary(self) -> str:
        out = f" -> {self.output}" if self.output else ""
        seam = (f"; frames where chunks meet ({','.join(map(str, self.seam_frames))}): worst error "
                f"{self.seam_ratio:.2f}x the median other frame's" if self.seam_frames else "")
        cuts = f", shot change(s) at {','.join(map(str, self.cuts))}" if self.cuts else ""
        anchors = (f", anchor frame(s) {','.join(map(str, self.anchors))} (copies differ by at most "
                   f"{max(self.anchors.values())}/255)" if self.anchors else "")
        return (f"{self.frames} frames in {len(self.chunks)} chunks on {self.workers} workers, "
                f"{len(self.seams)} seam(s){anchors}{cuts}, {self.tasks_run} task(s) run, "
                f"{self.tasks_resumed} resumed, "
                f"in {self.seconds:.1f}s; E_temp {self.e_temp:.3e}, flash {self.flash:.2f}{seam}{out}")


def import_ray():
    try:
        import ray
    except ImportError:
        raise VidstyleError(INSTALL_HINT) from None
    return ray


def connect(*, workers: int | None, address: str | None):
    """Start a local Ray of ``workers`` CPUs, or join the cluster at ``address``; returns (ray, started_here)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs = dict(logging_level=logging.ERROR, log_to_driver=False)
    if address not in (None, "auto"):
        check_reachable(address)
    try:
        if address is not None:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        # Ray 2.59+ starts local clusters with token authentication but connects to an explicit address
        # without it unless told: the usual cause when 'auto' works and HOST:PORT does not.
        hint = ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token (the token is read from "
                "~/.ray/auth_token or RAY_AUTH_TOKEN)" if address not in (None, "auto") else "")
        raise VidstyleError(f"cannot join {where}: {str(exc).strip().splitlines()[0]}{hint}") from None
    return ray, True


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Ray keeps retrying an address nobody answers at for minutes: try a TCP connection first."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host:
        host, port = hostport, "6379"  # Ray's default GCS port
    try:
        port_n = int(port)
    except ValueError:
        raise VidstyleError(f"--ray-address {address!r}: expected HOST:PORT or auto") from None
    try:
        socket.create_connection((host, port_n), timeout=timeout).close()
    except OSError as exc:
        raise VidstyleError(f"--ray-address {address}: no Ray cluster answers there "
                            f"({exc.strerror or exc}); start one with 'ray start --head' or check the address"
                            ) from None


def _remote_classes(ray):
    """The worker actor and the progress board, defined once Ray is imported."""
    if hasattr(_remote_classes, "cached"):
        return _remote_classes.cached

    @ray.remote(num_cpus=0)
    class Board:
        def __init__(self):
            self.rows: dict[str, dict] = {}

        def report(self, worker, kind, number, index, seconds, pid):
            row = self.rows.setdefault(worker, {})
            row.update(task=f"{kind} {number}", frame=index, at=time.time(), pid=pid)
            if seconds is not None:
                row["s_per_frame"] = seconds
            else:
                row.setdefault("s_per_frame", None)

        def lent(self, worker, to):
            self.rows[worker] = {"task": f"threads lent to {to}", "frame": "", "s_per_frame": None,
                                 "at": time.time()}

        def snapshot(self):
            return dict(self.rows)

    @ray.remote
    class Worker:
        def __init__(self, name, settings, engine_settings, styles, hw, device, threads, flow_params, board,
                     cache_dir):
            from vidstyle.video.chunks import ChunkStylizer

            self.name = name
            self.stylizer = ChunkStylizer(
                settings, engine_settings, [np.array(s) for s in styles], hw=hw, device=device, threads=threads,
                flow_params=flow_params, name=name, cache_dir=cache_dir,
                report=lambda kind, number, index, seconds: board.report.remote(name, kind, number, index, seconds,
                                                                       os.getpid()))

        def node(self):
            return ray.get_runtime_context().get_node_id()

        def run_still(self, frame, warm, threads):
            return self.stylizer.run_still(_writable([frame])[0], _writable([warm])[0] if warm is not None else None,
                                           threads=threads)

        def run_chunk(self, chunk, frames, still):
            still = [FrameResult(r.index, np.array(r.image), dict(r.record)) for r in still or ()]
            return self.stylizer.run_chunk(chunk, _writable(frames), still)

        def repair_seam(self, seam, seeds, frames, own, after):
            seeds = [(_writable([fr])[0], np.array(img)) for fr, img in seeds]
            own = {i: np.array(img) for i, img in own.items()}
            after = (_writable([after[0]])[0], np.array(after[1])) if after is not None else None
            return self.stylizer.repair_seam(seam, seeds, _writable(frames), own, after)

    _remote_classes.cached = (Board, Worker)
    return _remote_classes.cached


def still_team(idle: list[int], node_of: dict[int, str], share: int) -> list[int] | None:
    """The idle actors whose threads the next still takes (its own actor first), all on one machine, or
    None to wait for them: ``share`` of them, or as many as the machine with the most actors holds."""
    share = min(share, max(collections.Counter(node_of.values()).values()))
    by_node: dict[str, list[int]] = {}
    for k in idle:
        by_node.setdefault(node_of[k], []).append(k)
    return next((ks[:share] for ks in by_node.values() if len(ks) >= share), None)


@dataclass(frozen=True)
class _Still:
    number: int  # the frame


def _writable(frames):
    # Arrays from the object store are read-only views; torch wants its own copy anyway.
    return [(i, np.array(img), pts, t) for i, img, pts, t in frames]


def stylize_video_parallel(input_path: str | Path, styles: Sequence[torch.Tensor], *, output: str | Path,
                           settings, workers: int | None = None, address: str | None = None,
                           chunk_length: int | None = None, overlap: int = defaults.SEAM_OVERLAP,
                           threads: int | None = None, device=None, work_dir: str | Path | None = None,
                           restart: bool = False, overwrite: bool = False,
                           observer: ParallelObserver | None = None,
                           should_stop: Callable[[], bool] | None = None,
                           flow_params: dict | None = None, cache_dir: str | Path | None = None) -> ParallelResult:
    """Stylize ``input_path`` on ``workers`` local Ray workers (or the cluster at ``address``) into ``output``.

    ``settings`` is a :class:`~vidstyle.video.pipeline.VideoSettings` (one
    pass, no mask/colour controls). ``threads``: torch threads per worker
    (default: this machine's cores / workers for a local cluster, 1 on a
    joined one). Same work dir semantics as the sequential path; the chunk
    length and overlap are part of its identity.
    """
    from vidstyle.video.decode import output_size, probe
    from vidstyle.video.outputs import check_output_path
    from vidstyle.video.pipeline import _encode, _estimate_frames, _source_frames, default_work_dir, work_identity

    t_start = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    observer = observer or ParallelObserver()
    should_stop = should_stop or (lambda: False)
    settings.validate()
    check_parallel_settings(settings, workers=workers, chunk_length=chunk_length, overlap=overlap)
    if not styles:
        raise VidstyleError("at least one style image is needed")
    check_output_path(output, codec=settings.codec, overwrite=overwrite)
    info = probe(input_path)
    estimate = _estimate_frames(info, settings)
    if workers is not None and estimate is not None and workers > estimate:
        raise VidstyleError(f"--workers {workers} is more than the {estimate} frames to stylize")
    width, height = output_size(info.width, info.height, settings.engine.size)
    hw = (height, width)
    es, notes = resolve(replace(settings.engine, size=max(hw)))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    choice = precision.choose(es.precision, dev)
    es = replace(es, precision=choice.precision)

    # Decode once before Ray starts (a bad source fails here), holding only small copies: the frame
    # count and the shot changes. The driver decodes again later, straight into the object store.
    counted: list[int] = []

    def images():
        for fr in _source_frames(input_path, settings, max(hw)):
            counted.append(fr[0])
            yield fr[1]

    cuts = shot_cuts(images(), settings.shot_threshold)
    n = len(counted)
    if not n:
        raise VidstyleError(f"{input_path}: no video frames could be decoded")
    if workers is not None and workers > n:
        raise VidstyleError(f"--workers {workers} is more than the {n} frames to stylize")

    ray, started = connect(workers=workers, address=address)
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("GPU" if dev.type == "cuda" else "CPU", 1)))
        if threads is None:
            threads = max(1, (os.cpu_count() or 1) // workers) if address is None else 1
        length = chunk_length or auto_chunk_length(n, workers, overlap)
        chunks, seams = plan(n, length, overlap, settings.long_term, cuts)
        identity = work_identity(settings, es, (width, height), flow_params, input_path, styles) | {
            # "anchor": where a pair's shared still lies and how it is made; a work dir of plain per-worker
            # stills, or of anchors L frames in without the warm-up's frame kept, is not reused
            "parallel": {"chunk_length": length, "overlap": overlap,
                         "anchor": "balanced, one still, warmed, its warm-up frame kept"},
        }
        work = WorkDir.open(Path(work_dir) if work_dir is not None else default_work_dir(output), identity,
                            restart=restart)
        source = functools.partial(_source_frames, input_path, settings, max(hw))
        driver = _Driver(ray, work, source, chunks, seams, observer, should_stop)
        driver.state_init()
        n_workers = min(workers, len(chunks))  # more would idle
        n_actors = min(n_workers, len(driver.todo_chunks()) + len(driver.todo_seams()))
        # Every chunk waits for its still, so while the stills run the other workers would idle: on CPUs
        # each still takes the threads of the workers that wait for it, on its machine (24 frames at 192 px
        # on 2 workers: still and warm-up 30.3 s on 2 threads against 51.2 s on one, wall 0.55x one
        # worker's instead of 0.61x; benchmarks/README.md "Parallel runs on Ray", last sections). A GPU
        # worker's threads do not run the network.
        share = max(1, n_workers // len({c.order[0] for c in chunks})) if dev.type == "cpu" else 1
        observer.start(frames=n, chunks=len(chunks), seams=len(seams), workers=n_workers, resumed=driver.resumed)
        driver.run(n_actors, settings=settings, es=es, styles=styles, hw=hw, device=device, threads=threads,
                   still_share=min(share, n_actors), flow_params=flow_params,
                   cache_dir=str(cache_dir) if cache_dir is not None else None)
    finally:
        if started:
            ray.shutdown()

    complete = not driver.interrupted
    result_output = None
    if complete:
        work.update(frames=n, decode_error=None)
        observer.encoding(n)
        result_output = _encode(work, settings, info, input_path, output, list(range(n)), width, height, overwrite)
    # Every frame whose error pair spans two chunks or a repair: repaired frames, the one after them, anchors.
    seam_frames = sorted({i for s in seams for i in list(s.repaired) + [s.start + s.overlap] if i < n}
                         | {c.stop for c in chunks if c.backward})
    return ParallelResult(
        output=result_output, work_dir=work.root, frames=n, chunks=chunks, seams=seams, workers=n_workers,
        threads=threads, seconds=time.perf_counter() - t_start, tasks_run=driver.ran, tasks_resumed=driver.resumed,
        errors=driver.errors(), seam_frames=seam_frames, cuts=cuts, skipped_seams=driver.skipped(),
        anchors=driver.anchor_differences(),
        complete=complete,
        stop_reason="complete" if complete else "interrupted", settings=identity, notes=notes,
        task_log=driver.log)


def check_parallel_settings(settings, *, workers: int | None, chunk_length: int | None, overlap: int) -> None:
    """What the chunk-parallel path refuses (before anything heavy runs)."""
    if workers is not None and workers < 1:
        raise VidstyleError(f"--workers must be >= 1, got {workers}")
    check_chunking(chunk_length, overlap)
    # Not cheap to split (README "Parallel runs"): each pass of multi-pass sweeps the whole video one way;
    # the colour reference and a mask video are read in step from frame 0 by one run.
    if settings.passes > 1:
        raise VidstyleError("--passes > 1 is not supported with --workers/--ray-address (each pass sweeps the "
                            "whole video in one direction); run one pass")
    if settings.controlled:
        raise VidstyleError("--mask and --colors are not supported with --workers/--ray-address (their colour "
                            "reference and mask video are read from frame 0 on by one run); run without workers")


class _Driver:
    """Schedules chunk and seam tasks on the actors and writes their results into the work dir."""

    def __init__(self, ray, work: WorkDir, source: Callable, chunks: list[Chunk], seams: list[Seam], observer,
                 should_stop):
        self.ray = ray
        self.source = source  # () -> the decoded frames (index, u8, pts, time), in order
        self.work = work
        self.aside = WorkDir(work.root / "chunks", {})  # chunks' own results of the frames seams repair
        # Each chunk's first frame, run once, shared by a pair; with an anchor's, its warm-up frame.
        self.stills = WorkDir(work.root / "stills", {})
        self.frames: dict = {}  # only the frames stills and seams read (load_frames)
        self.chunks = chunks
        self.seams = {s.number: s for s in seams}
        self.obs = observer
        self.should_stop = should_stop
        self.ran = 0
        self.resumed = 0
        self.interrupted = False
        self.log: list[dict] = []

    # -- state in the work dir ------------------------------------------------------
    def state_init(self) -> None:
        st = self.work.state.get("parallel") or {}
        if st.get("chunks") != [[c.start, c.stop] for c in self.chunks]:
            st = {"chunks": [[c.start, c.stop] for c in self.chunks], "seams": {}}
        self.work.update(parallel=st)
        self.resumed = ((len(self.chunks) - len(self.todo_chunks())) + (len(self.seams) - len(self.todo_seams()))
                        + len(self.kept_stills()))

    def _seam_state(self) -> dict:
        return self.work.state["parallel"]["seams"]

    def chunk_done(self, c: Chunk) -> bool:
        done = set(self.work.finished(1))
        return all(i in done for i in c.indices)

    def seam_done(self, number: int) -> bool:
        return str(number) in self._seam_state()

    def todo_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks if not self.chunk_done(c)]

    def todo_stills(self) -> list[int]:
        """The first frames (in processing order) of the chunks still to run whose still is not kept yet."""
        return sorted({c.order[0] for c in self.todo_chunks()} - self.kept_stills())

    def kept_stills(self) -> set[int]:
        """The stills in ``<work>/stills``, each with its warm-up frame where it has one."""
        done = set(self.stills.finished(1))
        return {i for i in {c.order[0] for c in self.chunks} & done if (w := self.warm_of(i)) is None or w in done}

    def warm_of(self, i: int) -> int | None:
        """An anchor's still goes to this neighbour and back (ChunkStylizer.run_still); other stills: None.

        The plan gives a pair's forward chunk the anchor and at least one frame more
        (:func:`vidstyle.video.chunks.pair_anchor`).
        """
        back = next((c for c in self.chunks if c.backward and c.stop == i), None)
        if back is None:
            return None
        if i + 1 < self.chunks[back.number + 1].stop:
            return i + 1
        return i - 1 if i - 1 >= back.start else None

    def still_of(self, c: Chunk) -> list[FrameResult] | None:
        """The still task's frames for ``c``'s first one: that frame, then its warm-up's (if any)."""
        i = c.order[0]
        if i not in self.kept_stills():
            return None
        w = self.warm_of(i)
        return [FrameResult(j, self.stills.load_frame_u8(1, j), self.stills.record(1, j) or {})
                for j in [i] + ([w] if w is not None else [])]

    def todo_seams(self) -> list[Seam]:
        return [s for s in self.seams.values() if not self.seam_done(s.number)]

    def errors(self) -> dict[int, float]:
        out = {}
        for i in self.work.finished(1):
            e = (self.work.record(1, i) or {}).get("e_temp")
            if e is not None:
                out[i] = float(e)
        for i in self.aside.finished(1):  # a backward chunk's anchor copy: the error of the frame after it
            rec = self.aside.record(1, i) or {}
            if rec.get("anchor_of") is not None and rec.get("e_temp") is not None:
                out[i] = float(rec["e_temp"])
        for st in self._seam_state().values():
            out.update({int(k): float(v) for k, v in st.get("errors", {}).items()})
        return dict(sorted(out.items()))

    def anchor_differences(self) -> dict[int, int]:
        """Per anchor frame: the largest pixel difference (0-255) between the two chunks' copies."""
        out = {}
        done = set(self.work.finished(1))
        for i in self.aside.finished(1):
            if (self.aside.record(1, i) or {}).get("anchor_of") is not None and i in done:
                a = self.aside.load_frame_u8(1, i).astype(np.int16)
                out[i] = int(np.abs(a - self.work.load_frame_u8(1, i).astype(np.int16)).max())
        return out

    def skipped(self) -> dict[int, str]:
        return {int(k): v["skipped"] for k, v in self._seam_state().items() if v.get("skipped")}

    # -- the schedule ---------------------------------------------------------------
    def run(self, n_actors: int, *, settings, es, styles, hw, device, threads, flow_params, still_share: int = 1,
            cache_dir: str | None = None) -> None:
        """Run what is left: stills, then chunks as their stills are kept, then seams.

        A still runs on the threads (``threads`` each) of ``still_share`` actors
        on one machine, fewer where no machine holds that many: its actor takes
        them, and the others stay out of the schedule until it ends, so no two
        tasks share a core. The still at the head of the queue waits for that
        many idle actors on one machine, whatever else is running, so a resumed
        run on the same cluster computes every still as an uninterrupted one did.
        """
        ray = self.ray
        todo_c, todo_s, todo_still = self.todo_chunks(), self.todo_seams(), self.todo_stills()
        if not todo_c and not todo_s:
            return
        Board, Worker = _remote_classes(ray)
        board = Board.remote()
        style_arrays = [to_uint8(s) for s in styles]
        gpu = device is not None and torch.device(device).type == "cuda"
        per_gpu = 0.0
        if gpu:  # one GPU each where there are enough, else the GPUs shared out
            gpus = float(ray.cluster_resources().get("GPU", 0))
            if gpus <= 0:
                raise VidstyleError(f"--device {device}: the Ray cluster has no GPU (use --device cpu)")
            per_gpu = min(1.0, gpus / n_actors)

        def new_actor(k: int):
            # Restarts are the driver's (below), not Ray's max_restarts: Ray cannot promise to keep an
            # actor's constructor arguments for a restart once they are large (ray-project/ray#53727).
            return Worker.options(num_cpus=0 if gpu else 1, num_gpus=per_gpu).remote(
                f"worker {k + 1}", settings, es, style_arrays, hw, device, threads, flow_params, board, cache_dir)

        actors = {k: new_actor(k) for k in range(n_actors)}
        node_of: dict[int, str] = {}  # actor -> its machine (Ray's node id)

        def machine(k: int) -> str:
            try:
                return ray.get(actors[k].node.remote())
            except ray.exceptions.RayActorError:  # its constructor failed: its first task says so (below)
                return f"unknown {k}"

        frame_refs = self.load_frames(todo_c, todo_s, todo_still)
        still_refs: dict = {}  # one object per still, shared by the chunks that start from it
        idle = list(actors)
        lent: dict[int, list[int]] = {}  # an actor running a still -> the idle actors whose threads it took
        still_threads: dict[int, int | None] = {}
        pending: dict = {}
        # Stills first: a chunk waits for the still it starts from (run once, not once per chunk).
        queue: list = [("still", _Still(i)) for i in todo_still]
        waiting = list(todo_c)
        retries: dict = {}
        total = len(todo_c) + len(todo_s) + len(todo_still)
        finished = 0
        try:
            node_of.update({k: machine(k) for k in actors})
            while queue or pending or waiting or self.todo_seams():
                kept = self.kept_stills()
                ready = [c for c in waiting if c.order[0] in kept]
                waiting = [c for c in waiting if c not in ready]
                queue += [("chunk", c) for c in ready] + [("seam", s) for s in self._ready_seams(queue, pending)]
                while idle and queue:
                    kind, item = queue[0]
                    team = still_team(idle, node_of, still_share) if kind == "still" else idle[:1]
                    if not team:
                        break
                    queue.pop(0)
                    k = team[0]
                    idle = [j for j in idle if j not in team]
                    if kind == "still":
                        lent[k] = team[1:]
                        for j in lent[k]:
                            board.lent.remote(f"worker {j + 1}", f"worker {k + 1}")
                        still_threads[item.number] = threads * len(team) if threads else None
                        w = self.warm_of(item.number)
                        ref = actors[k].run_still.remote(self.frames[item.number],
                                                         self.frames[w] if w is not None else None,
                                                         still_threads[item.number])
                    elif kind == "chunk":
                        i = item.order[0]
                        if i not in still_refs:
                            still_refs[i] = ray.put(self.still_of(item))
                        ref = actors[k].run_chunk.remote(item, frame_refs[item.number], still_refs[i])
                    else:
                        ref = actors[k].repair_seam.remote(item, *self._seam_args(item))
                    pending[ref] = (kind, item, k)
                if not pending:
                    break
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self.obs.update(ray.get(board.snapshot.remote()), finished, total)
                if self.should_stop():
                    self.interrupted = True
                    break
                for ref in done:
                    kind, item, k = pending.pop(ref)
                    idle += lent.pop(k, [])
                    try:
                        result = self._get(ref)
                    except ray.exceptions.RayActorError as exc:
                        # The worker process died (killed, out of memory): a new one, and this task again.
                        retries[(kind, item.number)] = n = retries.get((kind, item.number), 0) + 1
                        if n > RETRIES:
                            raise VidstyleError(f"{kind} {item.number} failed {n} times: its worker died "
                                                f"({str(exc).strip().splitlines()[0][:200]})") from None
                        actors[k] = new_actor(k)
                        node_of[k] = machine(k)
                        self.log.append({"task": f"{kind} {item.number}", "worker": f"worker {k + 1}",
                                         "retry": n})
                        queue.insert(0, (kind, item))
                        idle.append(k)
                        continue
                    {"still": self._write_still, "chunk": self._write_chunk, "seam": self._write_seam}[kind](result)
                    self.ran += 1
                    finished += 1
                    # "frames": those this task stylized (each frame once over the stills and chunks: a forward
                    # chunk's first two come from its still task, records "still" and "warm_up")
                    self.log.append({"task": f"{kind} {item.number}", "worker": result.worker,
                                     "seconds": result.seconds, "skipped": result.skipped,
                                     "frames": result.stylized}
                                    | ({"threads": still_threads[item.number]} if kind == "still" else {}))
                    idle.append(k)
            self.obs.update(ray.get(board.snapshot.remote()), finished, total)
        finally:
            # Tasks still running (an interrupted run) end with their actors: Ray refuses force=True for
            # actor tasks (ValueError), and killing the actor stops the task it is running anyway.
            for a in actors.values():
                ray.kill(a)
            ray.kill(board)

    def load_frames(self, chunks: list[Chunk], seams: list[Seam], stills: list[int]) -> dict:
        """Decode the video into the object store, one object per chunk (its frames in processing order).

        The driver never holds the whole video: a chunk's frames are kept here
        only until its last one is decoded; kept for good are the frames that
        still and seam tasks take (a few per chunk). Returns chunk -> object ref.
        """
        keep = (set(stills) | {w for w in map(self.warm_of, stills) if w is not None}
                | {i for s in seams for i in s.seeds + tuple(s.repaired) + (s.start + s.overlap,)})
        wanted: dict[int, list[Chunk]] = {}
        for c in chunks:
            for i in c.order:
                wanted.setdefault(i, []).append(c)
        buffers: dict[int, dict] = {c.number: {} for c in chunks}
        refs = {}
        for fr in self.source():
            i = fr[0]
            if i in keep:
                self.frames[i] = fr
            for c in wanted.get(i, ()):
                buf = buffers[c.number]
                buf[i] = fr
                if len(buf) == len(c.order):
                    refs[c.number] = self.ray.put([buf[j] for j in c.order])
                    del buffers[c.number]
        past_end = {s.start + s.overlap for s in seams}  # the frame after a repair may lie past the video
        if buffers or keep - past_end - set(self.frames):
            raise VidstyleError("the video decoded to fewer frames the second time (was it changed during the run?)")
        return refs

    def _ready_seams(self, queue, pending) -> list[Seam]:
        queued = {(k, it.number) for k, it in queue} | {(k, it.number) for k, it, _ in pending.values()}
        done = {c.number for c in self.chunks if self.chunk_done(c)}
        return [s for s in self.todo_seams()
                if ("seam", s.number) not in queued and s.number in done and s.number - 1 in done]

    def _get(self, ref) -> TaskResult:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, VidstyleError):
                raise VidstyleError(str(cause)) from None
            raise

    def _seam_args(self, seam: Seam):
        chunk = self.chunks[seam.number]
        seeds = [(self.frames[i], self.work.load_frame_u8(1, i)) for i in seam.seeds]
        frames = [self.frames[i] for i in seam.repaired]
        own = {i: self.aside.load_frame_u8(1, i) for i in seam.repaired}
        j = seam.start + seam.overlap
        after = (self.frames[j], self.work.load_frame_u8(1, j)) if j < chunk.stop else None
        return seeds, frames, own, after

    # -- results into the work dir (atomic PNGs, records first) ----------------------------
    def _write_still(self, result: TaskResult) -> None:
        # The still itself last: its PNG marks it kept (kept_stills), warm-up frame and all. Both reach the
        # work dir with the chunk that takes them (as its finished first frames), with its error measure.
        for fr in sorted(result.frames, key=lambda fr: fr.index == result.number):
            self.stills.save_frame(1, fr.index, fr.image, fr.record)

    def _write_chunk(self, result: TaskResult) -> None:
        seam = self.seams.get(result.number)
        aside = set(seam.repaired) if seam is not None and not self.seam_done(seam.number) else set()
        for fr in result.frames:
            record = fr.record | {"e_temp": result.errors.get(fr.index)}
            if fr.index in aside:  # kept for the seam repair, before pass1 can be overwritten by it
                self.aside.save_frame(1, fr.index, fr.image, record)
        if result.anchor is not None:  # kept to measure the anchor's error and check the copies agree
            s = self.chunks[result.number].stop
            self.aside.save_frame(1, s, result.anchor, {"anchor_of": result.number, "e_temp": result.errors.get(s)})
        for fr in result.frames:
            if seam is not None and fr.index in seam.repaired and self.seam_done(seam.number):
                continue
            self.work.save_frame(1, fr.index, fr.image, fr.record | {"e_temp": result.errors.get(fr.index)})

    def _write_seam(self, result: TaskResult) -> None:
        for fr in result.frames:
            self.work.save_frame(1, fr.index, fr.image, fr.record | {"e_temp": result.errors.get(fr.index)})
        seams = self._seam_state()
        seams[str(result.number)] = {"errors": {str(k): v for k, v in result.errors.items()},
                                     "skipped": result.skipped, "worker": result.worker}
        self.work.update(parallel=self.work.state["parallel"])
