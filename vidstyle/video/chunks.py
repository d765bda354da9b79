"""Chunk-parallel stylization: the plan (chunks and seams) and the tasks that run on any worker.

Nothing here imports Ray: :mod:`vidstyle.video.parallel` ships these tasks to
Ray workers; the same :class:`ChunkStylizer` runs in-process in the tests.

The design (README "Parallel runs" has the measurements):

0. Shot changes are found first (:func:`shot_cuts`, a cheap pre-pass on small
   copies of the frames) and each shot is planned on its own: no chunk spans a
   hard cut, and a new shot starts from its own still.
1. A shot is cut into chunks of ``L`` frames, taken in pairs around an
   *anchor* frame ``a``, the first frame of the pair's second chunk. Both
   chunks of a pair start from the anchor's still-image run, computed once (a
   task of its own, :meth:`ChunkStylizer.run_still`) and "warmed": it goes
   forward to ``a + 1`` as a later frame and back to ``a``, so that neither
   chain drifts away from it (see there). That warm-up's ``a + 1`` is kept:
   the warmed anchor was computed from it, so the pair ``(a, a + 1)`` is
   already consistent, and the forward chunk takes both as finished frames
   (the pipeline's resume) and runs ``a + 2`` onwards; the backward chunk runs
   ``a - 1`` down to the pair's first frame. Each later frame starts from the
   warped previous one with the temporal loss, exactly like the sequential
   pipeline (whose pass 2 of multi-pass already runs backward). So no seam lies
   inside a pair: with two workers, a video has none at all.
   The anchor sits where the two chunks do equal work (:func:`pair_anchor`),
   not ``L`` frames in: a pair takes the still task's time, then the longer
   chunk's. Of a pair's ``P`` frames the still task makes two, the
   backward chunk ``(P - 2) // 2`` and the forward chunk the rest, one more
   where ``P`` is odd (a chain run backward is measured the other way round
   from the one it optimizes, so it gets the fewer frames). A backward chunk
   after a seam keeps :func:`min_chunk_length` frames, the anchor moving up
   where it must; and where a pair would be no faster than one chain (the
   still, two warm-up frames and the longer chunk against ``P - 1`` later
   frames: below 6 frames, e.g. a 2-5 frame shot), its frames make one forward
   chunk from a plain still, as the sequential pipeline would.
2. Where a pair's forward chunk meets the next pair's backward chunk (or a last
   unpaired chunk, which runs forward), two independent chains meet and the
   frame after the meeting point would jump. The seam repair re-runs the first
   ``K`` frames after such a seam (``K`` = the overlap) as later frames of the
   chunk before: each starts from the warped previous result with the
   temporal loss towards it, like any later frame. Not to move the jump to
   frame ``a + K``, repaired frame ``a + j`` is also pulled towards the chunk's
   own result for that frame, cross-fading from the previous chunk's look to
   this chunk's in ``K + 1`` equal steps: its init is
   ``alpha_j * warped + (1 - alpha_j) * own`` with
   ``alpha_j = (K - j) / (K - j + 1)`` (the share of the chunk's own look is
   ``(j + 1) / (K + 1)``), and its temporal terms are weighted ``alpha_j`` and
   ``1 - alpha_j``. Each step then carries ``1 / (K + 1)`` of the jump, i.e.
   ``1 / (K + 1)^2`` of its squared error.
3. A seam that falls on a shot change (too little of frame ``a`` reliable with
   respect to ``a - 1``) needs no repair: the sequential pipeline would start a
   new shot there too; the repair task then returns nothing.

Repairs read only the chunks' own results of the chunk after the seam and the
last frames of the (forward) chunk before it, which no repair touches: all
seams are repaired in parallel, once their two chunks are done.

The tasks return finished frames as ``HxWx3`` uint8 arrays with their records
(the same records the sequential pipeline writes, plus ``e_temp``: the frame's
temporal error against the frame before it, computed with the flow the worker
already has, as :func:`vidstyle.video.evaluate.frame_error` does); the driver
writes them into the work dir.
"""

