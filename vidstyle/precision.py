"""Arithmetic precision of the VGG forward/backward (``--precision``).

Only the network runs in half precision, under :func:`torch.autocast`; the
image, the optimizer's state, the Gram accumulation and every loss stay
float32 (the engine casts the features back before the losses). Half
precision pays only where the hardware multiplies it natively: bfloat16 on
CPUs with AVX512-BF16/AMX (oneDNN) and on recent CUDA GPUs, float16 on older
CUDA GPUs, where its narrow exponent needs loss scaling (:class:`LossScaler`).

``auto`` picks half precision only where a one-off micro-benchmark on the
machine shows it faster, and remembers the decision in a small JSON file
(the CLI passes ``$XDG_CACHE_HOME/vidstyle/precision.json``; the library,
which reads no environment, keeps it for the process when given no file).
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from vidstyle import defaults
from vidstyle.atomic import write_json
from vidstyle.errors import VidstyleError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CACHE_VERSION = 1


# ------------------------------------------------------------------ what a device can do

def _cpu_flags() -> tuple[str, ...]:
    """The CPU's half-precision flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return tuple(f for f in ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "avx512_fp16") if f in have)
    return ()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively (not emulated through float32)."""
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return False


def refusal(precision: str, device_type: str, *, bf16: bool) -> str | None:
    """Why ``precision`` cannot run on a device of ``device_type`` (``bf16``: native bfloat16), or None.

    Pure logic, so that every device's answer is tested on any machine.
    """
    if precision not in defaults.PRECISIONS:
        return f"--precision {precision!r}: expected one of {', '.join(defaults.PRECISIONS)}"
    if precision in ("auto", "fp32"):
        return None
    if device_type not in ("cpu", "cuda"):
        return f"--precision {precision} needs a CPU or CUDA device, not {device_type}; use fp32"
    if precision == "fp16" and device_type == "cpu":
        return "--precision fp16 is for CUDA GPUs (CPUs have no fast float16 convolutions); use bf16 or fp32"
    if precision == "bf16" and not bf16:
        what = "CPU has no AVX512-BF16/AMX" if device_type == "cpu" else "GPU has no native bfloat16"
        return f"--precision bf16: this {what}; use {'fp16 or ' if device_type == 'cuda' else ''}fp32"
    return None


def candidate(device_type: str, *, bf16: bool) -> str | None:
    """The half precision ``auto`` would try on such a device (fp16 only on CUDA without bf16)."""
    if device_type not in ("cpu", "cuda"):
        return None
    if bf16:
        return "bf16"
    return "fp16" if device_type == "cuda" else None


def check(precision: str, device: torch.device) -> None:
    """Raise a one-line :class:`VidstyleError` if ``precision`` cannot run on ``device``."""
    reason = refusal(precision, torch.device(device).type, bf16=native_bf16(torch.device(device)))
    if reason is not None:
        raise VidstyleError(reason)


# ------------------------------------------------------------------ running at a precision

def autocast(precision: str, device: torch.device):
    """The context the network runs in: autocast to ``precision``, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[precision])


class LossScaler:
    """Dynamic loss scaling for float16 backward passes (Micikevicius et al. 2018).

    The loss is multiplied by ``scale`` before the backward pass and the
    gradient divided by it afterwards, which keeps small float16 gradients
    from flushing to zero; a non-finite gradient of a finite loss means the
    scale overflowed: it is halved and the gradient recomputed. After
    ``growth_interval`` good gradients in a row the scale doubles again.
    """

    def __init__(self, scale: float = 1.0, *, growth_interval: int = 100, max_retries: int = 40):
        self.scale = float(scale)
        self.growth_interval = growth_interval
        self.max_retries = max_retries
        self.good = 0
        self.overflows = 0

    def gradient(self, fn: Callable[[torch.Tensor], tuple[torch.Tensor, dict]], x: torch.Tensor
                 ) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """``(total, terms, d total / d x)`` for ``fn(x) -> (total, terms)``, recomputed after an overflow."""
        total, terms = fn(x)
        for attempt in range(self.max_retries + 1):
            (grad,) = torch.autograd.grad(total * self.scale, x)
            grad = grad / self.scale
            ok = bool(torch.isfinite(grad).all())
            if ok or not bool(torch.isfinite(total)) or attempt == self.max_retries:
                break
            self.scale /= 2.0
            self.overflows += 1
            self.good = 0
            total, terms = fn(x)
        if ok:
            self.good += 1
            if self.good >= self.growth_interval:
                self.scale *= 2.0
                self.good = 0
        return total, terms, grad


def make_scaler(precision: str) -> LossScaler | None:
    """float16 needs loss scaling; bfloat16 has float32's exponent range and does not."""
    return LossScaler() if precision == "fp16" else None


