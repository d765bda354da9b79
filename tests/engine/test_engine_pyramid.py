"""The Laplacian-pyramid parametrization later video frames optimize over (vidstyle.pyramid)."""

from __future__ import annotations

import pytest
import torch

from vidstyle.optimize import OptimizerSettings, optimize
from vidstyle.pyramid import LaplacianPyramid


@pytest.mark.parametrize("shape, levels", [((1, 3, 37, 53), 3), ((1, 3, 64, 64), 1), ((2, 3, 9, 5), 4)])
def test_synthesis_inverts_analysis_at_any_size(shape, levels):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    p = LaplacianPyramid(shape, levels)
    c = p.analyse(x)
    assert c.shape == (p.numel,) and p.sizes[-1] == ((shape[2] + 2**levels - 1) // 2**levels,
                                                    (shape[3] + 2**levels - 1) // 2**levels)
    assert torch.allclose(p.synthesize(c), x, atol=1e-6)


def test_the_gradient_reaches_the_coefficients_as_the_adjoint_of_synthesis():
    g = torch.Generator().manual_seed(1)
    p = LaplacianPyramid((1, 3, 20, 30), 2)
    c = torch.randn(p.numel, generator=g).requires_grad_(True)
    w = torch.randn(1, 3, 20, 30, generator=g)
    (grad,) = torch.autograd.grad((p.synthesize(c) * w).sum(), c)
    # linear: <synthesize(e), w> for a coarse coefficient e is what its gradient must be
    k = p.numel - 1  # the low-pass residual's last coefficient: it covers a patch of pixels
    e = torch.zeros(p.numel)
    e[k] = 1.0
    assert torch.isclose(grad[k], (p.synthesize(e) * w).sum(), atol=1e-5)
    assert (p.synthesize(e) != 0).sum() > 4  # and it does move more than one pixel


def test_a_pyramid_needs_a_level():
    with pytest.raises(ValueError, match="at least 1 level"):
        LaplacianPyramid((1, 3, 8, 8), 0)
    with pytest.raises(ValueError, match="pyramid levels"):
        OptimizerSettings(pyramid=-1)


def _quadratic(target):
    def loss_fn(x):
        loss = ((x - target) ** 2).sum()
        return loss, {"quadratic": loss}
    return loss_fn


def test_lbfgs_over_the_pyramid_reaches_the_minimum_and_stays_in_the_box():
    g = torch.Generator().manual_seed(2)
    inside = 0.1 + 0.8 * torch.rand(1, 3, 16, 24, generator=g)
    res = optimize(_quadratic(inside), torch.full_like(inside, 0.5), OptimizerSettings(iterations=60, tol=0,
                                                                                         pyramid=2))
    assert torch.allclose(res.image, inside, atol=1e-3) and res.evaluations >= res.iterations
    outside = inside * 3 - 1  # partly outside [0, 1]: the image returned is clipped, its loss that of the clip
    res = optimize(_quadratic(outside), torch.full_like(outside, 0.5), OptimizerSettings(iterations=60, tol=0,
                                                                                           pyramid=2))
    assert res.image.min() >= 0 and res.image.max() <= 1
    assert res.loss == pytest.approx(float(((res.image - outside) ** 2).sum()), rel=1e-5)