from __future__ import annotations

import functools
import itertools
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidstyle import defaults
from vidstyle.errors import VidstyleError

Frame = tuple  # (index, HxWx3 uint8 source frame, pts, time)


@dataclass(frozen=True)
class Chunk:
    """Frames ``start`` (inclusive) to ``stop`` (exclusive).

    A ``backward`` chunk runs from its anchor, ``stop`` (the first frame of the
    forward chunk after it, stylized by both from the same still), down to
    ``start``; its copy of the anchor is not kept. The forward chunk of a pair
    takes the anchor and the frame after it from the still task, finished.
    """

    number: int
    start: int
    stop: int
    backward: bool = False

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)

    @property
    def order(self) -> list[int]:
        """The frames in processing order (a backward chunk's begins with its anchor)."""
        return list(range(self.stop, self.start - 1, -1)) if self.backward else list(self.indices)

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Seam:
    """The seam before chunk ``number``: frames ``start .. start + overlap - 1`` are repaired."""

    number: int
    start: int
    overlap: int
    seeds: tuple[int, ...]  # last frames of the chunk before, the repair's earlier frames

    @property
    def repaired(self) -> range:
        return range(self.start, self.start + self.overlap)


def min_chunk_length(overlap: int) -> int:
    """Repairs must not reach the next seam's seed frames: a chunk keeps one frame past its repair."""
    return overlap + 1


def check_chunking(chunk_length: int | None, overlap: int) -> None:
    if overlap < 0:
        raise VidstyleError(f"--seam-overlap must be >= 0, got {overlap}")
    if chunk_length is not None and chunk_length < min_chunk_length(overlap):
        raise VidstyleError(f"--chunk-length {chunk_length} is below the minimum {min_chunk_length(overlap)} "
                            f"for a seam overlap of {overlap} frames (a chunk must outlast its seam repair)")


def auto_chunk_length(frames: int, workers: int, overlap: int) -> int:
    """One chunk per worker (fewest seams), capped at ``defaults.CHUNK_LENGTH``.

    Two chunks make one anchor pair and no seam, so any length will do; with more, chunks that start at
    a seam must outlast their repair.
    """
    length = min(math.ceil(frames / max(1, workers)), defaults.CHUNK_LENGTH)
    if workers >= 3 or frames > 2 * length:
        length = max(length, min_chunk_length(overlap))
    return max(1, length)


CUT_SIZE = 128  # long side (px) of the frames of the shot-change pre-pass: the reliable fraction is cheap there
# A cut needs a second witness besides the reliable fraction: on such small copies the consistency mask is
# generous (a hard cut measured 0.04-0.095 reliable at 64-128 px, Sintel's fastest motion 0.24, two Sintel
# frames 25 apart 0.25), so the colour histograms (16 bins a channel, total variation distance) must
# differ too: a hard cut measured 0.97, Sintel's neighbours at most 0.09.
CUT_HISTOGRAM = 0.25


def _histogram(img: np.ndarray) -> np.ndarray:
    h = np.concatenate([np.bincount(img[..., c].ravel() >> 4, minlength=16) for c in range(3)]).astype(np.float64)
    return h / max(1.0, h.sum() / 3)


