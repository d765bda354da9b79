"""Every sweep mode on real weights at tiny sizes: the sheet has one drawn cell per run
(plus seed differences), the table one row per run, and shared targets are computed once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.optimize import OptimizerSettings
from vidstyle.sweep import plan_sweep, run_sweep


@pytest.fixture(scope="module")
def quick(tiny):
    return replace(tiny, size=48, optim=OptimizerSettings(iterations=3, min_iterations=0))


def _segments(line: np.ndarray, min_len: int) -> int:
    """Runs of non-white pixels at least ``min_len`` long along a line of RGB pixels."""
    ink = (line < 250).any(-1)
    count = run = 0
    for v in list(ink) + [False]:
        if v:
            run += 1
        else:
            count += run >= min_len
            run = 0
    return count


def drawn_grid(sheet: np.ndarray, min_len: int = 20) -> tuple[int, int]:
    """(rows, columns) of image cells actually drawn: the most common non-zero count of long
    non-white runs over the pixel rows and over the pixel columns (title glyphs are shorter
    than ``min_len``; the odd line through white pixels inside an image is outvoted)."""
    def common(counts):
        counts = [c for c in counts if c]
        return max(set(counts), key=counts.count)

    cols = common(_segments(sheet[y], min_len) for y in range(sheet.shape[0]))
    rows = common(_segments(sheet[:, x], min_len) for x in range(sheet.shape[1]))
    return rows, cols


CASES = {
    # mode: (contents, styles, values, rows, runs per row, extra sheet columns)
    "content-layers": (["shipwreck"], [], ["conv1_1", "relu2_1"], 1, 2, 0),
    "style-layers": ([], ["starry", "scream"], ["relu1_1", "relu1_1,relu2_1"], 2, 2, 0),
    "seeds": (["shipwreck"], ["starry"], ["0", "1", "2"], 1, 3, 2),
    "grid": (["shipwreck", "scream"], ["starry", "scream"], None, 2, 2, 0),
    "style-weight": (["shipwreck"], ["starry"], ["1e2", "1e4"], 1, 2, 0),
    "content-weight": (["shipwreck"], ["starry"], None, 1, 3, 0),  # default: 0.1, 1, 10 x the default
    "iterations": (["shipwreck"], ["starry"], ["2", "4"], 1, 2, 0),
    "init": (["shipwreck"], ["starry"], None, 1, 2, 0),  # default: noise, content
}


@pytest.mark.parametrize("mode", list(CASES))
def test_each_mode_gives_a_sheet_cell_and_a_table_row_per_run(mode, quick, net, request):
    contents, styles, values, rows, cols, extra = CASES[mode]
    named = lambda names: [(n, request.getfixturevalue(n)) for n in names]  # noqa: E731
    plan = plan_sweep(mode, contents=named(contents), styles=named(styles), values=values, settings=quick)
    assert (len(plan.row_titles), len(plan.col_titles), len(plan.cells)) == (rows, cols, rows * cols)
    result = run_sweep(plan, net=net)
    assert len(result.results) == rows * cols
    assert all(r.finite and r.image.shape[-2:] != (0, 0) for r in result.results)
    sheet = result.sheet()
    assert drawn_grid(sheet) == (rows, cols + extra)
    table = result.table()
    assert [(t["row"], t["column"]) for t in table] == [(c.row_label, c.col_label) for c in plan.cells]
    assert all(t["seconds"] >= 0 and t["iterations"] >= 1 and np.isfinite(t["loss"]) for t in table)
    md = result.markdown().strip().splitlines()
    assert len(md) == 2 + rows * cols and md[0].startswith("| row | column | loss")
    assert result.to_json()["runs"] == table
    if mode == "iterations":  # each column runs exactly its count (no early stop)
        assert [t["iterations"] for t in table] == [2, 4]
    if mode == "seeds":  # different seeds give different images; the differences are drawn amplified
        assert all(t["mean_abs_diff_vs_first"] > 0.01 for t in table[1:])
    if mode in ("grid", "style-weight", "content-weight", "iterations", "init", "seeds"):
        # runs sharing a style compute its Gram targets once (one scale, so one per style)
        assert result.targets_computed == len(styles)


def test_bad_sweeps_are_clean_errors(quick, shipwreck, starry):
    c, s = [("c", shipwreck)], [("s", starry)]
    with pytest.raises(VidstyleError, match="^over 'layers'"):
        plan_sweep("layers", contents=c, styles=s, settings=quick)
    with pytest.raises(VidstyleError, match="--values: empty list"):
        plan_sweep("style-weight", contents=c, styles=s, values=[" ", ""], settings=quick)
    with pytest.raises(VidstyleError, match="two or more different seeds"):
        plan_sweep("seeds", contents=c, styles=s, values=["3", "3"], settings=quick)
    with pytest.raises(VidstyleError, match="unknown layer"):
        plan_sweep("content-layers", contents=c, values=["conv9_1"], settings=quick)
    with pytest.raises(VidstyleError, match="expected numbers"):
        plan_sweep("content-weight", contents=c, styles=s, values=["heavy"], settings=quick)
    with pytest.raises(VidstyleError, match="style images: empty list"):
        plan_sweep("grid", contents=c, settings=quick)


def test_cell_file_names_keep_the_exponent_sign():
    from vidstyle.sweep import Cell, cell_filename

    cell = Cell(0, 1, "content landscape", "style-weight 1e+03", "stylize", None)
    name = cell_filename(cell)
    assert name == "r1c2-content-landscape-style-weight-1e+03.png" and "1e-03" not in name
