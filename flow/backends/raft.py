"""RAFT (Teed and Deng, ECCV 2020) through torchvision's implementation and weights API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from flow.backends.base import FlowBackend
from flow.download import ProgressHook, fetch, hash_prefix, hub_checkpoint_dir
from flow.errors import FlowError

RAFT_MODELS = ("small", "large")


class RaftBackend(FlowBackend):
    """torchvision's RAFT-small or RAFT-large.

    Args:
        model: ``small`` or ``large``.
        weights: ``"default"`` (torchvision's ``*_Weights.DEFAULT``, downloaded into
            the torch hub cache when ``download``), a local state-dict file, or ``"random"``.
        iterations: recurrent refinement steps (torchvision's default 12).
        download: allow fetching the default weights when not cached.
        progress: a ``(bytes so far, total)`` callback following that download.
        seed: the seed of ``weights="random"`` (the global random stream is left as it was).
    Inputs are padded (edge-replicated) to a multiple of 8 and at least 128 px, as RAFT needs.
    """

    name: ClassVar[str] = "raft"
    licence: ClassVar[str] = ("torchvision code (BSD-3-Clause); RAFT weights from torchvision "
                              "(BSD-3-Clause, trained on FlyingChairs/Things/Sintel/KITTI)")
    batched: ClassVar[bool] = True

    def __init__(self, *, model: str = "small", weights: str | os.PathLike = "default", iterations: int = 12,
                 download: bool = True, progress: ProgressHook | None = None, seed: int = 0, device=None) -> None:
        super().__init__(device=device)
        from torchvision.models import optical_flow as of

        if model not in RAFT_MODELS:
            raise FlowError(f"RAFT model {model!r}: expected small or large")
        if int(iterations) < 1:
            raise FlowError(f"RAFT iterations {iterations!r}: expected >= 1")
        build = of.raft_small if model == "small" else of.raft_large
        enum = of.Raft_Small_Weights if model == "small" else of.Raft_Large_Weights
        weights_s = str(weights)
        if weights_s == "random":
            # torchvision initialises from the global generator: seed a forked copy of it, so that the
            # random net is reproducible without moving the caller's random stream.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                self.net = build(weights=None)
            label = "random"
        elif weights_s == "default":
            w = enum.DEFAULT
            file = hub_checkpoint_dir() / w.url.rsplit("/", 1)[-1]
            hint = f"connect to the internet once, or download {w.url} yourself and pass it as weights=FILE"
            if not file.is_file():
                if not download:
                    raise FlowError(f"RAFT weights {file.name} are not cached at {file}; {hint}")
                try:  # the project's downloader (progress callback, hash check); torch hub then finds the file
                    fetch(w.url, file, sha256=hash_prefix(file.name), progress=progress if callable(progress) else None)
                except FlowError as exc:
                    raise FlowError(f"{exc}; {hint}") from None
            try:
                self.net = build(weights=w, progress=False)
            except Exception as exc:  # a damaged cached file: torch raises many kinds
                raise FlowError(f"could not load RAFT weights {file}: {type(exc).__name__}; "
                                f"remove it and {hint}") from None
            label = str(w)
        else:
            path = Path(weights_s).expanduser()
            if not path.is_file():
                raise FlowError(f"RAFT weights file {path} does not exist")
            self.net = build(weights=None)
            try:
                self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except Exception as exc:
                raise FlowError(f"{path} is not RAFT-{model} weights ({type(exc).__name__})") from None
            label = path.name
        self.net.eval().requires_grad_(False).to(self.device)
        self._params = {"model": model, "weights": label, "iterations": int(iterations)}
        if label == "random":
            self._params["seed"] = int(seed)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def versions(self) -> dict[str, str]:
        import torchvision

        return {"torch": torch.__version__.split("+")[0], "torchvision": torchvision.__version__.split("+")[0]}

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        h, w = img0.shape[-2:]
        # RAFT needs sides divisible by 8 and at least 128 (its correlation pyramid).
        ph, pw = max(128, h + (-h) % 8) - h, max(128, w + (-w) % 8) - w

        def prep(img: torch.Tensor) -> torch.Tensor:
            img = img * 2.0 - 1.0  # torchvision's RAFT transforms map [0, 1] to [-1, 1]
            return F.pad(img, (0, pw, 0, ph), mode="replicate") if (ph or pw) else img

        flows = self.net(prep(img0), prep(img1), num_flow_updates=self._params["iterations"])
        return flows[-1][:, :, :h, :w]