def shot_cuts(images: Iterable[np.ndarray], threshold: float = defaults.SHOT_THRESHOLD,
              size: int = CUT_SIZE) -> list[int]:
    """Frames ``i > 0`` that start a new shot: less than ``threshold`` of them reliable with respect to
    ``i - 1`` and a colour histogram more than ``CUT_HISTOGRAM`` away from its.

    The pipeline's own shot test (the reliable fraction of the flow between
    neighbours, Ruder et al.'s consistency check), run before planning on
    copies of the frames at most ``size`` px long with DIS flow (about 20 ms a
    pair), so no chunk spans a hard cut and each shot starts from its own
    still. A cut it misses (two shots of the same colours) is still caught
    inside a chunk by the pipeline's test, which then starts a new still there.
    """
    import cv2

    from flow import FlowEngine, get_backend
    from vidstyle.imageio import from_uint8

    engine = FlowEngine(get_backend("dis"), None)
    cuts: list[int] = []
    prev = None
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        f = size / max(h, w)
        if f < 1:
            img = cv2.resize(img, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        cur = (from_uint8(np.ascontiguousarray(img)), _histogram(img))
        if prev is not None and float(np.abs(cur[1] - prev[1]).sum()) / 6 > CUT_HISTOGRAM \
                and float(engine.pair(prev[0], cur[0]).mask.mean()) < threshold:
            cuts.append(i)
        prev = cur
    return cuts


def plan(frames: int, chunk_length: int, overlap: int, long_term: Sequence[int] = (1,),
         cuts: Sequence[int] = ()) -> tuple[list[Chunk], list[Seam]]:
    """Chunks and their seams: spans of ``chunk_length`` frames (a shorter tail joins the span before it).

    Spans come in pairs, and each pair makes two chunks around an anchor frame
    (:func:`pair_anchor`: where the two do equal work, so their lengths are not
    ``chunk_length``; one forward chunk where a pair would gain nothing): the
    first runs backward from the anchor, the second forward from it, so no
    seam lies between them (both start from the same still). A seam, repaired,
    lies where a pair's forward chunk meets the next pair's backward chunk (and
    before a last unpaired chunk, which runs forward). ``cuts`` (shot changes,
    :func:`shot_cuts`) always end a chunk: each shot is planned on its own,
    and a cut needs no seam (the frames on its two sides have nothing in
    common).
    """
    if chunk_length < 1:
        raise VidstyleError(f"--chunk-length must be >= 1, got {chunk_length}")
    bounds = [0] + sorted({c for c in cuts if 0 < c < frames}) + [max(0, frames)]
    chunks: list[Chunk] = []
    seams: list[Seam] = []
    for a, b in itertools.pairwise(bounds):
        c, s = _plan_shot(a, b, chunk_length, overlap, long_term, len(chunks))
        chunks += c
        seams += s
    return chunks, seams


def pair_anchor(start: int, stop: int, least: int = 1) -> int | None:
    """The anchor of a pair of chunks over frames ``start .. stop - 1``, or None where one chain is as fast.

    The still task makes the anchor and the frame after it (its warm-up's),
    the backward chunk ``anchor - start`` frames, the forward chunk
    ``stop - anchor - 2``: as equal as they can be, the backward one shorter
    where they cannot, since a chain run backward is measured the other way
    round from the one it optimizes (t + 1 against a warp of t; it cost up to
    1.2x at 64-96 px). ``least``: the fewest frames the backward chunk may
    have (after a seam, :func:`min_chunk_length`). None where the pair would
    not finish before one forward chain over the same frames: the still, two
    warm-up frames and the longer chunk against ``stop - start - 1`` later
    frames (so below 6 frames, or with a backward chunk pushed too far up).
    """
    frames = stop - start
    back = max((frames - 2) // 2, least, 1)
    if back > frames - 2 or 2 + max(back, frames - 2 - back) >= frames - 1:
        return None
    return start + back


def _plan_shot(first: int, end: int, chunk_length: int, overlap: int, long_term: Sequence[int],
               number: int) -> tuple[list[Chunk], list[Seam]]:
    """:func:`plan` of one shot, frames ``first .. end - 1``; chunks numbered from ``number``."""
    frames = end - first
    if frames <= 0:
        return [], []
    starts = list(range(0, frames, chunk_length))
    if len(starts) > 2 and len(starts) % 2 == 1 and frames - starts[-1] < min_chunk_length(overlap):
        starts.pop()  # an unpaired tail (it starts at a seam) shorter than its own repair joins the chunk before
    bounds = [first + s for s in starts] + [end]
    chunks: list[Chunk] = []
    for k in range(0, len(starts), 2):
        start, stop = bounds[k], bounds[min(k + 2, len(starts))]
        # Pairs after the first start at a seam: their backward chunk must outlast its repair.
        anchor = pair_anchor(start, stop, min_chunk_length(overlap) if k else 1) if k + 1 < len(starts) else None
        n = number + len(chunks)
        chunks += ([Chunk(n, start, stop)] if anchor is None
                   else [Chunk(n, start, anchor, backward=True), Chunk(n + 1, anchor, stop)])
    seams = []
    depth = max(long_term)
    for prev, chunk in itertools.pairwise(chunks):
        if prev.backward:
            continue  # an anchor: both chunks start from the same frame's still
        if len(chunk) < min_chunk_length(overlap):
            raise VidstyleError(f"--chunk-length {chunk_length} is below the minimum {min_chunk_length(overlap)} "
                                f"for a seam overlap of {overlap} frames")
        # Seeds: the last frames of the (forward) chunk before, which no repair touches.
        first_seed = max(prev.start, chunk.start - depth)
        seams.append(Seam(chunk.number, chunk.start, min(overlap, len(chunk)), tuple(range(first_seed, chunk.start))))
    return chunks, seams


def seam_ratio(errors: dict[int, float], seam_frames: Sequence[int]) -> float:
    """Worst seam frame's temporal error / the median other frame's (``errors[i]``: frame i against i - 1)."""
    seam = [errors[i] for i in seam_frames if i in errors]
    rest = [e for i, e in errors.items() if i not in set(seam_frames)]
    if not seam or not rest:
        return float("nan")
    med = float(np.median(rest))
    return max(seam) / med if med > 0 else float("inf")


def seam_summary(errors: dict[int, float], seam_frames: Sequence[int]) -> str:
    """One line for ``vidstyle evaluate --seams``."""
    seam = [errors[i] for i in seam_frames if i in errors]
    rest = [e for i, e in errors.items() if i not in set(seam_frames)]
    if not seam:
        return "seam frames: none of them measured"
    return (f"seam frames {','.join(str(i) for i in seam_frames if i in errors)}: E_temp {np.mean(seam):.6e} "
            f"(worst {max(seam):.6e}); other frames E_temp {np.mean(rest) if rest else float('nan'):.6e}, "
            f"median {np.median(rest) if rest else float('nan'):.6e}; worst seam / median other "
            f"{seam_ratio(errors, seam_frames):.3f}")


def crossfade(overlap: int) -> list[float]:
    """``alpha_j``: the weight of the warped previous result for repaired frame ``j`` (module docstring)."""
    return [(overlap - j) / (overlap - j + 1) for j in range(overlap)]


@dataclass
class FrameResult:
    index: int
    image: np.ndarray  # HxWx3 uint8 stylized
    record: dict


@dataclass
class TaskResult:
    """What a chunk or seam task sends back to the driver.

    ``errors[i]``: frame i's temporal error against frame i - 1 in the frames
    this task leaves (a chunk: its frames after its first; a seam: the repaired
    frames and the first one after them).
    """

    kind: str  # "chunk" or "seam"
    number: int
    frames: list[FrameResult] = field(default_factory=list)
    errors: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0
    worker: str = ""
    skipped: str | None = None  # a seam that needed no repair: why
    anchor: np.ndarray | None = None  # a backward chunk's own copy of its anchor frame
    # Frames of ``frames`` this task stylized: a chunk's lack those it took from the still task.
    stylized: list[int] = field(default_factory=list)


class ChunkStylizer:
    """Holds a worker's network, style targets and flow engine; stylizes chunks and repairs seams.

    ``report(kind, number, index, seconds_per_frame)`` is called when a frame
    starts (seconds None) and ends (the driver's progress display); ``threads``
    pins torch's CPU threads.
    """

    def __init__(self, settings, engine_settings, styles: Sequence[np.ndarray], *, hw: tuple[int, int],
                 device=None, threads: int | None = None, flow_params: dict | None = None,
                 report: Callable[..., None] | None = None, name: str = "", cache_dir: str | None = None):
        import torch

        from flow import FlowCache, FlowEngine, get_backend
        from vidstyle.engine import load_network, needed_layers
        from vidstyle.imageio import from_uint8
        from vidstyle.terms import TargetCache

        if threads:
            import cv2

            # The worker's share of the cores for the flow too (OpenCV would take them all, in every
            # worker), and the same split in every run, so a rerun chunk gives the same frames.
            torch.set_num_threads(int(threads))
            cv2.setNumThreads(int(threads))
        self.s = settings
        self.es = engine_settings
        self.hw = tuple(hw)
        self.device = device
        self.name = name
        self.report = report or (lambda *a, **k: None)
        self.styles = [from_uint8(np.asarray(s)).to(device) for s in styles]
        self.net = load_network(engine_settings, needed_layers(engine_settings), device=device)
        self.grams = TargetCache()  # style targets: computed once per worker, kept across tasks
        self._scratch = Path(tempfile.mkdtemp(prefix="vidstyle-worker-"))
        backend = get_backend(settings.method, device=device, **defaults.flow_params(settings.method, flow_params))
        # Flow is computed where it is needed; the error measurement reuses the loss's flows from here.
        # The user's flow cache (--cache-dir, by default the per-user one) where this worker can write
        # it: workers on this machine share it with sequential runs and `vidstyle flow`; a worker on
        # another machine keeps its own under the same path, or a scratch one if it cannot.
        self.flow = FlowEngine(backend, FlowCache(_writable_dir(cache_dir) or self._scratch / "flow"))

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    # -- the three tasks --------------------------------------------------------------
    def run_still(self, frame: Frame, warm: Frame | None = None, threads: int | None = None) -> TaskResult:
        """The still-image run of a chunk's first frame (an anchor, or frame 0 of a chunk after a seam).

        Run once per video, not once per chunk: both chunks of an anchor pair start from this one
        result (the driver ships it through the object store). ``threads``: torch threads for this task
        only (the driver lends it those of the workers that wait for it), the worker's own again after.

        ``warm`` (an anchor's neighbour): the still then goes once to that
        frame and back as later frames (warped init, temporal loss), and the
        frame it comes back to is the anchor. The neighbour's frame comes back
        too (record ``warm_up``): the anchor was computed from it, so the
        chunk that holds it takes both as finished. A chain's first later frames
        drift away from a still (the warp's resampling and the content-filled
        occlusions soften its texture until a balance is reached; measured, the
        frame after a still has 2.4x the median error): from a plain still both
        chunks of a pair would drift, one each way, and the anchor's two
        neighbours would carry the jump twice. Warmed, neither does.
        """
        import torch

        own = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))
        try:
            return self._run_still(frame, warm)
        finally:
            torch.set_num_threads(own)

    def _run_still(self, frame: Frame, warm: Frame | None) -> TaskResult:
        t0 = time.perf_counter()
        with _Scratch(self._scratch) as work:
            run = self._run(work, "still", frame[0])
            _, error = run.run_pass(1, iter([frame] if warm is None else [frame, warm]), save_source=False)
            if error is not None:
                raise VidstyleError(error)
            out = self._collect(work, [frame[0]] if warm is None else [warm[0]])
        if warm is not None:
            with _Scratch(self._scratch) as work:  # back from the neighbour to the anchor
                work.save_frame(1, out[0].index, out[0].image, out[0].record)
                run = self._run(work, "still", frame[0])
                _, error = run.run_pass(1, iter([warm, frame]), save_source=False)
                if error is not None:
                    raise VidstyleError(error)
                out = self._collect(work, [frame[0], warm[0]])
            out[0].record["warmed_via"] = warm[0]
            out[1].record |= {"warm_up": True, "warm_up_of": frame[0]}
        out[0].record["still"] = True
        return TaskResult("still", frame[0], out, {}, time.perf_counter() - t0, self.name,
                          stylized=[r.index for r in out])

    def run_chunk(self, chunk: Chunk, frames: Sequence[Frame], still: Sequence[FrameResult] = ()) -> TaskResult:
        """Stylize ``frames`` (the chunk's, in :attr:`Chunk.order`) as a video of their own.

        ``still``: the frames of :meth:`run_still` for the first frame in that
        order (computed once, shared by an anchor pair): that frame and its
        warm-up's, which only the chunk that holds it takes; without them the
        chunk runs its own still. A backward chunk's copy of its anchor comes
        back as ``anchor`` (not a frame of the chunk), so the driver can
        measure the anchor frame's error and check both copies agree.
        """
        t0 = time.perf_counter()
        mine = {fr[0] for fr in frames}
        with _Scratch(self._scratch) as work:
            for r in still:
                if r.index in mine:
                    # Finished before the run starts: the pipeline takes them as resumed, so a forward chunk
                    # starts at a + 2 from a + 1 (and reaches back to a where VideoSettings.long_term says).
                    work.save_frame(1, r.index, r.image, r.record)
            run = self._run(work, "chunk", chunk.number, backward=chunk.backward)
            order, error = run.run_pass(1, iter(frames), save_source=False)
            if error is not None:
                raise VidstyleError(error)
            out = self._collect(work, sorted(order))
        for r in out:
            r.record["chunk"] = chunk.number
        by_index = {fr[0]: fr for fr in frames}
        errors = self._errors([r.image for r in out], [by_index[r.index] for r in out])
        result = TaskResult("chunk", chunk.number, [r for r in out if r.index in chunk.indices], errors,
                            time.perf_counter() - t0, self.name,
                            stylized=[r.index for r in run.reports if r.index in chunk.indices])
        result.anchor = next((r.image for r in out if r.index not in chunk.indices), None)
        return result

    def repair_seam(self, seam: Seam, seeds: Sequence[tuple[Frame, np.ndarray]], frames: Sequence[Frame],
                    own: dict[int, np.ndarray], after: tuple[Frame, np.ndarray] | None) -> TaskResult:
        """Re-run the seam's ``frames`` after the chunk before's last results (``seeds``: (frame, stylized)).

        ``own`` holds the chunk's first-pass results of the repaired frames;
        ``after`` is the first frame past the repair (frame, first-pass
        result), only to measure its error against the last repaired frame.
        """
        from vidstyle.imageio import from_uint8

        t0 = time.perf_counter()
        with _Scratch(self._scratch) as work:
            for (index, _, pts, time_s), styled in seeds:
                work.save_frame(1, index, styled, {"index": index, "pts": pts, "time": time_s, "seed": True})
            alphas = dict(zip(seam.repaired, crossfade(seam.overlap)))
            targets = {i: from_uint8(own[i]).to(self.device) for i in seam.repaired}
            run = self._run(work, "seam", seam.number, seam=(alphas, targets))
            order, error = run.run_pass(1, iter([fr for fr, _ in seeds] + list(frames)), save_source=False)
            if error is not None:
                raise VidstyleError(error)
            first = next((r for r in run.reports if r.index == seam.start), None)
            skipped = None
            if first is None or first.shot_start:
                # A shot change at the seam: the chunk's own start is what the sequential run would do.
                skipped = "shot change at the seam" if first is not None else "no frame to repair"
                out = []
            else:
                out = self._collect(work, [i for i in order if i in alphas])
        for r in out:
            r.record["seam"] = seam.number
        final = [r.image for r in out] if out else [own[i] for i in seam.repaired]
        sequence = list(frames)
        if after is not None:
            final.append(after[1])
            sequence.append(after[0])
        errors = self._errors(final, sequence, before=seeds[-1] if seeds else None)
        return TaskResult("seam", seam.number, out, errors, time.perf_counter() - t0, self.name, skipped,
                          stylized=[r.index for r in out])

    # -- helpers ----------------------------------------------------------------------
    def _run(self, work, kind: str, number: int, seam=None, backward: bool = False):
        from vidstyle.video.pipeline import _Run

        cls = _seam_run_class() if seam is not None else _Run  # a backward chunk: frames given in that order
        run = cls(input_path=None, styles=self.styles, settings=self.s, engine_settings=self.es, net=self.net,
                  device=self.device, work=work, flow_engine=self.flow,
                  observer=_Reporter(self.report, kind, number), should_stop=None, hw=self.hw, grams=self.grams)
        if seam is not None:
            run.alphas, run.targets = seam  # type: ignore[union-attr]  # a SeamRun
        return run

    @staticmethod
    def _collect(work, indices: Sequence[int]) -> list[FrameResult]:
        return [FrameResult(i, work.load_frame_u8(1, i), work.record(1, i) or {}) for i in indices]

    def _errors(self, stylized: Sequence[np.ndarray], frames: Sequence[Frame], before=None) -> dict[int, float]:
        """Each frame's temporal error against the one before it, as the evaluator measures it (source flow)."""
        import torch

        from vidstyle.imageio import from_uint8
        from vidstyle.video.evaluate import frame_error

        prev = (from_uint8(before[0][1]), from_uint8(before[1])) if before is not None else None
        errors = {}
        with torch.no_grad():
            for image, fr in zip(stylized, frames):
                src, out = from_uint8(fr[1]), from_uint8(image)
                if prev is not None:
                    pf = self.flow.pair(prev[0], src)
                    errors[fr[0]] = frame_error(out, prev[1], pf.flow_bw.cpu(), pf.mask.cpu())
                prev = (src, out)
        return errors


