"""The optimization loop on hand-made objectives: early stop, stop reasons, bounds."""

from __future__ import annotations

import torch

from vidstyle import defaults
from vidstyle.optimize import OptimizerSettings, optimize


def quadratic(target: torch.Tensor):
    def loss_fn(x):
        loss = ((x - target) ** 2).sum()
        return loss, {"quadratic": loss}
    return loss_fn


def test_lbfgs_reaches_a_box_constrained_minimum():
    target = torch.tensor([[[[0.2, 0.7], [1.4, -0.3]]]])  # two coordinates outside [0, 1]
    res = optimize(quadratic(target), torch.full_like(target, 0.5), OptimizerSettings(iterations=50, tol=0))
    assert torch.allclose(res.image, target.clamp(0, 1), atol=1e-4)
    assert res.image.min() >= 0 and res.image.max() <= 1


def test_start_at_the_minimum_stops_with_a_reason_not_a_long_stall():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    calls = {"n": 0}
    inner = quadratic(target)

    def loss_fn(x):
        calls["n"] += 1
        return inner(x)

    res = optimize(loss_fn, target.clone(), OptimizerSettings(iterations=100, min_iterations=20))
    assert "no decrease" in res.stop_reason or "converged" in res.stop_reason
    assert res.iterations <= 2
    assert calls["n"] < 60  # each failed line search costs at most 21 evaluations
    assert torch.equal(res.image, target)


def test_early_stop_never_before_min_iterations():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    # Adam at a small step decreases the loss by a few % per iteration: below tol 0.1 at once,
    # so the stop waits exactly for min_iterations.
    res = optimize(quadratic(target), torch.zeros_like(target) + 0.5,
                   OptimizerSettings(optimizer="adam", lr=0.002, iterations=100, min_iterations=30, tol=1e-1))
    assert res.iterations == 30, res.stop_reason
    assert res.stop_reason.startswith("converged at iteration 30")


def test_coarse_budget_caps_iterations_and_loosens_the_stop():
    full = OptimizerSettings(iterations=500, min_iterations=20, tol=1e-4)
    c = full.coarse()
    assert (c.iterations, c.min_iterations, c.tol) == (defaults.STILL_COARSE_ITERATIONS, 20, defaults.STILL_COARSE_TOL)
    short = OptimizerSettings(iterations=8, min_iterations=20, tol=1e-2).coarse()
    assert (short.iterations, short.min_iterations, short.tol) == (8, 8, 1e-2)  # never more, never stricter
