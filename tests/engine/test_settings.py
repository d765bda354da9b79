"""Settings resolved once: per-mode defaults, frozen and concrete, errors that name the parameter;
input contracts of the public entry points (no network weights needed)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vidstyle import defaults
from vidstyle.cli.options import user_message
from vidstyle.engine import ResolvedSettings, Settings, resolve, stylize_image, validate
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.optimize import OptimizerSettings
from vidstyle.tensors import check_image


@pytest.mark.parametrize("mode, init", [("image", "content"), ("video", "content"), ("reconstruct", "noise"),
                                        ("texture", "noise")])
def test_each_mode_has_its_start_image_and_a_given_one_wins(mode, init):
    assert resolve(Settings(), mode=mode)[0].init == init == defaults.INIT_BY_MODE[mode]
    assert resolve(Settings(init="noise"), mode=mode)[0].init == "noise"


def test_resolved_settings_are_concrete_frozen_and_resolved_once():
    rs, notes = resolve(Settings(model="caffe"))
    w = defaults.loss_weights("caffe")
    assert (rs.content_weight, rs.style_weight, rs.tv_weight) == (w.content, w.style, w.tv)
    assert rs.content_layers == defaults.CONTENT_LAYERS and rs.style_layers == defaults.STYLE_LAYERS
    assert rs.style_layer_weights == (1.0,) * len(defaults.STYLE_LAYERS)
    for f in dataclasses.fields(ResolvedSettings):
        if f.name not in ("weights", "style_blend"):  # None there is a value: the model's file, equal weights
            assert getattr(rs, f.name) is not None, f.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        rs.size = 3  # type: ignore[misc]
    again, _ = resolve(rs, mode="texture")  # already resolved: as it is, whatever the mode
    assert again is rs
    assert set(rs.to_dict()) == set(Settings().to_dict())  # the work dir's manifest keeps its keys


def test_reconstruction_is_pure_unless_tv_is_asked_and_takes_the_given_layers():
    rs, _ = resolve(Settings(), mode="reconstruct")
    assert rs.tv_weight == 0.0 and rs.content_layers == rs.style_layers == defaults.RECONSTRUCT_LAYERS
    rs, _ = resolve(Settings(tv_weight=5.0), mode="reconstruct", layers=["relu2_1"])
    assert rs.tv_weight == 5.0 and rs.content_layers == ("relu2_1",)
    assert resolve(Settings(), mode="texture")[0].style_layers == defaults.TEXTURE_LAYERS


def test_errors_name_the_parameter_and_the_cli_names_the_flag():
    with pytest.raises(SettingsError) as info:
        validate(Settings(size=0))
    assert info.value.param == "size" and str(info.value) == "size must be > 0, got 0"
    assert user_message(info.value) == "--size must be > 0, got 0"
    with pytest.raises(SettingsError) as info:
        resolve(Settings(style_weight=float("nan")))
    assert user_message(info.value).startswith("--style-weight must be a finite number >= 0")
    # three weights for the five default style layers: found once the layers are known
    with pytest.raises(SettingsError, match="style_layer_weights has 3 values for 5 style layers"):
        resolve(Settings(style_layer_weights=(1.0, 2.0, 3.0)))
    with pytest.raises(ValueError, match="iterations must be > 0"):  # checked once, where it is built
        OptimizerSettings(iterations=0)


def test_entry_points_refuse_wrong_images_with_the_offending_value():
    good = torch.rand(1, 3, 8, 8)
    with pytest.raises(VidstyleError, match=r"content image must be \(1, 3, H, W\), got shape \(3, 8, 8\)"):
        stylize_image(good[0], [good])
    bytes_as_floats = torch.full((1, 3, 8, 8), 255.0)
    bytes_as_floats[..., 0, :] = 0
    with pytest.raises(VidstyleError, match=r"style image 1 values must be in \[0, 1\], got min 0, max 255"):
        stylize_image(good, [bytes_as_floats])
    with pytest.raises(VidstyleError, match="float tensor in \\[0, 1\\], got dtype torch.uint8"):
        check_image(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), "frame")
    with pytest.raises(VidstyleError, match="at least one style image"):
        stylize_image(good, [])


def test_a_rule_without_bounds_describes_itself():
    """``Rule().text()`` used to read "<= None"."""
    from vidstyle.cli.checks import Rule

    assert Rule().text() == "a finite number"
    assert Rule(0).text() == ">= 0" and Rule(high=1).text() == "<= 1"
