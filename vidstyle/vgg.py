"""VGG-19 feature extractor addressed by layer names (``conv1_1`` ... ``pool5``).

Images come in as the project's convention, ``(N, 3, H, W)`` RGB in [0, 1];
the conversion to the network's own input space (torchvision: ImageNet
mean/std; Caffe: BGR, 0..255, minus the mean pixel) happens here and nowhere
else. The network is built only up to the deepest layer a run asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from vidstyle import defaults
from vidstyle.errors import LayerError
from vidstyle.tensors import resize
from vidstyle.winograd import Conv2d

# Convolutions per block in VGG-19 (Simonyan and Zisserman 2015, configuration E).
_BLOCKS = (2, 2, 4, 4, 4)
_CHANNELS = (64, 128, 256, 512, 512)


def _layer_table() -> list[tuple[str, str, int, int]]:
    """(name, kind, in_channels, out_channels) in torchvision's ``features`` order."""
    table = []
    c_in = 3
    for b, (n_conv, c_out) in enumerate(zip(_BLOCKS, _CHANNELS), start=1):
        for i in range(1, n_conv + 1):
            table.append((f"conv{b}_{i}", "conv", c_in, c_out))
            table.append((f"relu{b}_{i}", "relu", c_out, c_out))
            c_in = c_out
        table.append((f"pool{b}", "pool", c_out, c_out))
    return table


LAYERS = _layer_table()
LAYER_NAMES: tuple[str, ...] = tuple(name for name, *_ in LAYERS)
LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}
CONV_NAMES = tuple(name for name, kind, *_ in LAYERS if kind == "conv")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def layer_index(name: str) -> int:
    """Position of a layer in ``vgg19().features``; unknown names raise :class:`LayerError`."""
    try:
        return LAYER_INDEX[name]
    except KeyError:
        raise LayerError(
            f"unknown layer {name!r}: expected names like conv1_1, relu3_2, pool4 "
            "(blocks 1-5, convs 1-2 in blocks 1-2, 1-4 in 3-5)"
        ) from None


def downsampling(name: str) -> int:
    """How many times the image has been halved by pooling when it reaches ``name``."""
    return sum(1 for n, kind, *_ in LAYERS[: layer_index(name) + 1] if kind == "pool")


def min_size(layers: Iterable[str]) -> int:
    """Smallest image side (px) for which every given layer still has >= 1 pixel...

    ...and every style layer a Gram over more than one position: we ask for 2 px.
    """
    deepest = max((downsampling(n) for n in layers), default=0)
    return 2 * 2**deepest


def deepest(layers: Iterable[str]) -> str:
    return max(layers, key=layer_index)


class InputConvention(nn.Module):
    """Maps [0, 1] RGB to a network's input space: (x[perm] * scale - mean) / std."""

    mul: torch.Tensor  # buffers (registered below), declared for type checkers
    sub: torch.Tensor

    def __init__(self, model: str):
        super().__init__()
        if model == "torchvision":
            perm, scale, mean, std = (0, 1, 2), 1.0, IMAGENET_MEAN, IMAGENET_STD
        elif model == "caffe":
            perm, scale, mean, std = (2, 1, 0), 255.0, CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
        else:
            raise ValueError(f"unknown model convention {model!r}")
        self.perm = list(perm)
        self.register_buffer("mul", torch.tensor([scale / s for s in std]).view(1, 3, 1, 1))
        self.register_buffer("sub", torch.tensor([m / s for m, s in zip(mean, std)]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.perm != [0, 1, 2]:
            x = x[:, self.perm]
        return x * self.mul - self.sub


class VGGFeatures(nn.Module):
    """Frozen VGG-19 ``features`` stack, truncated after the deepest requested layer.

    ``forward(x, layers)`` returns ``{name: activation}`` for the requested
    layers. ReLUs are not in-place so that a conv output and its ReLU can both
    be requested. On the CPU, in bf16 or float32, the convolutions with
    ``defaults.WINOGRAD_MIN_OUT_CHANNELS`` output channels or more (conv3_1 to
    conv5_1) run by Winograd's algorithm (:mod:`vidstyle.winograd`).
    """

    def __init__(self, state: dict[str, torch.Tensor], *, model: str, last_layer: str, pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.last_layer = last_layer
        self.convention = InputConvention(model)
        modules: list[nn.Module] = []
        for name, kind, c_in, c_out in LAYERS[: layer_index(last_layer) + 1]:
            if kind == "conv":
                conv = Conv2d(c_in, c_out, winograd=c_out >= defaults.WINOGRAD_MIN_OUT_CHANNELS)
                idx = layer_index(name)
                with torch.no_grad():
                    conv.weight.copy_(state[f"features.{idx}.weight"])
                    assert conv.bias is not None  # Conv2d's default bias=True
                    conv.bias.copy_(state[f"features.{idx}.bias"])
                modules.append(conv)
            elif kind == "relu":
                modules.append(nn.ReLU(inplace=False))
            elif pooling == "max":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                # Gatys et al. 2016 found average pooling gives slightly better images.
                modules.append(nn.AvgPool2d(2, 2))
        self.layers = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        # NHWC convolutions are ~12% faster per loss+gradient evaluation on CPU (oneDNN)
        # and use tensor cores' native layout on CUDA (benchmarks/README.md).
        self.to(memory_format=torch.channels_last)

    @property
    def names(self) -> tuple[str, ...]:
        return LAYER_NAMES[: len(self.layers)]

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        for name in wanted:
            if layer_index(name) >= len(self.layers):
                raise LayerError(f"layer {name} is deeper than this network (built up to {self.last_layer})")
        stop = max(layer_index(n) for n in wanted)
        out: dict[str, torch.Tensor] = {}
        h = self.convention(x)
        if h.device.type in ("cpu", "cuda"):
            h = h.contiguous(memory_format=torch.channels_last)
        for i, module in enumerate(self.layers[: stop + 1]):
            h = module(h)
            if LAYER_NAMES[i] in wanted:
                out[LAYER_NAMES[i]] = h
        return out


def resize_long_side(img: torch.Tensor, long_side: int) -> torch.Tensor:
    """Bilinear (antialiased when shrinking) resize so that max(H, W) == long_side."""
    h, w = img.shape[-2:]
    scale = long_side / max(h, w)
    return resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))
