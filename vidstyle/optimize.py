"""The optimization loop: L-BFGS or Adam over the image's pixels, with early stop.

Telemetry goes to a callback as a small frozen dataclass per iteration; the
loop itself never prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from vidstyle import defaults
from vidstyle.lbfgs import LBFGS
from vidstyle.precision import LossScaler
from vidstyle.pyramid import LaplacianPyramid

LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class IterationInfo:
    """One optimizer iteration, as reported to callbacks."""

    iteration: int  # 1-based, within the current scale
    iterations: int  # planned for this scale (the early stop may end sooner)
    scale: int  # 0-based index of the current scale
    scales: int
    size: tuple[int, int]  # (H, W) being optimized
    loss: float  # weighted total, at the image before this iteration's step
    terms: dict[str, float]  # weighted terms making up ``loss``
    seconds: float  # since the start of the whole run


@dataclass
class OptimizeResult:
    image: torch.Tensor
    iterations: int
    stop_reason: str
    loss: float
    terms: dict[str, float]
    seconds: float
    history: list[dict] = field(default_factory=list)
    finite: bool = True
    evaluations: int = 0  # loss+gradient passes (L-BFGS backtracks and loss-scale retries included)
    loss_passes: int = 0  # loss-only forward passes (L-BFGS's last iteration)


@dataclass(frozen=True)
class OptimizerSettings:
    optimizer: str = defaults.OPTIMIZER
    iterations: int = defaults.ITERATIONS
    min_iterations: int = defaults.MIN_ITERATIONS
    tol: float = defaults.TOL
    window: int = defaults.TOL_WINDOW
    lr: float = defaults.ADAM_LR
    history_size: int = defaults.LBFGS_HISTORY
    pyramid: int = 0  # L-BFGS over a Laplacian pyramid of this many levels (vidstyle.pyramid); 0: over the pixels

    def __post_init__(self):
        if self.optimizer not in defaults.OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {defaults.OPTIMIZERS}, got {self.optimizer!r}")
        if self.iterations <= 0:
            raise ValueError(f"iterations must be > 0, got {self.iterations}")
        if self.window < 2:
            raise ValueError(f"the early-stop window must be >= 2 iterations, got {self.window}")
        if self.pyramid < 0:
            raise ValueError(f"pyramid levels must be >= 0, got {self.pyramid}")

    def coarse(self) -> OptimizerSettings:
        """The budget of a coarse scale: at most ``STILL_COARSE_ITERATIONS``, stopping at ``STILL_COARSE_TOL``."""
        iterations = min(self.iterations, defaults.STILL_COARSE_ITERATIONS)
        return replace(self, iterations=iterations, min_iterations=min(self.min_iterations, iterations),
                       tol=max(self.tol, defaults.STILL_COARSE_TOL))


def _relative_decrease(losses: list[float], window: int) -> float:
    """Mean relative loss decrease per iteration over the last ``window`` iterations."""
    old, new = losses[-window - 1], losses[-1]
    return (old - new) / (window * max(abs(new), 1e-30))


def gradient(loss_fn: LossFn, x: torch.Tensor, scaler: LossScaler | None = None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, int]:
    """``(total, terms, d total / d x, passes)``; a float16 run's ``scaler`` rescales the backward pass."""
    if scaler is None:
        total, terms = loss_fn(x)
        (grad,) = torch.autograd.grad(total, x)
        return total, terms, grad, 1
    before = scaler.overflows
    total, terms, grad = scaler.gradient(loss_fn, x)
    return total, terms, grad, 1 + scaler.overflows - before


