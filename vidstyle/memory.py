"""Peak-memory estimate of an optimization run, and what the device has free.

The estimate is built from the VGG-19 layer shapes (:data:`vidstyle.vgg.LAYERS`):
for an image of H x W, a layer after ``p`` poolings holds ``C * (H / 2^p) * (W / 2^p)``
float32 values. During a loss-and-gradient evaluation autograd keeps every ReLU output
(the ReLUs are not in-place) and every pooling output with its int64 argmax indices,
and the backward pass adds a few gradient buffers as large as the largest layer. On top
of that come the optimizer's vectors (L-BFGS keeps ``defaults.LBFGS_HISTORY`` (s, y)
pairs of image-sized vectors), the network's weights (and the transformed kernels of its Winograd
layers), the style image's forward pass
(no gradient; only its largest layer is alive at once) and, for video, the frames, flows
and masks in flight. benchmarks/README.md ("Memory estimate") checks it against the
measured peak RSS.

The CLI calls it before any image is decoded (sizes come from file headers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from vidstyle import defaults
from vidstyle.vgg import LAYERS, layer_index

FLOAT = 4  # bytes per float32 value
# Gradient buffers alive at once in the backward pass, in units of the largest layer: the incoming
# gradient, the outgoing one and a temporary (benchmarks/README.md "Memory estimate").
_BACKWARD_BUFFERS = 3
# Image-sized vectors the optimizers keep besides the history: x, gradient, direction, the previous x
# and gradient, the line-search trial point and its gradient, the clamped copy (lbfgs.py); Adam: x, grad, m, v.
_LBFGS_VECTORS = 8
_ADAM_VECTORS = 5
# Video: float32 values per pixel for the frames, flows and masks in flight (decoded frames ahead of the
# stylizer, forward and backward flow per long-term distance, masks, warped images, the previous outputs)
# and the flow backend's own pyramids (OpenCV DeepFlow/DIS keep several float images per level).
_VIDEO_VALUES_PER_PIXEL = 96
# Video, whatever the size: the decoder's buffers at the source resolution, OpenCV's and the flow worker
# thread's own allocations (a second malloc arena). Measured: benchmarks/README.md ("Memory estimate").
_VIDEO_FIXED = 64 * 2**20


@dataclass(frozen=True)
class Estimate:
    """Bytes of a run's peak, by part."""

    features: int  # saved activations and backward buffers at the largest scale
    optimizer: int
    weights: int
    style: int  # the style images' forward pass (targets)
    video: int = 0

    @property
    def total(self) -> int:
        return self.features + self.optimizer + self.weights + self.style + self.video


def _layer_values(hw: tuple[int, int], last: str) -> list[tuple[str, int]]:
    """(kind, values) of every layer up to ``last`` for an H x W input (integer pooling, as torch)."""
    h, w = hw
    out = []
    for _, kind, _, c_out in LAYERS[: layer_index(last) + 1]:
        if kind == "pool":
            h, w = h // 2, w // 2
        out.append((kind, c_out * max(h, 0) * max(w, 0)))
    return out


def weight_bytes(last: str) -> int:
    """float32 weights and biases of the convolutions up to ``last``."""
    n = sum(c_in * c_out * 9 + c_out for _, kind, c_in, c_out in LAYERS[: layer_index(last) + 1] if kind == "conv")
    return n * FLOAT


def winograd_kernel_bytes(last: str) -> int:
    """float32 transformed kernels of the convolutions up to ``last`` that run by Winograd's algorithm on the
    CPU (vidstyle.winograd): 16 values per channel pair where the weights have 9 (bf16 runs keep half)."""
    n = sum(16 * c_in * c_out for _, kind, c_in, c_out in LAYERS[: layer_index(last) + 1]
            if kind == "conv" and c_out >= defaults.WINOGRAD_MIN_OUT_CHANNELS)
    return n * FLOAT


def feature_bytes(hw: tuple[int, int], layers: Sequence[str]) -> int:
    """Autograd's saved tensors plus the backward buffers of one evaluation at ``hw``."""
    last = max(layers, key=layer_index)
    per_layer = _layer_values(hw, last)
    saved = 0
    for kind, values in per_layer:
        if kind == "relu":
            saved += values
        elif kind == "pool":
            saved += values * 3  # the output and its int64 indices
        elif kind == "conv":
            pass  # freed once its ReLU has run, unless asked for (below)
    conv_requested = sum(values for (kind, values), (name, *_) in zip(per_layer, LAYERS) if kind == "conv"
                         and name in layers)
    largest = max(values for _, values in per_layer)
    return (saved + conv_requested + _BACKWARD_BUFFERS * largest + 3 * hw[0] * hw[1]) * FLOAT


def estimate(hw: tuple[int, int], layers: Sequence[str], *, optimizer: str = defaults.OPTIMIZER,
             style_hw: Sequence[tuple[int, int]] = (), video: bool = False) -> Estimate:
    """Peak bytes of optimizing an H x W image against ``layers`` (the largest scale decides)."""
    last = max(layers, key=layer_index)
    pixels = 3 * hw[0] * hw[1]
    vectors = (2 * defaults.LBFGS_HISTORY + _LBFGS_VECTORS) if optimizer == "lbfgs" else _ADAM_VECTORS
    style = max((max(v for _, v in _layer_values(s, last)) * 2 + 3 * s[0] * s[1] for s in style_hw), default=0)
    return Estimate(features=feature_bytes(hw, layers), optimizer=vectors * pixels * FLOAT,
                    # the loaded state dict, the module's copy and the Winograd layers' transformed kernels
                    weights=2 * weight_bytes(last) + winograd_kernel_bytes(last),
                    style=style * FLOAT,
                    video=_VIDEO_VALUES_PER_PIXEL * hw[0] * hw[1] * FLOAT + _VIDEO_FIXED if video else 0)


def scaled(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``hw`` scaled so that its long side is ``long_side`` (as the engine does)."""
    h, w = hw
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def largest_size(fits, low: int, high: int) -> int | None:
    """The largest long side in [low, high] for which ``fits(size)`` holds (monotone), or None."""
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def available_bytes(device=None) -> tuple[int | None, str]:
    """(free bytes, where from) on ``device``: CUDA free memory, else the system's available RAM.

    Linux: ``MemAvailable`` of /proc/meminfo (what can be allocated without swapping);
    elsewhere the physical memory size (an upper bound); None when neither is known.
    """
    dev_type = getattr(device, "type", str(device) if device is not None else "cpu")
    if dev_type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free), "free CUDA memory"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available RAM"
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "physical RAM"
    except (ValueError, OSError, AttributeError):
        return None, "unknown"


def gib(n: int | float) -> str:
    if n >= 2**40:
        return f"{n / 2**40:.1f} TiB"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def image_header_size(path) -> tuple[int, int] | None:
    """(H, W) of an image file as displayed (EXIF rotation applied), from its header only; None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block is the loader's business
                orientation = 1
    except Exception:  # noqa: BLE001 - not an image: the loader reports it properly
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


__all__ = ["Estimate", "available_bytes", "estimate", "feature_bytes", "gib", "image_header_size", "largest_size",
           "scaled", "weight_bytes", "winograd_kernel_bytes"]
