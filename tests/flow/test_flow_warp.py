"""`flow.warp`: identity, integer shifts, agreement with cv2.remap, gradients."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from flow import FlowError, Warp, warp


def _img(h=23, w=31, c=3, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, c, h, w, generator=g, dtype=dtype)


def test_zero_flow_is_identity():
    img = _img()
    out, valid = warp(img, torch.zeros(1, 2, 23, 31))
    # grid_sample's coordinate normalisation round-trips with float32 rounding (measured 1.2e-7)
    assert torch.allclose(out, img, atol=1e-6, rtol=0)
    assert valid.all() and valid.shape == (1, 1, 23, 31) and valid.dtype == torch.bool


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, -2), (-4, 5)])
def test_integer_shift_equals_roll_inside(dx, dy):
    img = _img(h=20, w=24)
    flow = torch.zeros(1, 2, 20, 24)
    flow[:, 0], flow[:, 1] = dx, dy
    out, valid = warp(img, flow)
    # out(x) = img(x + d) = roll(img, -d)(x) wherever x + d stays inside
    rolled = torch.roll(img, shifts=(-dy, -dx), dims=(2, 3))
    inner = (slice(max(0, -dy), 20 - max(0, dy)), slice(max(0, -dx), 24 - max(0, dx)))
    assert torch.allclose(out[..., inner[0], inner[1]], rolled[..., inner[0], inner[1]], atol=1e-6)
    expect_valid = torch.zeros(20, 24, dtype=torch.bool)
    expect_valid[inner] = True
    assert torch.equal(valid[0, 0], expect_valid)
    # outside samples read zero (padding="zeros")
    assert out[0][:, ~expect_valid].abs().max() < 1e-6  # measured 4e-7 (float32 rounding of the grid)


def test_agrees_with_cv2_remap():
    h, w = 29, 37
    img = _img(h, w, seed=1)
    g = torch.Generator().manual_seed(2)
    flow = (torch.rand(1, 2, h, w, generator=g) - 0.5) * 8
    # cv2.remap quantises sample positions to 1/32 px (INTER_BITS = 5): feed it exact positions.
    flow = torch.round(flow * 32) / 32
    out, valid = warp(img, flow)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = xs + flow[0, 0].numpy()
    my = ys + flow[0, 1].numpy()
    src = img[0].permute(1, 2, 0).numpy()
    ref = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ours = out[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() < 1e-4  # measured 1.7e-6 (OpenCV interpolates with fixed-point weights)
    ref_b = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ours_b = warp(img, flow, padding="border")[0][0].permute(1, 2, 0).numpy()
    inside = valid[0, 0].numpy()
    assert not inside.all() and inside.any()  # the test exercises both cases
    assert np.abs(ours_b[inside] - ref_b[inside]).max() < 1e-4


def test_gradcheck_float64():
    img = _img(5, 6, c=2, seed=3, dtype=torch.float64).requires_grad_(True)
    g = torch.Generator().manual_seed(4)
    # Non-integer sample positions: bilinear interpolation is not differentiable at pixel centres.
    flow = ((torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64) - 0.5) * 3 + 0.37).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, f: warp(a, f)[0], (img, flow), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(lambda a, f: Warp("border")(a, f)[0], (img, flow), eps=1e-6, atol=1e-5)


def test_bad_inputs_are_flow_errors():
    img = _img(8, 8)
    with pytest.raises(FlowError, match="sizes must match"):
        warp(img, torch.zeros(1, 2, 8, 9))
    with pytest.raises(FlowError, match=r"\(N,2,H,W\)"):
        warp(img, torch.zeros(1, 3, 8, 8))
    with pytest.raises(FlowError, match="padding"):
        warp(img, torch.zeros(1, 2, 8, 8), padding="reflect")


def test_package_name_warp_is_the_function_once_the_submodule_is_loaded():
    """``flow.warp`` names a function and a submodule; loading the submodule must not rebind the package's
    name to the module (callers do ``from flow import warp`` and call it)."""
    import importlib

    import flow

    module = importlib.import_module("flow.warp")
    assert flow.warp is module.warp
    from flow import warp as again

    assert callable(again) and again is module.warp