def _floats(total: torch.Tensor, terms: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
    # One device-to-host copy for the loss and all its terms: on a GPU each float() would be a sync.
    values = torch.stack([total.detach().float()] + [v.detach().float() for v in terms.values()]).tolist()
    return values[0], dict(zip(terms, values[1:]))


def optimize(loss_fn: LossFn, x0: torch.Tensor, settings: OptimizerSettings, *,
             callback: Callable[[IterationInfo], None] | None = None,
             scale: int = 0, scales: int = 1, clock_start: float | None = None,
             should_stop: Callable[[], bool] | None = None,
             scaler: LossScaler | None = None, carry: dict | None = None) -> OptimizeResult:
    """Minimise ``loss_fn`` over the pixels of ``x0`` and return the best finite image.

    Early stop: after ``min_iterations`` (and never before ``window`` + 1
    iterations), stop once the mean relative loss decrease per iteration over
    the last ``window`` iterations drops below ``tol``. A non-finite loss stops
    the run and returns the last image whose loss was finite. ``scaler``: loss
    scaling of float16 runs (:mod:`vidstyle.precision`). ``carry`` (a dict the
    caller keeps between related runs, e.g. video frames) hands L-BFGS's
    curvature memory from one run to the next run of the same image size.
    """
    start = time.perf_counter() if clock_start is None else clock_start
    s = settings
    shape = x0.shape

    passes = 0

    def evaluate(flat: torch.Tensor) -> tuple[float, torch.Tensor, dict]:
        nonlocal passes
        x = flat.detach().view(shape).requires_grad_(True)
        total, terms, grad, n = gradient(loss_fn, x, scaler)
        passes += n
        loss, floats = _floats(total, terms)
        return loss, grad.reshape(-1), floats

    def loss_only(x: torch.Tensor) -> tuple[float, dict]:
        # The last iteration's line search: its point's gradient would go unused.
        with torch.no_grad():
            return _floats(*loss_fn(x))

    losses: list[float] = []
    history: list[dict] = []
    stop_reason = f"reached {s.iterations} iterations (the budget per scale)"  # video frame 0: --first-iterations
    finite = True
    iteration = 0
    size = (int(shape[-2]), int(shape[-1]))

    pyramid = LaplacianPyramid(shape, s.pyramid) if s.optimizer == "lbfgs" and s.pyramid else None
    if pyramid is not None:
        # Over the pyramid's coefficients, which have no box: the loss sees the synthesized image clipped to
        # [0, 1], and the clip passes the gradient through unchanged (the warm start is inside the box).
        def evaluate_coefficients(flat: torch.Tensor) -> tuple[float, torch.Tensor, dict]:
            nonlocal passes
            c = flat.detach().requires_grad_(True)
            x = pyramid.synthesize(c)
            total, terms, grad, n = gradient(loss_fn, x.detach().clamp(0.0, 1.0).requires_grad_(True), scaler)
            passes += n
            loss, floats = _floats(total, terms)
            # Through a scalar <x, grad>, not grad_outputs: the same numbers, but autograd's check of
            # grad_outputs imports sympy the first time (0.5 s inside the first later frame).
            (grad_c,) = torch.autograd.grad(torch.vdot(x.reshape(-1), grad.reshape(-1)), c)
            return loss, grad_c, floats

        solver = LBFGS(evaluate_coefficients, pyramid.analyse(x0.detach()), history=s.history_size, bounds=None,
                       first_step=defaults.PYRAMID_FIRST_STEP,
                       loss_fn=lambda c: loss_only(pyramid.synthesize(c).clamp(0.0, 1.0)))
        if not math.isfinite(solver.loss):
            finite = False
        image = lambda: pyramid.synthesize(solver.x).detach().clamp(0.0, 1.0)  # noqa: E731
    elif s.optimizer == "lbfgs":
        memory = carry.get(tuple(shape)) if carry is not None else None
        solver = LBFGS(evaluate, x0.detach().reshape(-1), history=s.history_size, memory=memory,
                       loss_fn=lambda flat: loss_only(flat.view(shape)))
        if not math.isfinite(solver.loss):
            finite = False
        image = lambda: solver.x.view(shape)  # noqa: E731
    else:
        x = x0.detach().clone().requires_grad_(True)
        adam = torch.optim.Adam([x], lr=s.lr)
        image = lambda: x.detach()  # noqa: E731
    last_finite = x0.detach().clone()

    for iteration in range(1, s.iterations + 1 if finite else 1):
        if s.optimizer == "lbfgs":
            loss = solver.step(last=iteration == s.iterations)
            terms = solver.extras
            if solver.stuck_nonfinite:
                finite = False
            elif solver.failed_searches >= 2:  # once with memory, once along the plain gradient
                stop_reason = (f"converged at iteration {iteration}: no decrease along the gradient "
                               "(a minimum to float precision)")
                iteration -= 1  # this one moved nothing
                break
        else:
            total, terms_t, grad, n = gradient(loss_fn, x, scaler)
            passes += n
            loss, terms = _floats(total, terms_t)
            if math.isfinite(loss):
                x.grad = grad
                adam.step()
                with torch.no_grad():
                    x.clamp_(0.0, 1.0)
            else:
                finite = False
        if not finite:
            stop_reason = f"non-finite loss at iteration {iteration}; kept the last finite image"
            iteration -= 1
            break
        last_finite = image().clone()
        losses.append(loss)
        elapsed = time.perf_counter() - start
        history.append({"scale": scale, "iteration": iteration, "loss": loss, "terms": terms, "seconds": elapsed})
        if callback is not None:
            callback(IterationInfo(iteration, s.iterations, scale, scales, size, loss, terms, elapsed))
        if should_stop is not None and should_stop():
            stop_reason = f"interrupted at iteration {iteration}"
            break
        if iteration >= max(s.min_iterations, s.window + 1):
            rel = _relative_decrease(losses, s.window)
            if rel < s.tol:
                stop_reason = (f"converged at iteration {iteration}: loss fell {rel:.1e}/iteration "
                               f"over the last {s.window} (< --tol {s.tol:g})")
                break
    if iteration == 0 and not finite:
        stop_reason = "non-finite loss at the initial image; kept it unchanged"

    # Report the losses of the image actually returned (finite, in [0, 1]). Projected L-BFGS already
    # evaluated exactly that image; Adam's last step and a non-finite stop need one more forward pass.
    out = last_finite.clamp(0.0, 1.0)
    if carry is not None and s.optimizer == "lbfgs" and pyramid is None and finite:
        carry[tuple(shape)] = solver.memory
    if s.optimizer == "lbfgs" and finite:
        final_loss, final_terms = solver.loss, dict(solver.extras)
    else:
        with torch.no_grad():
            total, terms_t = loss_fn(out)
        final_loss, final_terms = float(total), {k: float(v) for k, v in terms_t.items()}
    return OptimizeResult(
        image=out,
        iterations=iteration,
        stop_reason=stop_reason,
        loss=final_loss,
        terms=final_terms,
        seconds=time.perf_counter() - start,
        history=history,
        finite=finite,
        evaluations=passes,
        loss_passes=solver.loss_passes if s.optimizer == "lbfgs" else 0,
    )
