"""Temporally consistent video style transfer (Ruder, Dosovitskiy and Brox 2016/2018).

:func:`stylize_video` decodes a video, stylizes its frames in order and
encodes the result with the source's timestamps and audio:

* frame 0 (and the first frame of every new shot) is a still-image run with
  ``first_iterations``;
* each later frame starts from the previous stylized frame warped by the
  backward flow (``init="prev-warped-all"``, Ruder et al. 2016's start;
  ``"prev-warped"`` takes unreliable areas from the content frame) and adds
  ``temporal_weight * mean(c * (x - w)^2)`` per earlier frame in ``long_term``, the masks combined "closest first";
* ``passes > 1`` runs Ruder et al. 2018's multi-pass algorithm: passes
  alternate direction, each frame starts from a blend of its previous-pass
  result and the warped neighbour (weighted by ``blend`` x the neighbour's
  mask), the temporal loss is on from pass ``temporal_from_pass``;
* a frame whose reliable fraction is below ``shot_threshold`` starts a new
  shot: no warped init, no temporal term, so a wrong flow cannot flash it;
* flows and masks come from the flow package through its cache, computed by a
  background thread ahead of the stylizer;
* finished frames go to a work directory (see :mod:`vidstyle.video.workdir`),
  so an interrupted run continues where it stopped and gives the same video.

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1]; flows ``(1, 2, H, W)``; masks ``(1, 1, H, W)``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from flow import CacheStats, combine_long_term_masks, warp
from vidstyle import color, defaults, precision
from vidstyle.controls import FrameControls, frame_controls
from vidstyle.engine import (
    ResolvedSettings,
    Settings,
    load_network,
    needed_layers,
    noise_image,
    parse_scales,
    resolve,
    run_scales,
    stylize_terms,
)
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.imageio import from_uint8, to_uint8
from vidstyle.masks import is_still_image, iter_masks
from vidstyle.optimize import IterationInfo, OptimizerSettings
from vidstyle.tensors import check_image
from vidstyle.terms import TargetCache, Term, TermsFactory, check_size
from vidstyle.video.decode import DecodeError, iter_frames, output_size, probe
from vidstyle.video.encode import VideoWriter
from vidstyle.video.evaluate import temporal_errors
from vidstyle.video.flowworker import FlowWorker, Job, Neighbour, open_flow_engine
from vidstyle.video.outputs import check_output_path
from vidstyle.video.temporal import TemporalTerm
from vidstyle.video.workdir import WorkDir, file_digest, tensor_digest


@dataclass(frozen=True)
class VideoSettings:
    """Everything that decides a video's stylized frames (plus its encoding).

    ``engine`` holds the per-frame engine settings; its ``optim.iterations`` is
    the budget of later frames, ``first_iterations`` that of frame 0 and of each
    new shot, and its ``scales`` apply to those first frames only (later frames
    start near their answer and run at full size). ``engine.size`` is the long
    side of the stylized frames (rounded to even dimensions).
    """

    engine: Settings = field(default_factory=lambda: Settings(
        size=defaults.VIDEO_SIZE, scales=defaults.VIDEO_SCALES,
        optim=OptimizerSettings(iterations=defaults.FRAME_ITERATIONS)))
    first_iterations: int = defaults.FIRST_ITERATIONS
    # Later frames start near their answer: coarse scales (fractions of the size) with
    # ``coarse_iterations`` each, then ``engine.optim.iterations`` at full size, with their own early stop.
    frame_scales: tuple[float, ...] = defaults.FRAME_SCALES
    coarse_iterations: int = defaults.COARSE_ITERATIONS
    frame_min_iterations: int = defaults.FRAME_MIN_ITERATIONS
    frame_tol: float = defaults.FRAME_TOL
    frame_window: int = defaults.FRAME_TOL_WINDOW
    carry_memory: bool = defaults.CARRY_MEMORY  # later frames start with the previous frame's L-BFGS memory
    frame_pyramid: int = defaults.FRAME_PYRAMID  # later frames: L-BFGS over a pyramid of this many levels (0: pixels)
    init: str = defaults.VIDEO_INIT
    temporal_weight: float | None = None  # None: defaults.temporal_weight(model, gram_norm)
    long_term: tuple[int, ...] = defaults.LONG_TERM
    passes: int = defaults.PASSES
    blend: float = defaults.MULTIPASS_BLEND
    temporal_from_pass: int = defaults.MULTIPASS_TEMPORAL_FROM
    shot_threshold: float = defaults.SHOT_THRESHOLD
    method: str = defaults.FLOW_METHOD
    start: float = 0.0
    duration: float | None = None
    max_frames: int | None = None
    codec: str = defaults.VIDEO_CODEC
    crf: int = defaults.VIDEO_CRF
    # Spatial and colour control (vidstyle.controls, vidstyle.masks, vidstyle.color): a still mask or a mask video.
    mask: str | None = None
    mask_mode: str = defaults.MASK_MODE
    guide: str = defaults.GUIDE
    colors: str = defaults.COLORS
    color_match: str = defaults.COLOR_MATCH

    @property
    def controlled(self) -> bool:
        return self.mask is not None or self.colors != defaults.COLORS

    def validate(self) -> None:
        if self.first_iterations <= 0:
            raise SettingsError("first_iterations", f"must be > 0, got {self.first_iterations}")
        fs = tuple(self.frame_scales)
        if not fs or fs[-1] != 1.0 or any(not 0 < f <= 1 for f in fs) or list(fs) != sorted(set(fs)):
            raise VidstyleError(f"later-frame scales {fs}: expected ascending fractions in (0, 1] ending at 1")
        if self.frame_pyramid < 0:
            raise SettingsError("frame_pyramid", f"must be >= 0 (0: over the pixels), got {self.frame_pyramid}")
        if self.carry_memory and self.frame_pyramid:
            raise SettingsError("carry_memory", "hands L-BFGS's memory over the pixels from frame to frame; it needs "
                                "frame_pyramid 0")
        if self.coarse_iterations <= 0 or self.frame_min_iterations < 0 or self.frame_tol < 0 or self.frame_window < 2:
            raise VidstyleError("later-frame early stop: coarse iterations > 0, min iterations >= 0, tol >= 0 "
                                "and a window >= 2 are needed")
        if self.init not in defaults.VIDEO_INITS:
            raise SettingsError("init", f"{self.init!r}: expected one of {', '.join(defaults.VIDEO_INITS)}")
        if self.temporal_weight is not None and (self.temporal_weight < 0 or not math.isfinite(self.temporal_weight)):
            raise SettingsError("temporal_weight", f"must be a finite number >= 0, got {self.temporal_weight}")
        if not self.long_term or any(int(d) != d or d < 1 for d in self.long_term) or 1 not in self.long_term:
            raise SettingsError("long_term", f"{','.join(map(str, self.long_term))}: expected distinct frame "
                                "distances >= 1 that include 1, e.g. 1,2,4")
        if self.passes < 1:
            raise SettingsError("passes", f"must be >= 1, got {self.passes}")
        if not 0 <= self.blend <= 1:
            raise VidstyleError(f"multi-pass blend must be in [0, 1], got {self.blend}")
        if not 0 <= self.shot_threshold <= 1:
            raise SettingsError("shot_threshold", f"must be in [0, 1], got {self.shot_threshold}")
        if self.start < 0:
            raise SettingsError("start", f"must be >= 0, got {self.start}")
        if self.duration is not None and self.duration <= 0:
            raise SettingsError("duration", f"must be > 0, got {self.duration}")
        if self.max_frames is not None and self.max_frames <= 0:
            raise SettingsError("max_frames", f"must be > 0, got {self.max_frames}")
        if self.mask_mode not in defaults.MASK_MODES:
            raise SettingsError("mask_mode", f"{self.mask_mode!r}: expected one of {', '.join(defaults.MASK_MODES)}")
        if self.guide not in defaults.GUIDES:
            raise SettingsError("guide", f"{self.guide!r}: expected one of {', '.join(defaults.GUIDES)}")
        color.check_mode(self.colors, self.color_match)
        if self.mask is not None:
            if not Path(self.mask).is_file():
                raise SettingsError("mask", f"{self.mask}: no such file")
            if self.passes > 1 and not is_still_image(self.mask):
                raise VidstyleError("a mask video with --passes > 1 is not supported (later passes run backwards "
                                    "and would need every mask at once); use a still mask or one pass")

    def lambda_t(self, engine: Settings | ResolvedSettings) -> float:
        if self.temporal_weight is not None:
            return float(self.temporal_weight)
        return defaults.temporal_weight(engine.model, engine.gram_norm)

    def identity(self) -> dict:
        """The settings that decide the frames (codec and crf only change the encoding)."""
        d = asdict(self)
        d.pop("codec"), d.pop("crf")
        d["engine"] = self.engine.to_dict()
        return d


@dataclass
class FrameReport:
    """One finished (or, with ``resumed``, already finished) frame."""

    index: int
    pass_: int
    position: int  # 0-based, in this pass's processing order
    iterations: int
    stop_reason: str
    loss: float
    terms: dict[str, float]
    seconds: float
    flow_seconds: float
    reliable: float | None  # fraction of the frame reliable w.r.t. its neighbour
    shot_start: bool
    resumed: bool = False
    evaluations: int = 0  # loss+gradient passes (over all scales of the frame)
    full_size_evaluations: float = 0.0  # the same, each weighted by its scale's pixels / the frame's: the cost
    loss_passes: int = 0  # loss-only forward passes (the last L-BFGS iteration of each scale)


class VideoObserver:
    """Progress hooks of :func:`stylize_video`; override what you need (all no-ops here)."""

    def start(self, *, frames: int | None, passes: int, size: tuple[int, int], resumed: int) -> None: ...
    def frame_start(self, *, pass_: int, index: int, iterations: int) -> None: ...
    def iteration(self, info: IterationInfo) -> None: ...
    def frame_done(self, report: FrameReport) -> None: ...
    def encoding(self, frames: int) -> None: ...


@dataclass
class VideoResult:
    """Outcome of :func:`stylize_video`. ``output`` is None unless the video was written."""

    output: Path | None
    work_dir: Path
    frames: int  # frames of the video (decoded)
    stylized: int  # frames optimized by this run (over all passes)
    resumed: int  # frames found finished in the work dir
    passes: int
    size: tuple[int, int]  # (H, W)
    seconds: float
    stylize_seconds: float
    flow_seconds: float
    flow_hits: int
    flow_misses: int
    complete: bool
    stop_reason: str  # "complete", "interrupted" or the decode error
    decode_error: str | None
    settings: dict
    notes: list[str]
    reports: list[FrameReport]
    precision: str = "fp32"  # of the network's forward/backward, as run
    encode_seconds: float = 0.0  # the one step that does not overlap the optimizer: it needs every frame

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / max(1, self.stylized)

    def summary(self) -> str:
        out = f" -> {self.output}" if self.output else ""
        later = [r.evaluations for r in self.reports if not r.shot_start]
        evals = f", {sum(later) / len(later):.0f} evaluations per later frame" if later else ""
        return (f"{self.frames} frames ({self.stylized} stylized, {self.resumed} resumed) x {self.passes} pass(es) "
                f"in {self.seconds:.1f}s, {self.seconds_per_frame:.2f} s/frame{evals}, {self.precision}; "
                f"flow cache {self.flow_hits} hits, "
                f"{self.flow_misses} misses{out}")


def default_output(input_path: Path, styles: Sequence[Path], *, preview: bool = False) -> Path:
    """``<input-stem>.<style-stem>.mp4`` beside the input (``.preview.mp4`` for previews)."""
    stem = "+".join(Path(s).stem for s in styles)
    return Path(input_path).with_name(f"{Path(input_path).stem}.{stem}{'.preview' if preview else ''}.mp4")


def default_work_dir(output: Path) -> Path:
    """``<output>.work`` beside the output; for a PNG sequence ``<folder>.work`` beside its folder
    (never inside it: the finished folder replaces the output folder as a whole)."""
    output = Path(output)
    if "%" in output.name:
        output = output.parent
    return output.with_name(output.name + ".work")


class _Controls:
    """Per-frame mask and colour controls (:mod:`vidstyle.controls`) for a video.

    The colour reference (``match``/``luminance``) is frame 0 for every frame, so
    the style's recolouring does not flicker. A mask video is read in step with
    the frames of pass 1 (a still mask serves every frame).
    """

    def __init__(self, s: VideoSettings, styles: Sequence[torch.Tensor], hw: tuple[int, int]):
        self.s = s
        self.styles = list(styles)
        self.base: FrameControls | None = None
        self._masks = iter_masks(s.mask, hw=hw, start=s.start, duration=s.duration) if s.mask else None
        self._mask_index = -1
        self._mask: torch.Tensor | None = None
        self.notes: list[str] = []

    def _mask_for(self, index: int) -> torch.Tensor | None:
        if self._masks is None:
            return None
        while self._mask_index < index:
            try:
                self._mask = next(self._masks)
            except StopIteration:
                raise VidstyleError(f"mask video {self.s.mask} ends before frame {index}") from None
            self._mask_index += 1
        return self._mask

    def for_frame(self, index: int, content: torch.Tensor) -> FrameControls:
        mask = self._mask_for(index)
        if self.base is None:
            self.base = frame_controls(content, self.styles, mask=mask, mask_mode=self.s.mask_mode,
                                       guide=self.s.guide, colors=self.s.colors, color_match=self.s.color_match)
            self.notes += self.base.notes
            return self.base
        return self.base.with_masks([mask] if mask is not None else [], content=content)


def warped_start(content: torch.Tensor, prev: torch.Tensor, flow: torch.Tensor,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """A later frame's start from the previous result warped by the backward ``flow``:
    ``c * warp(prev, flow) + (1 - c) * content``.

    ``--init prev-warped``: ``c`` = the reliability ``mask`` ``(1, 1, H, W)``, so
    unreliable areas start from the content frame: where the flow fails, nothing
    misplaced is carried on. ``--init prev-warped-all`` (the default; ``mask`` None;
    Ruder et al. 2016): ``c`` = 1 wherever the flow samples inside the previous frame, occlusions
    included, the content frame only where it samples outside (zero padding would start
    that strip black).
    """
    w, inside = warp(prev, flow)
    c = inside.to(w.dtype) if mask is None else mask
    return c * w + (1 - c) * content


def multipass_start(before: torch.Tensor, neighbour: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor,
                    blend: float) -> torch.Tensor:
    """A later pass's start (Ruder et al. 2018): the frame's previous-pass result ``before`` blended
    with the processing-order neighbour's result warped by ``flow``, weighted ``blend`` x its ``mask``:
    ``c * warp(neighbour, flow) + (1 - c) * before`` with ``c = blend * mask``."""
    w, _ = warp(neighbour, flow)
    c = blend * mask
    return c * w + (1 - c) * before


def _estimate_frames(info, s: VideoSettings) -> int | None:
    total = info.frames
    fps = float(info.fps) if info.fps else None
    if total is not None and fps and s.start:
        total = max(0, total - int(round(s.start * fps)))
    if s.duration is not None and fps:
        total = min(total, math.ceil(s.duration * fps)) if total is not None else math.ceil(s.duration * fps)
    if s.max_frames is not None:
        total = min(total, s.max_frames) if total is not None else s.max_frames
    return total


class _Run:
    """State of one :func:`stylize_video` call (kept out of the public API)."""

    def __init__(self, *, input_path, styles, settings: VideoSettings, engine_settings: ResolvedSettings, net,
                 device, work, flow_engine, observer, should_stop, hw, grams: TargetCache | None = None):
        self.input_path = input_path
        self.styles = styles
        self.s = settings
        self.es = engine_settings
        self.net = net
        self.device = device
        self.work = work
        self.flow = flow_engine
        self.obs = observer
        self.should_stop = should_stop or (lambda: False)
        self.hw = hw
        # The one Gram-target cache of the run (plain and guided styles); a parallel worker passes its own,
        # kept across its tasks.
        self.grams = grams if grams is not None else TargetCache()
        self.carry: dict = {}  # L-BFGS memory handed from frame to frame (VideoSettings.carry_memory)
        self.controls = _Controls(settings, styles, hw) if settings.controlled else None
        self.lam = settings.lambda_t(engine_settings)
        self.reports: list[FrameReport] = []
        self.stylized = 0
        self.resumed = 0
        self.stylize_seconds = 0.0
        self.flow_seconds = 0.0
        self.interrupted = False

    # -- one frame ---------------------------------------------------------------
    def _temporal_terms(self, neighbours: list[Neighbour], outputs: dict[int, torch.Tensor]) -> list[TemporalTerm]:
        # Ruder et al. 2016, Sec. 4.2: one term per earlier frame, masks combined closest first.
        masks = combine_long_term_masks([nb.mask.to(self.device) for nb in neighbours])
        terms = []
        for nb, c in zip(neighbours, masks):
            w, _ = warp(outputs[nb.index], nb.flow.to(self.device))
            name = "temporal" if nb.distance == 1 else f"temporal{nb.distance}"
            terms.append(TemporalTerm(w, c, self.lam, name=name))
        return terms

    def _later_scales(self) -> str:
        """The ``--scales`` of a later frame: its coarse fractions of the frame size, then the size."""
        size = max(self.hw)
        coarse = sorted({max(1, round(f * size)) for f in self.s.frame_scales[:-1]} - {size})
        return ",".join(map(str, coarse + [size])) if coarse else "none"

    def _later_optim(self, scales: str):
        """Per-scale optimizer settings of a later frame: the warm-start early stop on every scale."""
        later = replace(self.es.optim, min_iterations=self.s.frame_min_iterations, tol=self.s.frame_tol,
                        window=self.s.frame_window, pyramid=self.s.frame_pyramid)
        n = len(parse_scales(scales, max(self.hw)))
        return [replace(later, iterations=self.s.coarse_iterations)] * (n - 1) + [later]

    def _init_first(self, content: torch.Tensor) -> torch.Tensor:
        if self.s.init == "noise":
            return noise_image((int(content.shape[-2]), int(content.shape[-1])), self.es.seed, self.device)
        return content

    def _init_next(self, content: torch.Tensor, prev: torch.Tensor, nb: Neighbour) -> torch.Tensor:
        mode = self.s.init
        if mode == "prev-warped":
            return warped_start(content, prev, nb.flow.to(self.device), nb.mask.to(self.device))
        if mode == "prev-warped-all":
            return warped_start(content, prev, nb.flow.to(self.device))
        if mode == "prev":
            return prev
        return self._init_first(content)

    def _frame_terms(self, ctl: FrameControls | None, content: torch.Tensor, fs: ResolvedSettings,
                     temporal: Sequence[Term]) -> TermsFactory:
        """The frame's terms per scale: the controls' (or plain content + style + TV), then the temporal ones."""
        base = ctl.terms(self.net, fs, self.device, targets=self.grams) if ctl is not None else None

        def make(hw: tuple[int, int]) -> list[Term]:
            own = base(hw) if base is not None else stylize_terms(self.net, fs, content, self.styles, hw, self.device,
                                                                  self.grams)
            return own + list(temporal)

        return make

    def frame(self, pass_: int, job: Job, usable: list[Neighbour], shot_start: bool,
              outputs: dict[int, torch.Tensor], ctl=None) -> tuple[torch.Tensor | None, FrameReport | None]:
        """Stylize one frame; returns (quantized output, report) or (None, None) if interrupted.

        ``ctl``: the frame's mask/colour controls (:class:`vidstyle.controls.FrameControls`) or None.
        """
        opt_content = ctl.content if ctl is not None else job.content  # e.g. grey for --colors luminance
        content = opt_content.to(self.device, non_blocking=True)  # pinned by the flow worker on CUDA
        temporal_on = self.s.passes == 1 or pass_ >= self.s.temporal_from_pass
        if pass_ == 1:
            if shot_start:
                self.carry.clear()  # another shot: the last frame's curvature says nothing about it
                init, iters, scales, terms = self._init_first(content), self.s.first_iterations, self.es.scales, []
            else:
                prev = outputs[usable[0].index]
                init = self._init_next(content, prev, usable[0])
                iters, scales = self.es.optim.iterations, self._later_scales()
                terms = self._temporal_terms(usable, outputs) if temporal_on else []
        else:
            # Ruder et al. 2018, multi-pass: blend the previous pass with the warped neighbour.
            before = self.work.load_frame(pass_ - 1, job.index).to(self.device)
            iters, scales, terms = self.es.optim.iterations, self._later_scales(), []
            if shot_start:
                init = before
            else:
                nb = usable[0]
                init = multipass_start(before, outputs[nb.index], nb.flow.to(self.device), nb.mask.to(self.device),
                                       self.s.blend)
                terms = self._temporal_terms(usable, outputs) if temporal_on else []
        styled = ctl.styled if ctl is not None else None
        if styled is not None:
            # Outside the mask the target is the content frame: start there, so the style does not
            # trail behind a moving mask (a mask video) through the warped previous frame.
            styled = styled.to(self.device)
            init = styled * init + (1 - styled) * content
        frame_settings = replace(self.es, scales=scales, optim=replace(self.es.optim, iterations=iters))
        scale_optim = None if pass_ == 1 and shot_start else self._later_optim(scales)
        self.obs.frame_start(pass_=pass_, index=job.index, iterations=iters)
        layers = needed_layers(frame_settings)
        check_size(self.hw, layers)
        result = run_scales(self.net, self._frame_terms(ctl, content, frame_settings, terms), self.hw,
                            frame_settings, layers, content=content, init=init.clamp(0, 1),
                            callback=self.obs.iteration, device=self.device, should_stop=self.should_stop,
                            param=ctl.parametrisation(self.device) if ctl is not None else None,
                            scale_optim=scale_optim,
                            carry=self.carry if scale_optim is not None and self.s.carry_memory else None)
        if self.should_stop():
            self.interrupted = True  # a frame cut short is not kept: the resumed run redoes it whole
            return None, None
        # The frame written is also the one the next frame is warped from: with --colors original the
        # temporal loss then holds the luminance steady and pulls chroma towards the content's, which the
        # swap replaces anyway.
        image_u8 = to_uint8(ctl.postprocess(result.image) if ctl is not None else result.image)
        reliable = usable[0].reliable if usable else (job.neighbours[0].reliable if job.neighbours else None)
        report = FrameReport(index=job.index, pass_=pass_, position=job.position, iterations=result.iterations,
                             stop_reason=result.stop_reason, loss=result.loss, terms=result.terms,
                             seconds=result.seconds, flow_seconds=job.flow_seconds, reliable=reliable,
                             shot_start=shot_start, evaluations=result.evaluations, loss_passes=result.loss_passes,
                             full_size_evaluations=sum(sc["evaluations"] * sc["size"][0] * sc["size"][1]
                                                       for sc in result.scales) / (self.hw[0] * self.hw[1]))
        record = asdict(report) | {"pts": job.pts, "time": job.time}
        self.work.save_frame(pass_, job.index, image_u8, record)
        self.stylized += 1
        self.stylize_seconds += result.seconds
        # The next frames see the saved (8-bit) result, so a resumed run computes exactly the same.
        return from_uint8(image_u8).to(self.device), report

    # -- one pass ------------------------------------------------------------------
    def run_pass(self, pass_: int, frames, *, save_source: bool) -> tuple[list[int], str | None]:
        """Process ``frames`` (``(index, u8, pts, time)`` in processing order); returns (indices, decode error)."""
        distances = sorted(self.s.long_term)
        done = set(self.work.finished(pass_))
        pin = self.device is not None and torch.device(self.device).type == "cuda"
        worker = FlowWorker(frames, self.flow, distances, wanted=lambda i: i not in done, ahead=defaults.FLOW_AHEAD,
                            pin=pin)
        window: deque = deque(maxlen=max(distances))  # indices of the last frames, processing order
        outputs: dict[int, torch.Tensor] = {}
        order: list[int] = []
        shot_pos = 0
        error = None
        try:
            for job in worker:
                order.append(job.index)
                # every frame, finished or not, so that a mask video stays in step
                ctl = self.controls.for_frame(job.index, job.content) if self.controls is not None else None
                if save_source:
                    self.work.save_source(job.index, job.image)
                if job.index in done:
                    rec = self.work.record(pass_, job.index) or {}
                    if rec.get("shot_start") or job.position == 0:
                        shot_pos = job.position
                    self.resumed += 1
                    self.obs.frame_done(FrameReport(
                        index=job.index, pass_=pass_, position=job.position, iterations=rec.get("iterations", 0),
                        stop_reason=rec.get("stop_reason", "finished earlier"), loss=rec.get("loss", float("nan")),
                        terms=rec.get("terms", {}), seconds=0.0, flow_seconds=0.0, reliable=rec.get("reliable"),
                        shot_start=bool(rec.get("shot_start")), resumed=True,
                        evaluations=rec.get("evaluations", 0)))
                else:
                    if self.should_stop():
                        self.interrupted = True
                        break
                    short = next((nb for nb in job.neighbours if nb.distance == 1), None)
                    shot_start = short is None or short.reliable < self.s.shot_threshold
                    if shot_start:
                        shot_pos = job.position
                    usable = [nb for nb in job.neighbours if nb.distance <= job.position - shot_pos]
                    for nb in usable:
                        if nb.index not in outputs:  # finished by an earlier run
                            outputs[nb.index] = self.work.load_frame(pass_, nb.index).to(self.device)
                    self.flow_seconds += job.flow_seconds
                    out, report = self.frame(pass_, job, usable, shot_start, outputs, ctl)
                    if out is None or report is None:  # interrupted (both are None then)
                        break
                    outputs[job.index] = out
                    self.reports.append(report)
                    self.obs.frame_done(report)
                window.append(job.index)
                for k in [k for k in outputs if k not in window]:
                    del outputs[k]
        except DecodeError as exc:
            error = exc
        finally:
            worker.close()
        return order, (str(error) if error is not None else None)


def _source_frames(input_path: Path, s: VideoSettings, size: int):
    for fr in iter_frames(input_path, size=size, start=s.start, duration=s.duration, max_frames=s.max_frames):
        yield fr.index, fr.image, fr.pts, fr.time


def _stored_frames(work: WorkDir, indices: Sequence[int]):
    for i in indices:
        yield i, WorkDir.load_frame_u8_path(work.source_path(i)), None, None


def stylize_video(input_path: str | Path, styles: Sequence[torch.Tensor], *, output: str | Path,
                  settings: VideoSettings = VideoSettings(), device=None, net=None,
                  work_dir: str | Path | None = None, restart: bool = False, cache_dir: str | Path | None = None,
                  overwrite: bool = False, observer: VideoObserver | None = None,
                  should_stop: Callable[[], bool] | None = None, style_names: Sequence[str] | None = None,
                  flow_params: dict | None = None) -> VideoResult:
    """Stylize the video at ``input_path`` with ``styles`` (each ``(1, 3, H, W)`` RGB in [0, 1]) into ``output``.

    The output appears only when every frame is done (written to a temporary
    name, then renamed); finished frames stay in ``work_dir`` (default
    ``<output>.work``) so a second call with the same arguments resumes.
    Flows and masks are read from and written to the flow cache at ``cache_dir``
    (the CLI passes the per-user cache that ``vidstyle flow`` fills; None: no
    cache), computed by ``settings.method`` with ``flow_params``.
    ``should_stop()`` returning True ends the run after the current frame's
    iteration; the frame being optimized is dropped and redone on resume.
    A source corrupt part-way is stylized as far as it decodes, encoded, and
    then reported as a :class:`VidstyleError` naming the frame where it stopped.
    """
    t_start = time.perf_counter()
    input_path = Path(input_path)
    output = Path(output)
    settings.validate()
    if not styles:
        raise VidstyleError("at least one style image is needed")
    for i, style in enumerate(styles):
        check_image(style, f"style image {i + 1}", batch=1)
    check_output_path(output, codec=settings.codec, overwrite=overwrite)
    info = probe(input_path)
    width, height = output_size(info.width, info.height, settings.engine.size)
    hw = (height, width)
    es, notes = resolve(replace(settings.engine, size=max(hw)), mode="video")
    # Resolved here, not per frame, so that the work dir's identity names the precision the frames used.
    choice = precision.choose(es.precision, torch.device(device) if device is not None else torch.device("cpu"))
    es = replace(es, precision=choice.precision)
    if choice.requested == "auto":
        notes.append(choice.note())
    observer = observer or VideoObserver()
    work_root = Path(work_dir) if work_dir is not None else default_work_dir(output)
    identity = work_identity(settings, es, (width, height), flow_params, input_path, styles)
    work = WorkDir.open(work_root, identity, restart=restart)
    # Flows come from the shared flow cache (None: no cache); the work dir keeps frames only.
    flow_engine = open_flow_engine(settings.method, params=flow_params, device=device, cache_dir=cache_dir)
    stats = flow_engine.cache.stats if flow_engine.cache is not None else CacheStats()
    if net is None:
        net = load_network(es, needed_layers(es), device=device)
    run = _Run(input_path=input_path, styles=[s.to(device) for s in styles], settings=settings, engine_settings=es,
               net=net, device=device, work=work, flow_engine=flow_engine, observer=observer,
               should_stop=should_stop, hw=hw)
    resumed_before = sum(len(work.finished(p)) for p in range(1, settings.passes + 1))
    observer.start(frames=work.state.get("frames") or _estimate_frames(info, settings), passes=settings.passes,
                   size=hw, resumed=resumed_before)

    decode_error = None
    order, error = run.run_pass(1, _source_frames(input_path, settings, max(hw)), save_source=settings.passes > 1)
    if error is not None:
        decode_error = error
    if not run.interrupted:
        if not order:
            raise VidstyleError(f"{input_path}: no video frames could be decoded"
                                + (f" ({decode_error})" if decode_error else ""))
        work.update(frames=len(order), decode_error=decode_error)
        for pass_ in range(2, settings.passes + 1):
            indices = sorted(order, reverse=pass_ % 2 == 0)  # Ruder et al. 2018: alternate directions
            run.run_pass(pass_, _stored_frames(work, indices), save_source=False)
            if run.interrupted:
                break

    result_output = None
    encode_seconds = 0.0
    complete = not run.interrupted
    if complete:
        observer.encoding(len(order))
        t_encode = time.perf_counter()
        result_output = _encode(work, settings, info, input_path, output, sorted(order), width, height, overwrite)
        encode_seconds = time.perf_counter() - t_encode
    stop_reason = "interrupted" if run.interrupted else (decode_error or "complete")
    result = VideoResult(
        output=result_output, work_dir=work.root, frames=len(order), stylized=run.stylized, resumed=run.resumed,
        passes=settings.passes, size=hw, seconds=time.perf_counter() - t_start,
        stylize_seconds=run.stylize_seconds, flow_seconds=run.flow_seconds, flow_hits=stats.hits,
        flow_misses=stats.misses, complete=complete and decode_error is None, stop_reason=stop_reason,
        decode_error=decode_error, settings=identity,
        notes=notes + (run.controls.notes if run.controls is not None else []), reports=run.reports,
        precision=es.precision, encode_seconds=encode_seconds)
    return result


def work_identity(settings: VideoSettings, es: ResolvedSettings, frame_size: tuple[int, int], flow_params: dict | None,
                  input_path: Path, styles: Sequence[torch.Tensor]) -> dict:
    """What decides a run's frames, as the work dir's manifest records it (a resumed run must match)."""
    return {
        "settings": settings.identity() | {"engine": es.to_dict()},
        "frame_size": list(frame_size),
        "flow_params": defaults.flow_params(settings.method, flow_params),
        "source": {"digest": file_digest(input_path), "bytes": input_path.stat().st_size},
        "styles": [tensor_digest(s) for s in styles],
        "mask": file_digest(settings.mask) if settings.mask else None,
    }


def _encode(work: WorkDir, s: VideoSettings, info, input_path: Path, output: Path, indices: list[int],
            width: int, height: int, overwrite: bool) -> Path:
    records = [work.record(1, i) or {} for i in indices]
    first, last = records[0], records[-1]
    trimmed = bool(s.start) or s.duration is not None or s.max_frames is not None
    t0 = float(first.get("time") or 0.0) if s.start else 0.0
    pts0 = int(first.get("pts") or 0) if s.start else 0
    audio_end = None
    if trimmed and last.get("time") is not None:
        audio_end = float(last["time"]) + (1.0 / float(info.fps) if info.fps else 0.0)
    writer = VideoWriter(output, width=width, height=height, fps=info.fps or 25, time_base=info.time_base,
                         codec=s.codec, crf=s.crf, audio_from=input_path if info.audio_streams else None,
                         overwrite=overwrite, audio_start=t0, audio_end=audio_end)
    with writer:
        for i, rec in zip(indices, records):
            pts = rec.get("pts")
            writer.write(work.load_frame_u8(s.passes, i), pts=None if pts is None else int(pts) - pts0)
    return writer.path


def measure_temporal(result: VideoResult, input_path: str | Path, settings: VideoSettings, *, device=None,
                     cache_dir: str | Path | None = None, flow_params: dict | None = None):
    """E_temp and flash score (:mod:`vidstyle.video.evaluate`) of a finished run's frames.

    Flows and masks are those of the source frames, read from the run's flow cache (``cache_dir``).
    """
    work = WorkDir(Path(result.work_dir), {})
    indices = work.finished(settings.passes)
    engine = open_flow_engine(settings.method, params=flow_params, device=device, cache_dir=cache_dir)
    source = (img for _, img, _, _ in _source_frames(Path(input_path), settings, max(result.size)))
    return temporal_errors((work.load_frame_u8(settings.passes, i) for i in indices), source, engine)
