"""SPyNet: "Optical Flow Estimation using a Spatial Pyramid Network"
(Ranjan and Black, CVPR 2017), written for this project from the paper.

A coarse-to-fine pyramid: at each level a small CNN G_k sees the first
image, the second image backward-warped by the upsampled coarser flow, and
that flow, and predicts a residual flow. The network here loads the public
pretrained weights of the PyTorch port (files ``network-<model>.pytorch``),
whose licence allows non-commercial research use only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from flow.backends.base import FlowBackend
from flow.download import ProgressHook, fetch, hub_checkpoint_dir
from flow.errors import FlowError
from flow.warp import warp

SPYNET_MODELS = ("sintel-final", "sintel-clean", "chairs-final", "chairs-clean", "kitti-final")
SPYNET_URL = "http://content.sniklaus.com/github/pytorch-spynet/network-{model}.pytorch"
SPYNET_LICENCE = "SPyNet pretrained weights: non-commercial research use only (not bundled; see their publisher)"

MAX_LEVELS = 6
# Halve while the coarsest level's longer side exceeds this (at most MAX_LEVELS - 1
# times): the level count the released models were run with, so G_k meets the scale it was trained on.
COARSE_SIDE = 32
MULTIPLE = 32  # inputs are resized to a multiple of 2^(MAX_LEVELS - 1)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CONV_CHANNELS = (8, 32, 64, 32, 16, 2)  # paper, Sec. 3: five 7x7 conv layers
_WEIGHT_PREFIXES = ("netBasic", "moduleBasic")  # newer and older spellings of the port's files


class BasicModule(nn.Module):
    """G_k of the paper: five 7x7 convolutions 8->32->64->32->16->2, ReLU between."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(_CONV_CHANNELS[:-1], _CONV_CHANNELS[1:])):
            if i:
                layers.append(nn.ReLU(inplace=False))
            layers.append(nn.Conv2d(cin, cout, kernel_size=7, stride=1, padding=3))
        self.body = nn.Sequential(*layers)  # convs at indices 0, 2, 4, 6, 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SpyNet(nn.Module):
    """The pyramid network. ``forward(img0, img1)`` takes ImageNet-normalised RGB
    ``(N, 3, H, W)`` (H, W divisible by 2^(levels-1)) and returns ``(N, 2, H, W)``
    flow in pixels from img0 to img1. Use :class:`SpyNetBackend` for raw images."""

    def __init__(self, levels: int = MAX_LEVELS) -> None:
        super().__init__()
        self.levels = nn.ModuleList(BasicModule() for _ in range(levels))

    @staticmethod
    def pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
        """Finest first; each level is 2x2 average pooling of the one before (paper, Sec. 3)."""
        out = [img]
        while len(out) < levels and max(out[-1].shape[-2:]) > COARSE_SIDE and min(out[-1].shape[-2:]) >= 2:
            out.append(F.avg_pool2d(out[-1], kernel_size=2, stride=2))
        return out

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        p0 = self.pyramid(img0, len(self.levels))[::-1]
        p1 = self.pyramid(img1, len(self.levels))[::-1]
        n, _, h, w = p0[0].shape
        flow = img0.new_zeros(n, 2, h, w)
        # Like the released models, G_0 runs at the coarsest level actually built.
        for k, (a, b) in enumerate(zip(p0, p1)):
            if flow.shape[-2:] != a.shape[-2:]:
                fh, fw = flow.shape[-2:]
                th, tw = a.shape[-2:]
                # Flow upsampled x2 between levels, its values scaled with it (paper, Sec. 3).
                flow = F.interpolate(flow, size=(th, tw), mode="bilinear", align_corners=True)
                flow = flow * flow.new_tensor([tw / fw, th / fh]).view(1, 2, 1, 1)
            warped, _ = warp(b, flow, padding="border")
            flow = flow + self.levels[k](torch.cat([a, warped, flow], dim=1))
        return flow


