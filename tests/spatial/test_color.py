"""Colour control on real images: luminance swap keeps the content's chroma, matching
gives the style the content's pixel mean and covariance (no network weights)."""

from __future__ import annotations

import pytest
import torch

from vidstyle.color import (
    apply_colors,
    color_match,
    luminance,
    match_colors,
    match_luminance,
    pixel_stats,
    preprocess_content,
    rgb_to_yuv,
    yuv_to_rgb,
)
from vidstyle.errors import VidstyleError


def test_yuv_round_trip_and_grey_has_no_chroma(shipwreck):
    torch.testing.assert_close(yuv_to_rgb(rgb_to_yuv(shipwreck)), shipwreck, atol=1e-5, rtol=0)
    grey = preprocess_content(shipwreck, "luminance")
    assert rgb_to_yuv(grey)[:, 1:].abs().max() < 1e-5
    torch.testing.assert_close(luminance(grey), luminance(shipwreck), atol=1e-5, rtol=0)


def test_original_colors_keep_content_chroma_and_result_luminance(shipwreck, starry):
    result = torch.nn.functional.interpolate(starry, size=shipwreck.shape[-2:], mode="bilinear")  # a "stylized" image
    out = apply_colors(result, shipwreck, "original")
    yuv_out, yuv_c, y_r = rgb_to_yuv(out), rgb_to_yuv(shipwreck), luminance(result)
    # Clipping to [0, 1] moves out-of-gamut pixels; judge the in-gamut ones, and count them.
    raw = yuv_to_rgb(torch.cat([y_r, yuv_c[:, 1:]], 1))
    ok = ((raw >= 0) & (raw <= 1)).all(1, keepdim=True)
    assert ok.float().mean() > 0.9  # measured 0.967 for this pair
    uv_err = (yuv_out[:, 1:] - yuv_c[:, 1:]).abs()
    y_err = (yuv_out[:, :1] - y_r).abs()
    assert uv_err.masked_select(ok).max() < 1e-5 and y_err.masked_select(ok).max() < 1e-5
    assert uv_err.mean() < 0.003 and y_err.mean() < 0.003  # all pixels, clipping included: measured 5e-4, 2e-4
    assert torch.equal(apply_colors(result, shipwreck, "style"), result)


@pytest.mark.parametrize("method", ["pca", "chol", "sym"])
def test_match_gives_the_style_the_contents_mean_and_covariance(method, shipwreck, starry):
    style, content = shipwreck, starry  # this way round 1-2% of the matched pixels leave [0, 1]
    mu_c, cov_c = pixel_stats(content)
    mu_s, cov_s = pixel_stats(style)
    assert (cov_s - cov_c).abs().max() > 1e-2 and (mu_s - mu_c).abs().max() > 0.05  # the pair really differs
    exact = match_colors(style, content, method, clip=False)
    mu, cov = pixel_stats(exact)
    # eps = 1e-5 regularises both covariances, leaving eps (I - A A^T): measured cov error 4-7e-5
    # against covariance entries up to 0.057
    assert (mu - mu_c).abs().max() < 1e-5 and (cov - cov_c).abs().max() < 2e-4
    clipped = color_match(style, content, method)  # what --colors match uses: clipped to [0, 1]
    mu, cov = pixel_stats(clipped)
    assert clipped.min() >= 0 and clipped.max() <= 1
    # clipping moves the statistics a little: measured max 0.0021 (mean) and 0.0030 (covariance)
    assert (mu - mu_c).abs().max() < 0.005 and (cov - cov_c).abs().max() < 0.006


def test_match_methods_differ_but_agree_on_statistics(shipwreck, starry):
    outs = [match_colors(starry, shipwreck, m, clip=False) for m in ("pca", "chol", "sym")]
    assert (outs[0] - outs[1]).abs().max() > 1e-3 and (outs[0] - outs[2]).abs().max() > 1e-3


def test_luminance_match_and_bad_modes(shipwreck, starry):
    g = match_luminance(starry, shipwreck)
    y, yc = luminance(g), luminance(shipwreck)
    assert abs(float(y.mean() - yc.mean())) < 0.01 and abs(float(y.std() - yc.std())) < 0.01
    with pytest.raises(VidstyleError, match="^match "):
        color_match(starry, shipwreck, "lab")
    with pytest.raises(VidstyleError, match="^colors "):
        apply_colors(starry, shipwreck, "sepia")
