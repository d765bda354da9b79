"""L-BFGS memory handed from one run to a related one (later video frames)."""

from __future__ import annotations

import torch

from vidstyle.optimize import OptimizerSettings, optimize


def _problem(shift: float):
    # An ill-conditioned quadratic over a small "image": curvature 1..1000 per pixel, minimum inside [0, 1].
    g = torch.Generator().manual_seed(0)
    scale = torch.logspace(0, 3, 48).view(1, 3, 4, 4)
    target = (0.3 + 0.4 * torch.rand(1, 3, 4, 4, generator=g)) + shift
    return lambda x: ((scale * (x - target) ** 2).sum(), {"q": (scale * (x - target) ** 2).sum()}), target


def test_carried_memory_solves_the_next_related_problem_in_fewer_evaluations():
    s = OptimizerSettings(iterations=200, tol=1e-9, min_iterations=0, window=3)
    first, _ = _problem(0.0)
    carry: dict = {}
    optimize(first, torch.full((1, 3, 4, 4), 0.5), s, carry=carry)
    assert list(carry) == [(1, 3, 4, 4)] and len(carry[(1, 3, 4, 4)][0]) > 0
    second, target = _problem(0.02)
    cold = optimize(second, torch.full((1, 3, 4, 4), 0.5), s)
    warm = optimize(second, torch.full((1, 3, 4, 4), 0.5), s, carry=carry)
    assert torch.allclose(warm.image, target, atol=1e-3) and torch.allclose(cold.image, target, atol=1e-3)
    assert warm.evaluations < cold.evaluations


def test_memory_of_another_size_is_not_used():
    s = OptimizerSettings(iterations=20, tol=0)
    fn, _ = _problem(0.0)
    stale = {(1, 3, 4, 4): ([torch.ones(7)], [torch.ones(7)], [1.0])}  # wrong length for this image
    carry = dict(stale)
    r = optimize(fn, torch.full((1, 3, 4, 4), 0.5), s, carry=carry)
    assert r.finite and carry[(1, 3, 4, 4)][0][0].numel() == 48  # replaced by this run's memory