def _writable_dir(path: str | None) -> Path | None:
    if path is None:
        return None
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError:
        return None
    return Path(path)


class _Scratch:
    """A throw-away work dir for one task (the driver's work dir is the one that lasts)."""

    def __init__(self, parent: Path):
        self.parent = parent

    def __enter__(self):
        from vidstyle.video.workdir import WorkDir

        self.path = Path(tempfile.mkdtemp(prefix="task-", dir=self.parent))
        self.work = WorkDir.open(self.path, {"task": True})
        return self.work

    def __exit__(self, *exc):
        if self.work.lock is not None:
            self.work.lock.release()
        shutil.rmtree(self.path, ignore_errors=True)


class _Reporter:
    """A :class:`~vidstyle.video.pipeline.VideoObserver` that forwards each finished frame to ``report``."""

    def __init__(self, report, kind: str, number: int):
        self._report, self.kind, self.number = report, kind, number
        self._t0 = time.perf_counter()
        self._done = 0

    def start(self, **kw): ...
    def iteration(self, info): ...
    def encoding(self, frames): ...

    def frame_start(self, *, pass_, index, iterations):
        self._report(self.kind, self.number, index, None)

    def frame_done(self, report):
        if report.resumed:
            return
        self._done += 1
        self._report(self.kind, self.number, report.index, (time.perf_counter() - self._t0) / self._done)


@functools.lru_cache(maxsize=1)
def _seam_run_class():
    from vidstyle.video.pipeline import _Run

    class SeamRun(_Run):
        """The pipeline's run with the seam cross-fade (module docstring) on the repaired frames."""

        alphas: dict = {}
        targets: dict = {}
        _index = None

        def frame(self, pass_, job, usable, shot_start, outputs, ctl=None):
            self._index = job.index
            return super().frame(pass_, job, usable, shot_start, outputs, ctl)

        def _init_next(self, content, prev, nb):
            init = super()._init_next(content, prev, nb)
            a = self.alphas.get(self._index)
            return init if a is None else a * init + (1 - a) * self.targets[self._index]

        def _temporal_terms(self, neighbours, outputs):
            from vidstyle.video.temporal import TemporalTerm

            terms = super()._temporal_terms(neighbours, outputs)
            a = self.alphas.get(self._index)
            if a is None:
                return terms
            for t in terms:
                t.weight *= a
            own = self.targets[self._index]
            return terms + [TemporalTerm(own, own.new_ones((1, 1) + tuple(own.shape[-2:])), self.lam * (1 - a),
                                         name="seam")]

    return SeamRun
