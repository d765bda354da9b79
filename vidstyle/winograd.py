"""3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3), for the network on the CPU (bf16 and float32).

Lavin and Gray 2016 ("Fast Algorithms for Convolutional Neural Networks"): a 2x2 block of a 3x3
convolution's outputs follows from the 4x4 block of inputs around it with 16 multiplications per
channel pair instead of 36,

    Y = A^T [ (G g G^T) * (B^T d B) ] A,

``g`` the 3x3 kernel, ``d`` the 4x4 input tile, ``*`` elementwise. Over a layer, the 16 elementwise
products summed over input channels are 16 matrix products ``(tiles, C) @ (C, K)``: 2.25x fewer
multiply-adds than the direct convolution, plus additions to transform the tiles in and out. oneDNN's
convolutions already run at this CPU's matmul rate (benchmarks/README.md, "The floor under a later
frame's seconds"), so doing fewer multiplications is the lever left: on the layers with 256 or more
output channels (conv3_1 to conv5_1) a forward and backward pass takes 0.62-0.99x the direct
convolution's time, the deepest layers the least, and a full-depth evaluation at 448x190 0.80x in bf16,
0.86x in float32 (benchmarks/README.md, "Winograd convolutions"). The shallower layers have too few
channels for the products to outweigh the transforms (conv1_2: 3.4x the direct time).

The network's weights are frozen, so the kernels are transformed once per layer and dtype (16/9 the
weights' size, kept beside them for the dtype last used); the tiles' transforms and the output
transform run in the features' dtype, and each of the 16 products sums in float32 and rounds once (a
bf16 GEMM). The backward pass of a stride-1, pad-1 convolution with respect to its input is itself such
a convolution, of the gradient with the kernels flipped and their channels swapped, so it takes the
same path with the same transformed kernels, read in another order. The weights get no gradient
here: a layer whose weights require one keeps the direct convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Measured faster in both (benchmarks/README.md, "Winograd convolutions"); fp16 runs only on GPUs here.
DTYPES = (torch.bfloat16, torch.float32)
# G of F(2, 3) (Lavin and Gray 2016, eq. 7): the kernel's transform.
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def transform_kernels(weight: torch.Tensor) -> torch.Tensor:
    """``G g G^T`` of every ``(K, C, 3, 3)`` kernel, as 16 ``(C, K)`` matrices (index: column tap * 4 + row tap),
    in the weights' dtype (G's entries are 0, 1 and +-1/2: the products are exact, the sums of at most 9 round)."""
    if weight.dim() != 4 or tuple(weight.shape[-2:]) != (3, 3):
        raise ValueError(f"expected (K, C, 3, 3) kernels, got {tuple(weight.shape)}")
    g = torch.tensor(_G, dtype=weight.dtype, device=weight.device)
    u = torch.einsum("ai,kcij,bj->back", g, weight.detach(), g)
    return u.reshape(16, weight.shape[1], weight.shape[0])


# The input gradient of a stride-1, pad-1 convolution is the convolution of the output gradient with the
# kernels flipped and their channels swapped. Flipping g's taps swaps G g's first and last entries, so the
# flipped kernels' transform is the forward one with tap indices 0 and 3 exchanged, each matrix transposed:
# the backward pass reads the forward kernels in this order instead of keeping a second set.
_FORWARD = (0, 1, 2, 3)
_FLIPPED = (3, 1, 2, 0)


def _transform_in(taps: Sequence[torch.Tensor], out: torch.Tensor, order: tuple[int, ...]) -> None:
    # B^T of F(2, 3) applied along one axis to the four taps (d0, d1, d2, d3) of every tile; component i
    # goes to out[order[i]].
    a, b, c, d = taps
    torch.sub(a, c, out=out[order[0]])
    torch.add(b, c, out=out[order[1]])
    torch.sub(c, b, out=out[order[2]])
    torch.sub(b, d, out=out[order[3]])


def conv3x3(x: torch.Tensor, kernels: torch.Tensor, bias: torch.Tensor | None = None, *,
            flipped: bool = False) -> torch.Tensor:
    """The stride-1, pad-1 3x3 convolution of ``x`` ``(N, C, H, W)`` with ``kernels`` from
    :func:`transform_kernels` ``(16, C, K)``, in ``x``'s dtype; returns ``(N, K, H, W)`` channels-last.

    ``flipped``: with the kernels flipped and their channels swapped instead (``x`` has K channels, the
    result C): the input gradient of the unflipped convolution. No autograd graph: :class:`Conv2d` wraps
    it with its own backward.
    """
    n, c, h, w = x.shape
    order = _FLIPPED if flipped else _FORWARD
    if flipped:
        kernels = kernels.transpose(1, 2)
    k = kernels.shape[-1]
    th, tw = (h + 1) // 2, (w + 1) // 2  # 2x2 output tiles; odd sides get one padded row/column
    # Channels innermost, so every transform below works on contiguous runs of C values.
    padded = F.pad(x, (1, 1 + 2 * tw - w, 1, 1 + 2 * th - h)).permute(0, 2, 3, 1)  # (N, 2th+2, 2tw+2, C)
    cols = torch.empty((4, n, 2 * th + 2, tw, c), dtype=x.dtype, device=x.device)
    _transform_in([padded[:, :, t:t + 2 * tw:2] for t in range(4)], cols, order)
    tiles = torch.empty((4, 4, n, th, tw, c), dtype=x.dtype, device=x.device)
    _transform_in([cols[:, :, t:t + 2 * th:2] for t in range(4)], tiles.transpose(0, 1), order)
    m = torch.bmm(tiles.view(16, n * th * tw, c), kernels).view(4, 4, n, th, tw, k)  # [column tap, row tap]
    m0, m1, m2, m3 = (m[:, i] for i in order)
    # A^T of F(2, 3): y0 = m0 + m1 + m2, y1 = m1 - m2 - m3, along the rows, then along the columns.
    rows = (m0 + m1 + m2, m1 - m2 - m3)
    out = torch.empty((n, th, 2, tw, 2, k), dtype=x.dtype, device=x.device)
    for r, y in enumerate(rows):
        y0, y1, y2, y3 = (y[i] for i in order)
        torch.add(y0, y1, out=out[:, :, r, :, 0]).add_(y2)
        torch.sub(y1, y2, out=out[:, :, r, :, 1]).sub_(y3)
    out = out.view(n, 2 * th, 2 * tw, k)
    if bias is not None:
        out.add_(bias.to(x.dtype))
    if (2 * th, 2 * tw) != (h, w):
        out = out[:, :h, :w].contiguous()
    return out.permute(0, 3, 1, 2)


class _Conv3x3(torch.autograd.Function):
    """:func:`conv3x3` with its input gradient: the same convolution of the output gradient with the
    kernels flipped and their channels swapped (``flipped=True``)."""

    @staticmethod
    def forward(ctx, x, kernels, bias):
        ctx.kernels = kernels
        return conv3x3(x, kernels, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        kernels = ctx.kernels
        return conv3x3(grad.to(kernels.dtype), kernels, flipped=True), None, None


class Conv2d(nn.Conv2d):
    """A VGG 3x3 convolution (stride 1, pad 1) that takes Winograd's path where :meth:`uses_winograd` says.

    ``winograd`` is the layer's own switch (the network sets it from
    :data:`vidstyle.defaults.WINOGRAD_MIN_OUT_CHANNELS`); the path also needs bf16 or float32 input
    on the CPU (:data:`DTYPES`) and frozen weights. Everything else is the direct convolution of
    :class:`torch.nn.Conv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, *, winograd: bool = False):
        super().__init__(in_channels, out_channels, 3, padding=1)
        self.winograd = winograd
        self._kernels: tuple[torch.Tensor, torch.Tensor] | None = None  # transformed (16/9 the weights), bias
        self._kernels_key: tuple | None = None

    def uses_winograd(self, x: torch.Tensor) -> bool:
        return bool(self.winograd and x.dtype in DTYPES and x.device.type == "cpu"
                    and not self.weight.requires_grad)

    def _transformed(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # One set, for the dtype last used: a bf16 run computes its style targets once in float32, then
        # evaluates in bf16 for good, so keeping both would hold the float32 set (86 MiB to relu5_1) for nothing.
        key = (dtype, device, self.weight.data_ptr(), self.weight._version)  # weights replaced or edited: redo
        if self._kernels_key != key:
            w = self.weight.detach()
            bias = self.bias.detach() if self.bias is not None else torch.zeros(w.shape[0], device=device)
            self._kernels = (transform_kernels(w).to(device, dtype).contiguous(), bias.to(device, dtype))
            self._kernels_key = key
        assert self._kernels is not None
        return self._kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.uses_winograd(x):
            return super().forward(x)
        return _Conv3x3.apply(x, *self._transformed(x.dtype, x.device))
