"""The reliability mask formula of DESIGN.md (Ruder et al. 2016) on hand-made
NON-uniform flows where the thresholds decide, the -1 disocclusion marking before
the blur, and the long-term "closest first" combination."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flow import FlowError, combine_long_term_masks, consistency_parts, reliability_mask


def _gauss_1d(sigma=0.8):
    r = math.ceil(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()


def test_disocclusion_threshold_on_nonuniform_flows():
    """u_b = 2 + 0.05 x (varies along x), forward flow of t-1 u_f(x) = -2.5 + 0.02 x (varies too).

    Each row is moved by the same u_b(x) so |w_b|^2 is large and non-uniform; the
    forward flow must be sampled at x' = x + u_b(x), not at x. The exact rule
    |w_b + w_f'|^2 > 0.01 (|w_b|^2 + |w_f'|^2) + 0.5 is evaluated by hand per column.
    """
    h, w = 6, 60
    xs = torch.arange(w, dtype=torch.float64)
    ub = 2.0 + 0.05 * xs
    bw = torch.zeros(1, 2, h, w, dtype=torch.float64)
    bw[:, 0] = ub
    fw = torch.zeros(1, 2, h, w, dtype=torch.float64)
    fw[:, 0] = -2.5 + 0.02 * xs
    parts = consistency_parts(bw, fw)
    xp = xs + ub
    inside = (xp <= w - 1).numpy()
    uf_at = (-2.5 + 0.02 * xp).numpy()  # linear, so bilinear sampling is exact
    s = (ub.numpy() + uf_at) ** 2
    expect = (s > 0.01 * (ub.numpy() ** 2 + uf_at**2) + 0.5) & inside
    got = parts.disoccluded[0, 0].numpy()
    assert (got == expect[None, :]).all()
    # The rule decides in the middle of the row: some columns pass, some fail, some leave the frame.
    assert expect.any() and (~expect & inside).any() and (~inside).any()
    assert np.array_equal(parts.outside[0, 0, 0].numpy(), ~inside)
    # A doubled (not squared) or unsampled variant decides differently on this flow:
    doubled = (2 * np.abs(ub.numpy() + uf_at) > 0.01 * 2 * (np.abs(ub.numpy()) + np.abs(uf_at)) + 0.5) & inside
    at_x = ((ub + (-2.5 + 0.02 * xs)).numpy() ** 2 > 0.01 * (ub.numpy() ** 2 + (-2.5 + 0.02 * xs).numpy() ** 2) + 0.5) & inside
    assert not np.array_equal(doubled, expect) and not np.array_equal(at_x, expect)


def test_motion_boundary_threshold_on_nonuniform_flows():
    """u_b(y) = -2 + 0.1 y: |grad u_b|^2 = 0.01 everywhere but |w_b|^2 varies by row,
    with a forward flow that undoes it exactly (no disocclusion).

    0.01 > 0.01 u^2 + 0.002  <=>  |u| < sqrt(0.8) = 0.894: rows 12..28 are motion
    boundaries. A doubled term (0.02 |u|) would give |u| < 0.4 (rows 17..23).
    """
    h, w = 41, 12
    ys = torch.arange(h, dtype=torch.float64)
    ub = -2.0 + 0.1 * ys
    bw = torch.zeros(1, 2, h, w, dtype=torch.float64)
    bw[:, 0] = ub[:, None]
    fw = -bw.clone()  # depends on y only, and x' stays in row y: w_b + w_f' = 0 exactly
    parts = consistency_parts(bw, fw)
    assert not parts.disoccluded.any()
    inner = slice(1, h - 1)  # the top and bottom rows see a one-sided (replicated-edge) difference
    got = parts.motion_boundary[0, 0, inner, 5].numpy()  # column 5: x' = 5 + u_b stays inside
    expect = (0.01 > 0.01 * ub[inner] ** 2 + 0.002).numpy()
    assert (got == expect).all()
    assert np.flatnonzero(got).tolist() == list(range(11, 28))  # rows 12..28 of the full field
    assert not np.array_equal(expect, (0.01 > 0.02 * ub[inner].abs() + 0.002).numpy())
    # the edge rows: (f(1) - f(0)) / 2 = 0.05, |grad|^2 = 0.0025 + 0 < 0.01 * 4 + 0.002
    assert not parts.motion_boundary[0, 0, 0, 5] and not parts.motion_boundary[0, 0, -1, 5]


def test_disocclusions_are_minus_one_before_the_blur_then_clipped():
    h, w = 15, 15
    bw = torch.zeros(1, 2, h, w)
    fw = torch.zeros(1, 2, h, w)
    # One disoccluded pixel at (7, 7): w_b points 1 px right, where the forward flow is 0
    # (|1 + 0|^2 = 1 > 0.01 + 0.5); its 4 neighbours see a 0.5 px/px gradient: motion boundaries.
    bw[0, 0, 7, 7] = 1.0
    parts = consistency_parts(bw, fw)
    assert parts.disoccluded[0, 0, 7, 7] and parts.disoccluded.sum() == 1
    boundary = parts.motion_boundary[0, 0].numpy()
    assert boundary[7, 6] and boundary[7, 8] and boundary[6, 7] and boundary[8, 7] and boundary.sum() == 4
    reliable = parts.reliable[0, 0].numpy().astype(np.float64)
    k = _gauss_1d(0.8)
    r = len(k) // 2

    def blur(img):
        pad = np.pad(img, r, mode="edge")
        return np.array([[(np.outer(k, k) * pad[y:y + 2 * r + 1, x:x + 2 * r + 1]).sum() for x in range(w)]
                         for y in range(h)])

    expect = np.clip(blur(reliable - parts.disoccluded[0, 0].numpy()), 0, 1)
    got = reliability_mask(bw, fw)[0, 0].numpy()
    assert np.abs(got - expect).max() < 1e-5
    # The -1 (rather than 0) takes exactly one more centre-tap weight k0^2 = 0.249 off the centre.
    assert abs(got[7, 7] - (blur(reliable)[7, 7] - k[r] ** 2)) < 1e-5 and got[7, 7] > 0
    assert (got <= np.clip(blur(reliable), 0, 1) + 1e-6).all() and (got < blur(reliable) - 0.05).sum() >= 8


def test_out_of_frame_is_zero_not_minus_one():
    h, w = 11, 11
    bw = torch.zeros(1, 2, h, w)
    bw[0, 0, :, -1] = 0.5  # the last column samples at x = 10.5: outside, with a smooth flow
    bw[0, 0, :, -2] = 0.25
    bw[0, 0, :, -3] = 0.0
    fw = torch.zeros(1, 2, h, w)
    parts = consistency_parts(bw, fw)
    assert parts.outside[0, 0, :, -1].all() and not parts.outside[0, 0, :, :-1].any()
    assert not parts.disoccluded.any()
    m = reliability_mask(bw, fw, blur_sigma=0)
    assert m[0, 0, :, -1].eq(0).all()
    k = _gauss_1d(0.8)
    blurred = reliability_mask(bw, fw)[0, 0].numpy()
    # rows far from the top/bottom: the blur of a 0 column, not of a -1 column
    hard_row = m[0, 0, 5].numpy()
    expect = np.convolve(np.pad(hard_row, 3, mode="edge"), k, mode="valid")
    assert np.abs(blurred[5] - np.clip(expect, 0, 1)).max() < 1e-6


def test_mask_shape_dtype_range_and_errors():
    g = torch.Generator().manual_seed(0)
    bw = torch.randn(2, 2, 9, 13, generator=g) * 3
    fw = torch.randn(2, 2, 9, 13, generator=g) * 3
    m = reliability_mask(bw, fw)
    assert m.shape == (2, 1, 9, 13) and m.dtype == torch.float32
    assert m.min() >= 0 and m.max() <= 1
    with pytest.raises(FlowError, match="sizes must match"):
        reliability_mask(bw, fw[..., :12])
    with pytest.raises(FlowError, match="blur_sigma"):
        reliability_mask(bw, fw, blur_sigma=-1)


def test_long_term_closest_first():
    c1 = torch.tensor([1.0, 0.0, 0.6, 0.0]).view(1, 1, 1, 4)
    c2 = torch.tensor([1.0, 1.0, 0.9, 0.0]).view(1, 1, 1, 4)
    c4 = torch.tensor([1.0, 1.0, 1.0, 0.7]).view(1, 1, 1, 4)
    out = combine_long_term_masks([c1, c2, c4])
    assert torch.allclose(out[0], c1)
    assert torch.allclose(out[1], torch.tensor([0.0, 1.0, 0.3, 0.0]).view(1, 1, 1, 4))
    assert torch.allclose(out[2], torch.tensor([0.0, 0.0, 0.1, 0.7]).view(1, 1, 1, 4))
    assert torch.all(sum(out) <= 1 + 1e-6)
    assert combine_long_term_masks([]) == []
    with pytest.raises(FlowError):
        combine_long_term_masks([c1, torch.zeros(1, 1, 2, 4)])
