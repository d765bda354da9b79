"""The interface every flow backend implements."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch

from flow._checks import check_images, check_same_size


class FlowBackend(abc.ABC):
    """An optical-flow estimator.

    ``estimate(img0, img1)`` takes two ``(N, 3, H, W)`` float32 RGB batches in
    [0, 1] and returns the ``(N, 2, H, W)`` float32 flow, in pixels, channel 0 = x,
    channel 1 = y, that maps each pixel of ``img0`` to its position in ``img1``
    (``img1(x + flow(x)) ~ img0(x)``). The result lives on :attr:`device`.

    ``name`` is the registry name, ``params`` a JSON-able dict of everything
    that changes the result (part of the flow-cache key, with ``versions``),
    ``licence`` a one-line licence note for the method and its weights.
    """

    name: ClassVar[str]
    licence: ClassVar[str]
    #: whether one call with N > 1 runs the pairs together (else it loops)
    batched: ClassVar[bool] = False

    def __init__(self, *, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Settings that change the estimate (JSON-able)."""

    @property
    def versions(self) -> dict[str, str]:
        """Library versions the estimate depends on (part of the cache key)."""
        return {"torch": torch.__version__.split("+")[0]}

    def estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        """Flow from ``img0`` to ``img1``; see the class docstring for the conventions."""
        check_images(img0, "img0")
        check_images(img1, "img1")
        check_same_size(img0, img1, "img0", "img1")
        img0 = img0.to(self.device, torch.float32)
        img1 = img1.to(self.device, torch.float32)
        with torch.no_grad():
            flow = self._estimate(img0, img1)
        return flow.to(self.device, torch.float32).contiguous()

    @abc.abstractmethod
    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        """Checked inputs on :attr:`device`; returns ``(N, 2, H, W)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params}, device={self.device})"
