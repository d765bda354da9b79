"""OpenCV-contrib backends: DeepFlow and DIS (CPU, greyscale input)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from flow.backends.base import FlowBackend
from flow.errors import FlowError


def _grey_u8(img: torch.Tensor) -> list[np.ndarray]:
    """``(N, 3, H, W)`` RGB [0, 1] -> N ``HxW`` uint8 greys (ITU-R BT.601 weights, as cv2.cvtColor).

    Done in NumPy: a few element-wise passes on a small array, where torch's
    thread pool costs more than the work on a busy CPU.
    """
    out = []
    for rgb in img.detach().to("cpu", torch.float32).numpy():
        grey = rgb[0] * np.float32(0.299) + rgb[1] * np.float32(0.587) + rgb[2] * np.float32(0.114)
        out.append(np.clip(np.rint(grey * np.float32(255.0)), 0, 255).astype(np.uint8))
    return out


class _OpenCVBackend(FlowBackend):
    def _make(self):  # a fresh estimator per call: OpenCV's objects are not thread-safe
        raise NotImplementedError

    @property
    def versions(self) -> dict[str, str]:
        import cv2

        return {"opencv": cv2.__version__}

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        algo = self._make()
        flows = []
        for a, b in zip(_grey_u8(img0), _grey_u8(img1)):
            flows.append(torch.from_numpy(algo.calc(a, b, None)).permute(2, 0, 1))
        return torch.stack(flows).to(self.device)


class DeepFlowBackend(_OpenCVBackend):
    """DeepFlow (Weinzaepfel et al., ICCV 2013) as implemented in OpenCV-contrib's ``optflow``.

    OpenCV's DeepFlow is the variational refinement only: it has no
    DeepMatching step, so unlike the paper's DeepFlow2 (which Ruder et al. used)
    it is weaker on large displacements. It has no tunable settings in the
    Python binding; ``params`` records OpenCV's fixed defaults.
    """

    name: ClassVar[str] = "deepflow"
    licence: ClassVar[str] = "OpenCV-contrib (Apache-2.0); no learned weights"

    # OpenCV's OpticalFlowDeepFlow defaults (not settable from Python).
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "sigma": 0.6, "min_size": 25, "downscale_factor": 0.95, "fixed_point_iterations": 5,
        "sor_iterations": 25, "alpha": 1.0, "delta": 0.5, "gamma": 5.0, "omega": 1.6,
    }

    def __init__(self, *, device=None) -> None:
        super().__init__(device=device)
        import cv2

        if not hasattr(cv2, "optflow"):
            raise FlowError("method deepflow needs opencv-contrib (cv2.optflow is missing): "
                            "pip install opencv-contrib-python-headless")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.DEFAULTS)

    def _make(self):
        import cv2

        return cv2.optflow.createOptFlow_DeepFlow()


DIS_PRESETS = ("ultrafast", "fast", "medium", "fine")


class DISBackend(_OpenCVBackend):
    """Dense Inverse Search (Kroeger et al., ECCV 2016), OpenCV's fast CPU flow.

    ``preset`` is one of OpenCV's presets ``ultrafast``, ``fast``, ``medium``, or
    ``fine``: ``medium`` with its patch search and refinement carried down to full
    resolution (finest scale 0, where ``medium`` stops at half size and upsamples).
    On Sintel's fast-motion frames (8-30 px a frame) ``fine`` halves ``medium``'s
    photometric warp error at 4x its cost, still 6x faster than DeepFlow
    (benchmarks/README.md "Flow on fast motion").
    """

    name: ClassVar[str] = "dis"
    licence: ClassVar[str] = "OpenCV (Apache-2.0); no learned weights"

    def __init__(self, *, preset: str = "medium", device=None) -> None:
        super().__init__(device=device)
        if preset not in DIS_PRESETS:
            raise FlowError(f"DIS preset {preset!r}: expected one of {', '.join(DIS_PRESETS)}")
        self.preset = preset

    def _make(self):
        import cv2

        code = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[self.preset]
        algo = cv2.DISOpticalFlow_create(code)
        if self.preset == "fine":
            algo.setFinestScale(0)
        return algo

    @property
    def params(self) -> dict[str, Any]:
        algo = self._make()
        return {
            "preset": self.preset,
            "finest_scale": algo.getFinestScale(),
            "patch_size": algo.getPatchSize(),
            "patch_stride": algo.getPatchStride(),
            "gd_iterations": algo.getGradientDescentIterations(),
            "var_iterations": algo.getVariationalRefinementIterations(),
        }