def load_spynet_state(path: str | os.PathLike, *, label: str | None = None) -> dict[str, torch.Tensor]:
    """Read a SPyNet weights file and rename its tensors to :class:`SpyNet`'s names.

    Accepts the port's ``netBasic.{k}.netBasic.{j}.{weight,bias}`` keys and the
    older ``moduleBasic`` spelling (optionally behind ``module.``), and this
    module's own ``levels.{k}.body.{j}.*`` names. Raises :class:`FlowError`.
    """
    label = label or str(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FlowError(f"SPyNet weights file {label} does not exist") from None
    except Exception as exc:  # torch raises many kinds for a non-checkpoint file
        raise FlowError(f"{label} is not a readable PyTorch weights file ({type(exc).__name__})") from None
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise FlowError(f"{label} holds a {type(raw).__name__}, not a state dict")
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        parts = str(key).removeprefix("module.").split(".")
        if len(parts) == 5 and parts[0] in _WEIGHT_PREFIXES and parts[2] == parts[0]:
            state[f"levels.{parts[1]}.body.{parts[3]}.{parts[4]}"] = value
        elif len(parts) == 5 and parts[0] == "levels" and parts[2] == "body":
            state[".".join(parts)] = value
    ref = SpyNet().state_dict()
    missing = [k for k in ref if k not in state]
    if missing:
        raise FlowError(f"{label} is not SPyNet weights: no tensor for {missing[0]} "
                        f"(expected keys netBasic.0..5.netBasic.0,2,4,6,8.weight/bias)")
    for k, v in ref.items():
        if state[k].shape != v.shape:
            raise FlowError(f"{label}: tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    return {k: state[k].float() for k in ref}


def spynet_filename(model: str) -> str:
    """``network-<model>.pytorch``, the name the port publishes (and torch hub would use)."""
    if model not in SPYNET_MODELS:
        raise FlowError(f"SPyNet weights {model!r}: expected one of {', '.join(SPYNET_MODELS)} or a file path")
    return f"network-{model}.pytorch"


def fetch_spynet_weights(model: str = "sintel-final", *, cache_dir: str | os.PathLike | None = None,
                         url: str | None = None, download: bool = True,
                         progress: ProgressHook | None = None) -> Path:
    """Path to SPyNet weights ``model`` in ``cache_dir`` (default the torch hub
    checkpoints folder), downloading them from ``url`` (default the public
    address) once when missing and ``download`` is True.

    The weights are licensed for non-commercial research only: never bundled,
    fetched on request. The downloaded file is checked to be loadable SPyNet
    weights before it is kept. ``progress(done, total)`` follows the download.
    Offline or not allowed to download: :class:`FlowError` naming the file, the
    cache path and the ``weights`` parameter that takes a local copy.
    """
    filename = spynet_filename(model)
    cache = Path(cache_dir) if cache_dir is not None else hub_checkpoint_dir()
    path = cache / filename
    if path.is_file():
        return path
    url = url or SPYNET_URL.format(model=model)
    hint = (f"SPyNet weights {filename} are not cached at {path}; connect to the internet once, "
            f"or download {url} yourself and pass it as weights=FILE ({SPYNET_LICENCE})")
    if not download:
        raise FlowError(hint)

    def check(tmp: Path) -> None:  # a file that is not SPyNet weights is never kept
        load_spynet_state(tmp, label=url)

    try:
        return fetch(url, path, progress=progress if callable(progress) else None, check=check)
    except FlowError as exc:
        raise FlowError(f"{exc}; {hint}") from None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class SpyNetBackend(FlowBackend):
    """SPyNet (Ranjan and Black 2017) in PyTorch; CPU or GPU, batched.

    Args:
        weights: a public model name (``sintel-final`` default, ``sintel-clean``,
            ``chairs-final``, ``chairs-clean``, ``kitti-final``), a path to a
            weights file, or ``"random"`` (seeded random init, for tests/benchmarks).
        cache_dir: where named weights are cached (default torch hub checkpoints).
        download: allow fetching named weights when not cached.
        progress: a ``(bytes so far, total)`` callback following a download (the library draws nothing).
        url: override the download address (tests).
        seed: seed for ``weights="random"``.

    Any input size: images are resized to multiples of 32 and the flow is
    resized back with its x and y values rescaled.
    """

    name: ClassVar[str] = "spynet"
    licence: ClassVar[str] = f"network: this project's code (MIT); {SPYNET_LICENCE}"
    batched: ClassVar[bool] = True

    def __init__(self, *, weights: str | os.PathLike = "sintel-final", cache_dir: str | os.PathLike | None = None,
                 download: bool = True, progress: ProgressHook | None = None, url: str | None = None, seed: int = 0,
                 device=None) -> None:
        super().__init__(device=device)
        self.net = SpyNet()
        weights_s = str(weights)
        if weights_s == "random":
            gen = torch.Generator().manual_seed(int(seed))
            with torch.no_grad():
                for p in self.net.parameters():
                    # Small init: random filters give bounded, finite flows at any depth.
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
            self._params = {"weights": "random", "seed": int(seed)}
        else:
            if weights_s in SPYNET_MODELS:
                path = fetch_spynet_weights(weights_s, cache_dir=cache_dir, url=url, download=download,
                                            progress=progress)
                label = weights_s
            else:
                path = Path(weights_s).expanduser()
                if not path.is_file():
                    raise FlowError(f"SPyNet weights {weights_s!r}: no such file, "
                                    f"and not one of {', '.join(SPYNET_MODELS)}")
                label = path.name
            self.net.load_state_dict(load_spynet_state(path))
            self._params = {"weights": label, "sha256": _file_sha256(Path(path))}
        self.net.eval().requires_grad_(False).to(self.device)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        h, w = img0.shape[-2:]
        hp, wp = (-(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE)

        def prep(img: torch.Tensor) -> torch.Tensor:
            if (hp, wp) != (h, w):
                img = F.interpolate(img, size=(hp, wp), mode="bilinear", align_corners=False)
            return (img - self._mean) / self._std

        flow = self.net(prep(img0), prep(img1))
        if (hp, wp) != (h, w):
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = flow * flow.new_tensor([w / wp, h / hp]).view(1, 2, 1, 1)
        return flow
