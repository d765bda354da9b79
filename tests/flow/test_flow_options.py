"""The flow options shared by `vidstyle flow`, `vidstyle video` and `vidstyle evaluate`, on real encoded clips:
one default flow cache (a `flow` run fills what `video` reads), one working-size rule (never upscaled), one set
of options in every command's help, and flows accurate at the source size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flow import read_flo
from tests.flow.conftest import _remap, texture
from tests.video.conftest import clipgen  # noqa: F401  (the fixture of samples/make_clip.py, reused)
from vidstyle.cli import app
from vidstyle.video.decode import output_size

runner = CliRunner()
SHIFT = (1.5, -0.75)  # px per frame, x and y: the clip's known motion
FPS = 10
MARGIN = 24  # texture beyond the frame, so the shifted picture never runs out


def _translating(t: float, width: int, height: int) -> np.ndarray:
    """Frame at ``t`` s: one smooth texture moved by ``k * SHIFT`` (k = frame number), as HxWx3 uint8."""
    k = round(t * FPS)
    big = texture(height + 2 * MARGIN, width + 2 * MARGIN, 0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    img = _remap(big, xs + MARGIN - k * SHIFT[0], ys + MARGIN - k * SHIFT[1])  # frame_k(x) = frame_0(x - k d)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def shift_clip(tmp_path_factory, clipgen) -> Path:  # noqa: F811
    """4 frames, 192x128 (smaller than the default --size 448), libx264, translating by SHIFT per frame."""
    return clipgen.make_clip(tmp_path_factory.mktemp("shift") / "shift.mp4", frames=4, fps=FPS, width=192,
                             height=128, audio=None, render=_translating)


@pytest.fixture(scope="module")
def style(styles_dir) -> Path:
    return sorted(styles_dir.glob("*.jpg"))[0]


def test_size_rule_never_upscales():
    assert output_size(320, 180, 448) == (320, 180)
    assert output_size(192, 128, 448) == (192, 128)
    assert output_size(192, 128, 96) == (96, 64)


def test_flow_at_source_size_matches_the_known_motion(shift_clip, tmp_path):
    flo = tmp_path / "flo"
    r = runner.invoke(app, ["flow", str(shift_clip), "--save-flo", str(flo), "--device", "cpu", "-q"],
                      env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert r.exit_code == 0, r.output
    assert "3 pairs at 192x128" in r.output  # the default --size 448 does not upscale the 192x128 clip
    m = 8  # the borders see texture that entered the frame
    for t in range(3):
        fw = read_flo(flo / f"forward_{t:05d}.flo")
        bw = read_flo(flo / f"backward_{t + 1:05d}.flo")
        assert fw.shape == bw.shape == (128, 192, 2)
        epe_fw = np.linalg.norm(fw[m:-m, m:-m] - np.array(SHIFT), axis=-1).mean()
        epe_bw = np.linalg.norm(bw[m:-m, m:-m] + np.array(SHIFT), axis=-1).mean()
        assert epe_fw < 0.3 and epe_bw < 0.3, (t, epe_fw, epe_bw)  # measured 0.015 with deepflow


def test_flow_then_video_reads_every_pair_from_the_shared_cache(shift_clip, style, vgg_weights, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    pre = runner.invoke(app, ["flow", str(shift_clip), "--max-frames", "3", "--device", "cpu", "-q"], env=env)
    assert pre.exit_code == 0, pre.output
    assert "0/2 pairs all hits" in pre.output and str(tmp_path / "xdg" / "vidstyle" / "flow") in pre.output
    out, log = tmp_path / "out.mkv", tmp_path / "run.json"
    r = runner.invoke(app, ["video", str(shift_clip), str(style), "-o", str(out), "--codec", "ffv1",
                            "--max-frames", "3", "--first-iterations", "3", "--iterations", "2",
                            "--min-iterations", "0", "--scales", "none", "--weights", str(vgg_weights),
                            "--model", "caffe", "--precision", "fp32", "--device", "cpu", "-q", "--log", str(log)],
                      env=env)
    assert r.exit_code == 0, r.output
    data = json.loads(log.read_text())
    # Two pairs (frames 0-1, 1-2), three entries each (forward flow, backward flow, mask), all read from the
    # cache `vidstyle flow` filled.
    assert (data["flow_cache"]["hits"], data["flow_cache"]["misses"]) == (6, 0), data["flow_cache"]
    assert data["flow_cache"]["dir"] == str(tmp_path / "xdg" / "vidstyle" / "flow")
    assert "flow cache 6 hits, 0 misses" in " ".join(r.output.split())  # the run's summary says so too
    assert not (tmp_path / "out.mkv.work" / "flow").exists()  # the work dir keeps frames, not flow


def test_video_and_evaluate_take_the_flow_options():
    video = " ".join(runner.invoke(app, ["video", "--help"], env={"COLUMNS": "200"}).output.split())
    for word in ("raft", "--flow-weights", "--preset", "--cache-dir", "--no-cache", "--method", "NON-COMMERCIAL"):
        assert word in video, word
    evaluate = " ".join(runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"}).output.split())
    for word in ("raft", "--flow-weights", "--preset", "--cache-dir", "--no-cache", "--method"):
        assert word in evaluate, word


def _user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_evaluate_accepts_the_same_flow_options(shift_clip, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cache = tmp_path / "cache"
    # The source against itself: a perfectly consistent "stylization", E_temp near 0, through the shared options.
    ok = runner.invoke(app, ["evaluate", str(shift_clip), "--source", str(shift_clip), "--method", "dis",
                             "--preset", "fast", "--cache-dir", str(cache), "--max-frames", "3", "--device", "cpu"],
                       env=env)
    assert ok.exit_code == 0, ok.output
    assert any(cache.rglob("*.vsf"))  # flows went to the cache it was given
    _user_error(runner.invoke(app, ["evaluate", str(shift_clip), "--source", str(shift_clip), "--method",
                                    "deepflow", "--preset", "fast", "--device", "cpu"], env=env), "--preset")
    _user_error(runner.invoke(app, ["evaluate", str(shift_clip), "--source", str(shift_clip), "--method", "dis",
                                    "--flow-weights", "x", "--device", "cpu"], env=env), "--flow-weights")
    _user_error(runner.invoke(app, ["evaluate", str(shift_clip), "--source", str(shift_clip), "--method",
                                    "spynet", "--flow-weights", str(tmp_path / "none.pth"), "--device", "cpu"],
                              env=env), "no such file")
    _user_error(runner.invoke(app, ["evaluate", str(shift_clip), "--source", str(shift_clip), "--method", "raft",
                                    "--flow-weights", str(tmp_path / "none.pth"), "--device", "cpu"], env=env),
                "does not exist")


def test_video_refuses_bad_flow_options_before_any_work(shift_clip, style, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    base = ["video", str(shift_clip), str(style), "-o", str(tmp_path / "o.mp4"), "--device", "cpu"]
    _user_error(runner.invoke(app, [*base, "--method", "farneback"], env=env), "--method 'farneback'")
    _user_error(runner.invoke(app, [*base, "--method", "spynet", "--flow-weights", str(tmp_path / "none.pth")],
                              env=env), "no such file")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    _user_error(runner.invoke(app, [*base, "--cache-dir", str(blocker / "sub")], env=env), "not writable")
    _user_error(runner.invoke(app, [*base, "--no-cache", "--cache-dir", str(tmp_path / "c")], env=env),
                "--no-cache")
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.work").exists()


def test_spynet_offline_message_names_the_cli_flag(tmp_path, monkeypatch):
    """The library names its parameter (weights=FILE); the CLI shows the flag that sets it."""
    from vidstyle.cli.flow_options import cli_message

    msg = "SPyNet weights network-x.pytorch are not cached at /c; ... pass it as weights=FILE (licence)"
    assert "--flow-weights FILE" in cli_message(msg) and "weights=FILE" not in cli_message(msg)
