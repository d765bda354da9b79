"""L-BFGS over an image's pixels with a backtracking (Armijo) safeguard.

Why not ``torch.optim.LBFGS``: without a line search it takes the full
quasi-Newton step, and on the Gram losses (fourth order in the features) an
early step can overshoot by twenty orders of magnitude, after which it stalls
silently: the "stops after 2 iterations, blurry frame" failure of the
reference systems. With ``strong_wolfe`` it spends several evaluations per
iteration. Here the full step (t = 1) is tried first and halved only while
the Armijo condition fails (Nocedal and Wright 2006, alg. 7.4 for the
two-loop recursion, alg. 3.1 for backtracking), so an iteration almost always
costs exactly one forward and backward pass.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import torch

GradFn = Callable[[torch.Tensor], tuple[float, torch.Tensor, dict]]  # x -> (loss, grad, extras)
LossFn = Callable[[torch.Tensor], tuple[float, dict]]  # x -> (loss, extras): a forward pass, no gradient


class LBFGS:
    """Minimiser state; call :meth:`step` once per iteration.

    ``fn(x)`` returns ``(loss, grad, extras)`` for a flat tensor ``x``.
    The first step moves the largest pixel by ``first_step`` (pixels in [0, 1]).
    ``memory`` (the :attr:`memory` of an earlier solver on an image of the same
    size) seeds the curvature pairs: a related problem, e.g. the next video
    frame, then starts with a quasi-Newton step of the right scale instead of
    a gradient step of a guessed one. A stale pair only costs a backtrack: a
    direction that is not a descent direction drops the memory.
    ``loss_fn(x)`` (optional) returns ``(loss, extras)`` without a gradient: the
    line search of the last iteration uses it (:meth:`step`).
    """

    def __init__(self, fn: GradFn, x0: torch.Tensor, *, history: int = 30, first_step: float = 0.05,
                 c1: float = 1e-4, max_backtracks: int = 20, bounds: tuple[float, float] | None = (0.0, 1.0),
                 memory: tuple | None = None, loss_fn: LossFn | None = None):
        self.fn = fn
        self.loss_fn = loss_fn
        self.bounds = bounds
        self.x = self._project(x0.detach().clone())
        self.loss, self.grad, self.extras = fn(self.x)
        self.s: deque[torch.Tensor] = deque(maxlen=history)
        self.y: deque[torch.Tensor] = deque(maxlen=history)
        self.rho: deque[float] = deque(maxlen=history)
        if memory is not None and all(s.shape == self.x.shape for s in memory[0]):
            for s, y, rho in zip(*memory):
                self.s.append(s)
                self.y.append(y)
                self.rho.append(rho)
        self.first_step = first_step
        self.c1 = c1
        self.max_backtracks = max_backtracks
        self.evaluations = 1  # loss+gradient passes
        self.loss_passes = 0  # loss-only passes (the last iteration's line search)
        self.backtracks = 0
        self.finished = False  # a last step was taken: the gradient is of the point before it
        self.stuck_nonfinite = False  # the last line search met only non-finite losses
        # Line searches in a row that found no decrease, even along the plain gradient
        # after the memory was dropped: at a minimum to float precision.
        self.failed_searches = 0

    @property
    def memory(self) -> tuple[list, list, list]:
        return list(self.s), list(self.y), list(self.rho)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.bounds is None else x.clamp_(*self.bounds)

    def _free(self, d: torch.Tensor) -> torch.Tensor:
        # Coordinates at a bound whose step points outward cannot move: drop them
        # from the direction (a light-weight active set, in the spirit of L-BFGS-B).
        if self.bounds is not None:
            lo, hi = self.bounds
            d = d.masked_fill(((self.x <= lo) & (d < 0)) | ((self.x >= hi) & (d > 0)), 0.0)
        return d

    def _direction(self) -> torch.Tensor:
        g = self.grad
        if not self.s:
            return -g * (self.first_step / g.abs().max().clamp_min(1e-30))
        q = g.clone()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            a = float(rho * torch.dot(s, q))  # alpha is a number (a tensor would be read back anyway)
            q.add_(y, alpha=-a)
            alphas.append(a)
        s, y = self.s[-1], self.y[-1]
        q.mul_(torch.dot(s, y) / torch.dot(y, y))
        for (s, y, rho), a in zip(zip(self.s, self.y, self.rho), reversed(alphas)):
            b = rho * torch.dot(y, q)
            q.add_(s, alpha=float(a - b))
        return -q

    def _forget(self) -> None:
        """Drop the curvature memory (the next direction is the scaled gradient)."""
        self.s.clear()
        self.y.clear()
        self.rho.clear()

    def step(self, *, last: bool = False) -> float:
        """One iteration; returns the loss at the new point (finite, or the old one if none found).

        ``last``: no iteration follows, so the new point's gradient would go unused; with a
        ``loss_fn`` the line search then evaluates the loss alone, a forward pass at about half
        the cost of an evaluation (benchmarks/README.md, "The Gram's backward in bf16, and the
        last iteration without a gradient"). The solver then keeps no curvature pair for that
        step and takes no further one.
        """
        if self.finished:
            raise RuntimeError("L-BFGS: a step after the last one (its gradient was never computed)")
        loss_only = self.loss_fn if last else None
        d = self._free(self._direction())
        gtd = float(torch.dot(self.grad, d))
        if not gtd < 0:  # not a descent direction (memory went stale): restart from the gradient
            self._forget()
            d = self._free(self._direction())
            gtd = float(torch.dot(self.grad, d))
        if gtd == 0.0:  # every free coordinate has zero gradient: a stationary point
            self.failed_searches += 1
            return self.loss
        t = 1.0
        finite_seen = False
        for _ in range(self.max_backtracks + 1):
            x_new = self._project(self.x + t * d)
            if loss_only is not None:
                (loss, extras), grad = loss_only(x_new), None
                self.loss_passes += 1
            else:
                loss, grad, extras = self.fn(x_new)
                self.evaluations += 1
            finite_seen |= math.isfinite(loss)
            # Armijo on the projected step (Bertsekas 1982's projected variant).
            if math.isfinite(loss) and loss <= self.loss + self.c1 * float(torch.dot(self.grad, x_new - self.x)):
                break
            t *= 0.5
            self.backtracks += 1
        else:
            # No acceptable point along d: drop the memory and report no progress.
            self._forget()
            self.stuck_nonfinite = not finite_seen
            self.failed_searches += 1
            return self.loss
        self.failed_searches = 0
        if grad is None:
            self.finished = True
            self.x, self.loss, self.extras = x_new, loss, extras
            return loss
        s = x_new - self.x
        y = grad - self.grad
        ys = float(torch.dot(y, s))
        if ys > 1e-10:  # keep the curvature pair only if it keeps H positive definite
            self.s.append(s)
            self.y.append(y)
            self.rho.append(1.0 / ys)
        self.x, self.loss, self.grad, self.extras = x_new, loss, grad, extras
        return loss
