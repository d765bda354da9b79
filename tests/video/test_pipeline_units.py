"""Temporal loss, work directory and settings of the video pipeline (fast, no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidstyle import defaults
from vidstyle.cli.options import user_message
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.video.pipeline import VideoSettings, default_output, default_work_dir
from vidstyle.video.temporal import TemporalLoss, TemporalTerm, temporal_loss
from vidstyle.video.workdir import WorkDir


def test_temporal_loss_is_masked_mean_over_3hw():
    x = torch.zeros(1, 3, 4, 5)
    w = torch.full((1, 3, 4, 5), 0.1)
    c = torch.ones(1, 1, 4, 5)
    assert temporal_loss(x, w, c).item() == pytest.approx(0.01)
    c[..., :2, :] = 0  # half the pixels unreliable: half the mean (not the mean over reliable pixels)
    assert temporal_loss(x, w, c).item() == pytest.approx(0.005)
    c = torch.rand(1, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    x = torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    expected = sum(float(c[0, 0, i, j] * (x[0, k, i, j] - 0.1) ** 2) for k in range(3) for i in range(4)
                   for j in range(5)) / 60
    assert temporal_loss(x, w, c).item() == pytest.approx(expected, rel=1e-5)
    assert TemporalLoss(w, c)(x).item() == pytest.approx(expected, rel=1e-5)


def test_temporal_loss_gradcheck_and_shape_errors():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(1, 3, 3, 4, dtype=torch.float64, generator=g)
    c = torch.rand(1, 1, 3, 4, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda a: temporal_loss(a, w, c), (x,))
    with pytest.raises(VidstyleError, match="mask"):
        temporal_loss(x, w, torch.ones(1, 3, 3, 4, dtype=torch.float64))
    with pytest.raises(VidstyleError, match="warped"):
        temporal_loss(x, w[..., :2], c)


def test_temporal_term_follows_the_scale():
    w = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(3))
    c = torch.ones(1, 1, 8, 12)
    term = TemporalTerm(w, c, weight=5.0)
    assert term.layers == () and term.name == "temporal"
    assert term(w.clone(), {}).item() == pytest.approx(0.0, abs=1e-12)
    small = torch.zeros(1, 3, 4, 6)
    value = term(small, {}).item()  # compared with the warped frame resized to 4x6
    resized = torch.nn.functional.interpolate(w, size=(4, 6), mode="bilinear", align_corners=False, antialias=True)
    assert value == pytest.approx(float((resized**2).mean()), rel=1e-5)


def test_temporal_weight_default_is_the_same_for_both_weight_sources():
    # The loss reads [0,1] pixels, and each model's content/style weights give its terms equal magnitudes.
    assert defaults.temporal_weight("caffe") == defaults.temporal_weight("torchvision") > 0
    with pytest.raises(ValueError):
        defaults.temporal_weight("alexnet")


@pytest.mark.parametrize("kwargs, match", [
    ({"init": "warp"}, "--init"), ({"long_term": (2, 4)}, "--long-term"), ({"passes": 0}, "--passes"),
    ({"shot_threshold": 1.5}, "--shot-threshold"), ({"temporal_weight": -1.0}, "--temporal-weight"),
    ({"first_iterations": 0}, "--first-iterations"), ({"max_frames": 0}, "--max-frames"),
])
def test_video_settings_reject_bad_values(kwargs, match):
    # The library names the parameter; the CLI shows the same error under the flag.
    (param,) = kwargs
    with pytest.raises(SettingsError, match=f"^{param} ") as exc:
        VideoSettings(**kwargs).validate()
    assert exc.value.param == param and user_message(exc.value).startswith(match + " ")


def test_default_names(tmp_path):
    out = default_output(tmp_path / "walk.mov", [tmp_path / "starry.jpg"])
    assert out == tmp_path / "walk.starry.mp4"
    assert default_output(tmp_path / "a.mp4", [tmp_path / "s.png"], preview=True).name == "a.s.preview.mp4"
    assert default_work_dir(out) == tmp_path / "walk.starry.mp4.work"


def test_workdir_refuses_changed_settings_and_restarts(tmp_path):
    ident = {"settings": {"iterations": 100, "engine": {"size": 64}}, "source": {"digest": "abc"}}
    work = WorkDir.open(tmp_path / "w", ident)
    work.save_frame(1, 0, np.zeros((4, 6, 3), np.uint8), {"pts": 0})
    assert work.finished(1) == [0] and work.record(1, 0) == {"pts": 0}
    assert WorkDir.open(tmp_path / "w", json.loads(json.dumps(ident))).finished(1) == [0]  # same settings: resume
    changed = {"settings": {"iterations": 50, "engine": {"size": 64}}, "source": {"digest": "def"}}
    with pytest.raises(VidstyleError) as err:
        WorkDir.open(tmp_path / "w", changed)
    assert "settings.iterations (100 -> 50)" in str(err.value) and "source.digest" in str(err.value)
    assert "size" not in str(err.value)
    assert WorkDir.open(tmp_path / "w", changed, restart=True).finished(1) == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(VidstyleError, match="not empty"):
        WorkDir.open(tmp_path / "other", ident)


def test_workdir_keeps_a_nested_work_dirs_frames(tmp_path):
    # A parallel run's stills live in <work>/stills before any frame reaches pass1: a resumed run must keep
    # them (it once replaced the manifest and wiped them, so a stopped run paid its stills again).
    ident = {"settings": {"iterations": 100}}
    work = WorkDir.open(tmp_path / "w", ident)
    WorkDir(work.root / "stills", {}).save_frame(1, 5, np.zeros((4, 6, 3), np.uint8), {"still": True})
    again = WorkDir.open(tmp_path / "w", ident)
    assert WorkDir(again.root / "stills", {}).finished(1) == [5]
    with pytest.raises(VidstyleError, match="other settings"):
        WorkDir.open(tmp_path / "w", {"settings": {"iterations": 50}})
