"""The optimization loop on hand-made objectives: early stop, stop reasons, bounds."""

from __future__ import annotations

import pytest
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


def test_the_last_lbfgs_step_takes_the_same_point_from_the_loss_alone():
    # The last iteration's gradient would go unused: its line search evaluates the loss only, and lands
    # on exactly the point a full evaluation would have accepted.
    from vidstyle.lbfgs import LBFGS

    gen = torch.Generator().manual_seed(2)
    target, scale = torch.rand(40, generator=gen), torch.rand(40, generator=gen) * 10 + 0.1

    def fn(x):
        return float((scale * (x - target) ** 4).sum()), 4 * scale * (x - target) ** 3, {}

    def loss_fn(x):
        return float((scale * (x - target) ** 4).sum()), {}

    full, lean = (LBFGS(fn, torch.full((40,), 0.5), loss_fn=loss_fn) for _ in range(2))
    for k in range(6):
        full.step()
        lean.step(last=k == 5)
    assert torch.equal(full.x, lean.x) and full.loss == lean.loss
    assert lean.loss_passes >= 1 and lean.evaluations + lean.loss_passes == full.evaluations
    with pytest.raises(RuntimeError, match="after the last"):
        lean.step()
    plain = LBFGS(fn, torch.full((40,), 0.5))  # no loss_fn: the last step evaluates the gradient as before
    for k in range(6):
        plain.step(last=k == 5)
    assert torch.equal(plain.x, full.x) and plain.loss_passes == 0


@pytest.mark.parametrize("pyramid", [0, 2])
def test_optimize_evaluates_the_last_iteration_without_a_gradient(pyramid):
    target = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(3))
    calls = {"grad": 0, "loss": 0}

    def inner(x):  # quartic: no exact minimum in a few quasi-Newton steps
        loss = ((x - target) ** 4).sum()
        return loss, {"quartic": loss}

    def loss_fn(x):
        calls["grad" if torch.is_grad_enabled() else "loss"] += 1
        return inner(x)

    res = optimize(loss_fn, torch.full_like(target, 0.5),
                   OptimizerSettings(iterations=6, tol=0, pyramid=pyramid))
    assert res.iterations == 6 and res.loss_passes == calls["loss"] >= 1
    assert res.evaluations == calls["grad"] >= 6  # the start and 5 iterations with their gradient
    assert res.loss == pytest.approx(float(inner(res.image)[0]), rel=1e-6)  # the loss is of the image returned
