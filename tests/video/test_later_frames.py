"""Later video frames: coarse scales, their own early stop, evaluations counted (real clip, real weights)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vidstyle.engine import Settings
from vidstyle.errors import VidstyleError
from vidstyle.imageio import load_image
from vidstyle.optimize import OptimizerSettings
from vidstyle.video.pipeline import VideoSettings, stylize_video


@pytest.mark.parametrize("scales", [(), (0.5,), (1.0, 0.5), (0.0, 1.0), (0.5, 0.5, 1.0), (0.5, 1.5)])
def test_later_frame_scales_must_be_ascending_fractions_ending_at_one(scales):
    with pytest.raises(VidstyleError, match="later-frame scales"):
        VideoSettings(frame_scales=scales).validate()


@pytest.mark.parametrize("field, value", [("coarse_iterations", 0), ("frame_min_iterations", -1),
                                          ("frame_tol", -1e-3), ("frame_window", 1)])
def test_later_frame_early_stop_values_are_checked(field, value):
    with pytest.raises(VidstyleError, match="later-frame early stop"):
        replace(VideoSettings(), **{field: value}).validate()


def test_later_frames_optimize_over_a_pyramid_by_default_and_its_levels_are_checked():
    from vidstyle import defaults

    assert VideoSettings().frame_pyramid == defaults.FRAME_PYRAMID == 2
    with pytest.raises(VidstyleError, match="frame_pyramid"):
        VideoSettings(frame_pyramid=-1).validate()
    with pytest.raises(VidstyleError, match="frame_pyramid 0"):  # its memory lives over the pixels
        VideoSettings(carry_memory=True).validate()
    VideoSettings(carry_memory=True, frame_pyramid=0).validate()


def test_half_size_then_full_size_counts_evaluations(tmp_path, sintel_video, vgg_weights, styles_dir):
    style = load_image(sorted(styles_dir.glob("*.jpg"))[0])
    engine = Settings(size=96, model="caffe", weights=vgg_weights, init="content", scales="none", precision="fp32",
                      optim=OptimizerSettings(iterations=4))
    s = VideoSettings(engine=engine, first_iterations=5, method="dis", max_frames=3, frame_scales=(0.5, 1.0),
                      coarse_iterations=3, frame_min_iterations=0, frame_tol=0.0)
    r = stylize_video(sintel_video, [style], output=tmp_path / "o.mkv", settings=s)
    assert r.precision == "fp32" and "evaluations per later frame" in r.summary() and r.encode_seconds > 0
    first, *later = r.reports
    assert first.full_size_evaluations == first.evaluations >= 5  # frame 0: one scale, full size
    for rep in later:
        # 3 iterations at 48 px then 4 at 96 px (L-BFGS: one evaluation each plus the start, backtracks rare;
        # each scale's last iteration a loss-only pass)
        assert rep.iterations == 7 and rep.evaluations >= 7 and rep.loss_passes >= 2
        assert rep.full_size_evaluations < rep.evaluations - 2  # a half-size pass costs about a quarter
    from vidstyle.video.workdir import WorkDir

    assert WorkDir(r.work_dir, {}).record(1, later[0].index)["evaluations"] == later[0].evaluations  # in the log