# ------------------------------------------------------------------ auto

def _probe_stack(device: torch.device) -> list[torch.nn.Conv2d]:
    # A small VGG-like stack: a wide early layer and a deep one, as the evaluation mixes them.
    gen = torch.Generator().manual_seed(0)
    convs = []
    for c_in, c_out in ((3, 64), (64, 64), (64, 128), (128, 256), (256, 256)):
        conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (9 * c_in)) ** 0.5)
        convs.append(conv.to(device).to(memory_format=torch.channels_last).requires_grad_(False))
    return convs


def _probe_once(convs, x: torch.Tensor, precision: str) -> None:
    with autocast(precision, x.device):
        h = x.contiguous(memory_format=torch.channels_last)
        for i, conv in enumerate(convs):
            h = F.relu(conv(h))
            if i in (1, 2):
                h = F.max_pool2d(h, 2)
    loss = h.float().square().mean()
    torch.autograd.grad(loss, x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def measure(precision: str, device: torch.device, *, size: int = 96, rounds: int = 12) -> float:
    """Time of a loss+gradient pass of a small VGG-like stack at ``precision`` / at fp32.

    The two are timed in alternating rounds and the fastest of each kept, so a
    machine busy with other work slows both alike. Twelve rounds, not four: on two
    cores shared with other jobs four rounds once judged bf16 1.18x slower on a CPU
    where it is 0.53x, and the decision is cached.
    """
    device = torch.device(device)
    convs = _probe_stack(device)
    x = torch.rand((1, 3, size, size), generator=torch.Generator().manual_seed(0)).to(device).requires_grad_(True)
    best = {"fp32": float("inf"), precision: float("inf")}
    for p in best:  # warm-up: oneDNN builds its kernels on first use
        _probe_once(convs, x, p)
    for _ in range(rounds):
        for p in best:
            t0 = time.perf_counter()
            _probe_once(convs, x, p)
            best[p] = min(best[p], time.perf_counter() - t0)
    return best[precision] / best["fp32"]


def machine_key(device: torch.device) -> str:
    """Device name + torch version + CPU flags: a decision holds until one of them changes."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    return f"{device.type}|{name}|torch {torch.__version__}|{','.join(_cpu_flags())}"


@dataclass(frozen=True)
class Choice:
    precision: str  # fp32, bf16 or fp16
    requested: str
    ratio: float | None = None  # half / fp32 time per pass measured by auto (None: not measured)
    cached: bool = False

    def note(self) -> str:
        if self.requested != "auto":
            return f"precision {self.precision}"
        if self.ratio is None:
            return f"precision auto: {self.precision} (no fast half precision on this device)"
        src = "cached decision" if self.cached else "measured"
        return f"precision auto: {self.precision} ({src}: half-precision pass {self.ratio:.2f}x the fp32 time)"


_PROCESS_CACHE: dict[str, Choice] = {}


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or damaged: measure again and rewrite it
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("machines"), dict):
        return {}
    return data["machines"]


def choose(requested: str, device: torch.device, *, cache_file: str | Path | None = None,
           measure_fn: Callable[[str, torch.device], float] = measure) -> Choice:
    """Resolve ``requested`` (auto, fp32, bf16, fp16) to the precision a run uses on ``device``.

    An explicit precision is checked (:class:`VidstyleError` where the device
    lacks it). ``auto`` measures once per machine key and keeps the answer in
    ``cache_file`` (atomic JSON; a damaged file is measured again), or in this
    process when no file is given.
    """
    device = torch.device(device)
    bf16 = native_bf16(device)
    reason = refusal(requested, device.type, bf16=bf16)
    if reason is not None:
        raise VidstyleError(reason)
    if requested != "auto":
        return Choice(requested, requested)
    half = candidate(device.type, bf16=bf16)
    if half is None:
        return Choice("fp32", "auto")
    key = machine_key(device)
    path = Path(cache_file) if cache_file is not None else None
    machines = _read_cache(path) if path is not None else {}
    entry = machines.get(key)
    if isinstance(entry, dict) and entry.get("precision") in ("fp32", half) and isinstance(entry.get("ratio"), float):
        return Choice(entry["precision"], "auto", entry["ratio"], cached=True)
    if path is None and key in _PROCESS_CACHE:
        return _PROCESS_CACHE[key]
    ratio = float(measure_fn(half, device))
    choice = Choice(half if ratio < defaults.AUTO_PRECISION_MAX_RATIO else "fp32", "auto", ratio)
    if path is None:
        _PROCESS_CACHE[key] = choice
    else:
        machines[key] = {"precision": choice.precision, "ratio": ratio, "candidate": half}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {"version": CACHE_VERSION, "machines": machines})
        except (OSError, VidstyleError):
            pass  # an unwritable cache only costs the measurement next time
    return choice
