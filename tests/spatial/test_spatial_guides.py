"""Guided Gram matrices, per-layer guides, mask fitting and compositing (no network weights)."""

from __future__ import annotations

import pytest
import torch

from vidstyle.controls import frame_controls
from vidstyle.errors import VidstyleError
from vidstyle.guided import feature_hw, guided_gram, layer_guides
from vidstyle.losses import gram_matrix
from vidstyle.masks import fit_mask, mask_warnings, parse_region
from vidstyle.terms import BlendTransform, MaskBlend, Plain, TargetCache


@pytest.mark.parametrize("norm", ["chw", "hw", "none"])
def test_guided_gram_with_all_ones_guide_is_the_plain_gram(norm):
    feats = torch.randn(2, 8, 7, 9, dtype=torch.float64)
    ones = torch.ones(2, 1, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(guided_gram(feats, ones, norm), gram_matrix(feats, norm), rtol=1e-12, atol=1e-12)


def test_binary_guide_gives_the_gram_of_the_region_alone():
    feats = torch.randn(1, 4, 6, 10, dtype=torch.float64)
    guide = torch.zeros(1, 1, 6, 10, dtype=torch.float64)
    guide[..., :4] = 1
    torch.testing.assert_close(guided_gram(feats, guide), gram_matrix(feats[..., :4]))
    # a soft guide weights positions by T^2: a constant 0.5 guide changes nothing after normalisation
    torch.testing.assert_close(guided_gram(feats, 0.5 * torch.ones_like(guide)), gram_matrix(feats))


def test_guided_gram_gradcheck():
    feats = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    guide = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: guided_gram(f, guide), (feats,))


def test_layer_guides_sizes_and_ordering():
    mask = torch.zeros(1, 1, 64, 96)
    mask[..., :, :40] = 1
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    g = {mode: layer_guides(mask, layers, mode) for mode in ("simple", "inside", "all")}
    for k in layers:
        assert g["simple"][k].shape[-2:] == feature_hw((64, 96), k)
        assert all(g[m][k].shape == g["simple"][k].shape for m in g)
        # inside marks only positions wholly inside the region, all every position touching it
        assert (g["inside"][k] <= g["simple"][k] + 1e-6).all() and (g["simple"][k] <= g["all"][k] + 1e-6).all()
    assert feature_hw((64, 96), "relu3_1") == (16, 24)
    # relu3_1's receptive field is wide: "inside" shrinks the region, "all" grows it, by whole columns
    cols = lambda t: int((t[0, 0, 0] > 0.5).sum())  # noqa: E731
    assert cols(g["inside"]["relu3_1"]) < cols(g["simple"]["relu3_1"]) == 10 < cols(g["all"]["relu3_1"])


def test_fit_mask_resizes_same_aspect_and_refuses_another():
    mask = torch.ones(1, 1, 50, 100)
    same, notes = fit_mask(mask, (50, 100))
    assert same is mask and notes == []
    resized, notes = fit_mask(mask, (100, 200))
    assert resized.shape == (1, 1, 100, 200) and "resized" in notes[0]
    with pytest.raises(VidstyleError, match="100x50 but the content is 100x100"):
        fit_mask(mask, (100, 100))


def test_degenerate_masks_warn():
    assert "all black" in mask_warnings(torch.zeros(1, 1, 4, 4))[0]
    assert "all white" in mask_warnings(torch.ones(1, 1, 4, 4))[0]
    half = torch.zeros(1, 1, 4, 4)
    half[..., :2] = 1
    assert mask_warnings(half) == []


def test_blend_transform_composites_by_the_mask():
    x, content = torch.rand(1, 3, 4, 6), torch.rand(1, 3, 4, 6)
    mask = torch.zeros(1, 1, 4, 6)
    mask[..., :3] = 1
    out = BlendTransform(content, mask)(x)
    assert torch.equal(out[..., :3], x[..., :3]) and torch.equal(out[..., 3:], content[..., 3:])


def test_frame_controls_validates_combinations():
    c, s = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    m = torch.ones(1, 1, 8, 8)
    with pytest.raises(VidstyleError, match="^mask_mode "):
        frame_controls(c, [s], mask=m, mask_mode="paint")
    with pytest.raises(VidstyleError, match="^guide "):
        frame_controls(c, [s], mask=m, guide="outside")
    with pytest.raises(VidstyleError, match="at least one style"):
        frame_controls(c, [])
    guided = frame_controls(c, [s], mask=m)
    assert guided.guided and guided.styles == [] and "all white" in guided.notes[0]
    assert isinstance(guided.parametrisation(), Plain)
    blend = frame_controls(c, [s], mask=m, mask_mode="blend")
    assert not blend.guided and len(blend.styles) == 1 and isinstance(blend.parametrisation(), MaskBlend)
    assert blend.parametrisation().at((4, 4)) is not None
    assert parse_region("a.jpg:b.png")[1].name == "b.png" and parse_region("a.jpg")[1] is None


def test_target_cache_computes_each_style_once(net, starry, scream):
    cache = TargetCache()
    a = cache(net, [starry], ["relu1_1"], long_side=64, blend=None, norm="chw")
    b = cache(net, [starry], ["relu1_1"], long_side=64, blend=None, norm="chw")
    cache(net, [scream], ["relu1_1"], long_side=64, blend=None, norm="chw")
    assert a["relu1_1"] is b["relu1_1"] and (cache.misses, cache.hits) == (2, 1)
    # more layers later: only the missing one is computed (texture layer sets grow this way)
    more = cache(net, [starry], ["relu1_1", "relu2_1"], long_side=64, blend=None, norm="chw")
    assert more["relu1_1"] is a["relu1_1"] and (cache.misses, cache.hits) == (3, 1)
    # the key holds the style tensors themselves: an equal copy is another style
    cache(net, [starry.clone()], ["relu1_1"], long_side=64, blend=None, norm="chw")
    assert cache.misses == 4
