"""Experiment sweeps: one setting varied over a list of values, run after run.

A sweep is planned (:func:`plan_sweep`: which runs, their labels, their
settings), run (:func:`run_sweep`, with one network and shared targets), and
reported (:class:`SweepResult`: contact sheet, JSON, Markdown table).

Modes (``--over``):

* ``content-layers``: content reconstruction from noise at each layer
  (Gatys et al. 2016, fig. 1); rows = contents, columns = layers.
* ``style-layers``: texture synthesis from noise on each layer set
  (Gatys et al. 2015, fig. 1); rows = styles, columns = layer sets.
* ``seeds``: the same style transfer from noise with each seed, plus
  amplified differences ``|seed_i - seed_0| x gain``; rows = contents.
* ``grid``: every content x every style.
* ``style-weight``, ``content-weight``, ``iterations``, ``init``: style
  transfer with each value; rows = contents, columns = values.

Runs that share a target compute it once: style Grams are cached per style
group across a row/column (and per layer for texture sets).
Images are ``(1, 3, H, W)`` float32 RGB in [0, 1] (DESIGN.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from vidstyle import defaults
from vidstyle.contact_sheet import contact_sheet
from vidstyle.engine import (
    ResolvedSettings,
    Settings,
    reconstruct_image,
    resolve,
    scaled_hw,
    stylize_image,
    synthesize_texture,
)
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.imageio import to_uint8
from vidstyle.optimize import IterationInfo
from vidstyle.tensors import resize
from vidstyle.terms import TargetCache
from vidstyle.vgg import layer_index
from vidstyle.weights import WeightsSpec, deepest_available

MODES = defaults.SWEEP_MODES
Named = tuple[str, torch.Tensor]  # (label, image)


@dataclass
class Cell:
    """One run of a sweep, at ``row``/``col`` of the sheet."""

    row: int
    col: int
    row_label: str
    col_label: str
    kind: str  # "stylize", "reconstruct" or "texture"
    settings: ResolvedSettings  # with this cell's value applied
    content: torch.Tensor | None = None
    styles: tuple[torch.Tensor, ...] = ()
    style_group: str = ""  # cells of one group share their style images (so their targets, once)
    layers: tuple[str, ...] = ()  # reconstruct / texture layers


@dataclass
class SweepPlan:
    mode: str
    row_titles: list[str]
    col_titles: list[str]
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)
    diff_gain: float = defaults.SWEEP_DIFF_GAIN

    @property
    def layers(self) -> list[str]:
        """Every layer some run reads (to build one network for the whole sweep)."""
        names: set[str] = set()
        for c in self.cells:
            if c.kind == "stylize":
                names |= set(c.settings.content_layers) | set(c.settings.style_layers)
            else:
                names |= set(c.layers)
        return sorted(names, key=layer_index)


def _check_nonempty(values: Sequence, what: str) -> None:
    if not values:
        raise VidstyleError(f"{what}: empty list")


def _floats(values: Sequence[str], option: str) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except ValueError:
            raise VidstyleError(f"{option}: expected numbers, got {v!r}") from None
        if not math.isfinite(f) or f < 0:
            raise VidstyleError(f"{option}: values must be finite and >= 0, got {v}")
        out.append(f)
    return out


def _ints(values: Sequence[str], option: str, *, minimum: int) -> list[int]:
    out = []
    for v in values:
        try:
            i = int(v)
        except ValueError:
            raise VidstyleError(f"{option}: expected whole numbers, got {v!r}") from None
        if i < minimum:
            raise VidstyleError(f"{option}: values must be >= {minimum}, got {i}")
        out.append(i)
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def default_content_layers(settings: Settings | ResolvedSettings) -> list[str]:
    """conv1_1..conv5_1, cut at the deepest layer the weights cover."""
    have = deepest_available(WeightsSpec(settings.model, settings.weights))
    layers = [k for k in defaults.SWEEP_CONTENT_LAYERS if have is None or layer_index(k) <= layer_index(have)]
    return layers


def plan_sweep(mode: str, *, contents: Sequence[Named] = (), styles: Sequence[Named] = (),
               values: Sequence[str] | None = None, settings: Settings | ResolvedSettings = Settings(),
               diff_gain: float = defaults.SWEEP_DIFF_GAIN) -> SweepPlan:
    """The runs of a ``mode`` sweep over ``values`` (strings as typed; ``None`` = the mode's default).

    ``values`` for ``style-layers`` are layer sets, each ``"relu1_1,relu2_1"``.
    ``settings`` apply to every run (resolved here). Bad modes, empty lists,
    unusable values and missing inputs raise :class:`VidstyleError`.
    """
    if mode not in MODES:
        raise SettingsError("over", f"{mode!r}: expected one of {', '.join(MODES)}")
    if values is not None:
        values = [v.strip() for v in values if v.strip()]
        _check_nonempty(values, "--values")
    contents, styles = list(contents), list(styles)
    s, notes = resolve(settings)
    given_init = settings.init  # None: not given (resolved settings always name one)
    cells: list[Cell] = []
    style_imgs = tuple(img for _, img in styles)
    style_label = " + ".join(label for label, _ in styles)

    if mode == "content-layers":
        if styles:
            raise SettingsError("over", "content-layers reconstructs contents: give content images and no style images")
        _check_nonempty(contents, "content images")
        layers = list(values) if values is not None else default_content_layers(s)
        for k in layers:
            layer_index(k)
        cols = layers
        noise = replace(s, init="noise")
        for i, (label, img) in enumerate(contents):
            for j, k in enumerate(layers):
                cells.append(Cell(i, j, label, k, "reconstruct", noise, content=img, layers=(k,)))
        return SweepPlan(mode, [c for c, _ in contents], cols, cells, notes, diff_gain)

    if mode == "style-layers":
        _check_nonempty(styles, "style images")
        if values is not None:
            sets = [tuple(k.strip() for k in v.replace(";", " ").replace("+", ",").split(",") if k.strip())
                    for v in values]
        else:
            sets = [tuple(s.style_layers[: n + 1]) for n in range(len(s.style_layers))]
        for layer_set in sets:
            _check_nonempty(layer_set, "--values layer set")
            for k in layer_set:
                layer_index(k)
        noise = replace(s, init="noise", style_blend=None)  # one style image per row: nothing to blend
        for i, (label, img) in enumerate(styles):
            for j, layer_set in enumerate(sets):
                cells.append(Cell(i, j, label, "+".join(layer_set), "texture", noise, styles=(img,),
                                  style_group=f"style {i}", layers=layer_set))
        return SweepPlan(mode, [c for c, _ in styles], ["+".join(t) for t in sets], cells, notes, diff_gain)

    _check_nonempty(contents, "content images")
    _check_nonempty(styles, "style images")
    if mode == "grid":
        if values is not None:
            raise SettingsError("over", "grid takes no values: it runs every content with every style")
        for i, (label, img) in enumerate(contents):
            for j, (slabel, simg) in enumerate(styles):
                cells.append(Cell(i, j, label, slabel, "stylize", replace(s, style_blend=None), content=img,
                                  styles=(simg,), style_group=f"style {j}"))
        return SweepPlan(mode, [c for c, _ in contents], [c for c, _ in styles], cells, notes, diff_gain)

    per_col: list[tuple[str, ResolvedSettings]] = []
    if mode == "seeds":
        seeds = _ints(values, "--values", minimum=0) if values is not None else list(defaults.SWEEP_SEEDS)
        if len(set(seeds)) < 2:
            raise SettingsError("over", f"seeds needs two or more different seeds, got {seeds}")
        if given_init is not None and given_init != "noise":
            notes.append("--over seeds starts every run from noise (a seed only matters there)")
        per_col = [(f"seed {v}", replace(s, seed=v, init="noise")) for v in seeds]
    elif mode in ("style-weight", "content-weight"):
        name = mode.replace("-", "_")
        base = getattr(s, name)
        ws = (_floats(values, "--values") if values is not None
              else [base * f for f in defaults.SWEEP_WEIGHT_FACTORS])
        per_col = [(f"{mode} {_fmt(w)}", replace(s, style_weight=w) if name == "style_weight"
                    else replace(s, content_weight=w)) for w in ws]
    elif mode == "iterations":
        its = _ints(values, "--values", minimum=1) if values is not None else list(defaults.SWEEP_ITERATIONS)
        # The early stop would end every column at the same image: each column runs its full count.
        per_col = [(f"{n} iterations", replace(s, optim=replace(s.optim, iterations=n, min_iterations=n)))
                   for n in its]
        notes.append("--over iterations runs each column for exactly its iteration count (no early stop)")
    elif mode == "init":
        inits = list(values) if values is not None else ["noise", "content"]
        for v in inits:
            if v not in defaults.INITS and not Path(v).is_file():
                raise SettingsError("values", f"{v!r}: expected noise, content or an existing image file")
        per_col = [(f"init {Path(v).name if v not in defaults.INITS else v}", replace(s, init=v)) for v in inits]
    for i, (label, img) in enumerate(contents):
        for j, (clabel, cs) in enumerate(per_col):
            cells.append(Cell(i, j, label, clabel, "stylize", cs, content=img, styles=style_imgs,
                              style_group="styles"))
    plan = SweepPlan(mode, [c for c, _ in contents], [c for c, _ in per_col], cells, notes, diff_gain)
    if style_label:
        plan.notes.append(f"style: {style_label}")
    return plan


@dataclass
class CellResult:
    cell: Cell
    image: torch.Tensor  # (1, 3, H, W) on the CPU
    iterations: int
    loss: float
    terms: dict[str, float]
    seconds: float
    stop_reason: str
    finite: bool = True

    def record(self) -> dict:
        return {"row": self.cell.row_label, "column": self.cell.col_label, "kind": self.cell.kind,
                "loss": self.loss, "terms": self.terms, "iterations": self.iterations,
                "seconds": round(self.seconds, 3), "stop_reason": self.stop_reason, "finite": self.finite}


def amplified_difference(a: torch.Tensor, b: torch.Tensor, gain: float) -> torch.Tensor:
    """``|a - b| x gain``, clipped to [0, 1] (``b`` resized to ``a`` if needed)."""
    if a.shape != b.shape:
        b = resize(b, (int(a.shape[-2]), int(a.shape[-1])))
    return ((a - b).abs() * gain).clamp(0, 1)


@dataclass
class SweepResult:
    """Finished runs of a plan, with the report formats."""

    plan: SweepPlan
    results: list[CellResult]
    targets_computed: int = 0  # style-target computations (runs sharing a target count once)
    seconds: float = 0.0

    def _grid(self) -> list[list[CellResult | None]]:
        grid: list[list[CellResult | None]] = [[None] * len(self.plan.col_titles) for _ in self.plan.row_titles]
        for r in self.results:
            grid[r.cell.row][r.cell.col] = r
        return grid

    def differences(self) -> list[list[torch.Tensor | None]]:
        """Seeds mode: per row, ``|run_j - run_0| x gain`` for j >= 1 (None where a run is missing)."""
        if self.plan.mode != "seeds":
            return [[] for _ in self.plan.row_titles]
        out = []
        for row in self._grid():
            first = row[0]
            out.append([amplified_difference(r.image, first.image, self.plan.diff_gain)
                        if r is not None and first is not None else None for r in row[1:]])
        return out

    def sheet_titles(self) -> list[str]:
        cols = list(self.plan.col_titles)
        if self.plan.mode == "seeds":
            first = cols[0]
            cols += [f"|{c} - {first}| x{self.plan.diff_gain:g}" for c in self.plan.col_titles[1:]]
        return cols

    def sheet(self, cell: int = defaults.SWEEP_CELL) -> np.ndarray:
        """The labelled contact sheet (HxWx3 uint8): one cell per run, plus the seed differences."""
        rows = []
        for runs, diffs in zip(self._grid(), self.differences()):
            rows.append([to_uint8(r.image) if r is not None else None for r in runs]
                        + [to_uint8(d) if d is not None else None for d in diffs])
        return contact_sheet(rows, row_titles=self.plan.row_titles, col_titles=self.sheet_titles(),
                             title=f"vidstyle sweep --over {self.plan.mode}", cell=cell)

    def table(self) -> list[dict]:
        """One record per run: row, column, loss, terms, iterations, seconds, stop reason."""
        records = [r.record() for r in self.results]
        if self.plan.mode == "seeds":
            grid = self._grid()
            for rec, r in zip(records, self.results):
                first = grid[r.cell.row][0]
                if first is not None:
                    rec["mean_abs_diff_vs_first"] = float((r.image - first.image).abs().mean())
        return records

    def to_json(self) -> dict:
        return {"mode": self.plan.mode, "rows": self.plan.row_titles, "columns": self.plan.col_titles,
                "runs": self.table(), "style_targets_computed": self.targets_computed,
                "seconds": round(self.seconds, 3), "notes": self.plan.notes}

    def markdown(self) -> str:
        """The table as Markdown, one line per run."""
        records = self.table()
        term_names = sorted({k for rec in records for k in rec["terms"]})
        extra = ["mean_abs_diff_vs_first"] if self.plan.mode == "seeds" else []
        head = ["row", "column", "loss", *term_names, "iterations", "seconds", *extra, "stop"]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for rec in records:
            vals = [rec["row"], rec["column"], f"{rec['loss']:.4g}",
                    *(f"{rec['terms'][k]:.4g}" if k in rec["terms"] else "" for k in term_names),
                    str(rec["iterations"]), f"{rec['seconds']:.2f}",
                    *(f"{rec[k]:.4f}" for k in extra if k in rec), rec["stop_reason"]]
            lines.append("| " + " | ".join(v.replace("|", "\\|") for v in vals) + " |")
        return "\n".join(lines) + "\n"


def run_sweep(plan: SweepPlan, *, net, device=None,
              on_cell: Callable[[int, Cell], None] | None = None,
              callback: Callable[[IterationInfo], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> SweepResult:
    """Run every cell of ``plan`` on ``net`` (built for ``plan.layers``).

    ``on_cell(index, cell)`` is called before each run, ``callback`` per
    iteration. Stops early (keeping the finished runs) when ``should_stop()``. One
    :class:`~vidstyle.terms.TargetCache` serves every cell: runs that share a style
    (and texture layer sets, layer by layer) compute its Gram targets once.
    """
    start = time.perf_counter()
    targets = TargetCache()
    results: list[CellResult] = []
    for index, cell in enumerate(plan.cells):
        if should_stop is not None and should_stop():
            break
        if on_cell is not None:
            on_cell(index, cell)
        if cell.kind == "reconstruct":
            assert cell.content is not None  # the plan gives every non-texture cell its content
            r = reconstruct_image(cell.content, layers=cell.layers, settings=cell.settings, device=device, net=net,
                                  callback=callback)
        elif cell.kind == "texture":
            style = cell.styles[0]
            r = synthesize_texture(style, size=scaled_hw((int(style.shape[-2]), int(style.shape[-1])),
                                                         cell.settings.size),
                                   layers=cell.layers, settings=cell.settings, device=device, net=net,
                                   callback=callback, should_stop=should_stop, targets=targets)
        else:
            assert cell.content is not None
            r = stylize_image(cell.content, list(cell.styles), settings=cell.settings, device=device, net=net,
                              callback=callback, should_stop=should_stop, targets=targets)
        results.append(CellResult(cell, r.image.detach().cpu(), r.iterations, r.loss, r.terms, r.seconds,
                                  r.stop_reason, r.finite))
    return SweepResult(plan, results, targets.misses, time.perf_counter() - start)


def cell_filename(cell: Cell) -> str:
    """A file name for a run's image: ``r1c2-<row>-<column>.png`` with safe characters."""
    def slug(text: str) -> str:
        # "+" stays: "1e+03" turned into "1e-03" named a weight 1e6 times too small
        keep = "".join(ch if ch.isalnum() or ch in "._-+" else "-" for ch in text)
        return "-".join(p for p in keep.split("-") if p)[:40]

    return f"r{cell.row + 1}c{cell.col + 1}-{slug(cell.row_label)}-{slug(cell.col_label)}.png"


__all__ = ["MODES", "Cell", "CellResult", "SweepPlan", "SweepResult", "amplified_difference", "cell_filename",
           "default_content_layers", "plan_sweep", "run_sweep"]
