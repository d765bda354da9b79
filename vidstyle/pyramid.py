"""A Laplacian-pyramid parametrization of an image, for optimizers that work on a flat vector.

``x = l_0 + up(l_1 + up(l_2 + ... up(g_L)))``: ``L`` band-pass levels and the
low-pass residual ``g_L``, each half the size of the one before. The map is
linear and exactly invertible (:meth:`LaplacianPyramid.analyse` then
:meth:`~LaplacianPyramid.synthesize` returns the image). A gradient step on the
coefficients moves a coarse coefficient by the sum of the pixel gradients it
covers, so low frequencies move as fast as detail does: a preconditioner for
the few iterations of a warm-started video frame (benchmarks/README.md, "A
pyramid for later frames"). Used by :func:`vidstyle.optimize.minimize` when
``OptimizerSettings.pyramid`` is above 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class LaplacianPyramid:
    """The pyramid of images of ``shape`` (N, C, H, W) with ``levels`` band-pass levels."""

    def __init__(self, shape: tuple[int, ...] | torch.Size, levels: int):
        if levels < 1:
            raise ValueError(f"a pyramid needs at least 1 level, got {levels}")
        self.shape = tuple(int(d) for d in shape)
        n, c, h, w = self.shape
        self.sizes = [(h, w)]
        for _ in range(levels):
            h, w = (h + 1) // 2, (w + 1) // 2
            self.sizes.append((h, w))
        self.levels = levels
        self._numels = [n * c * hh * ww for hh, ww in self.sizes]

    @property
    def numel(self) -> int:
        return sum(self._numels)

    @staticmethod
    def _up(t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(t, size=hw, mode="bilinear", align_corners=False)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """The flat coefficients of image ``x`` (finest band first, the low-pass residual last)."""
        gauss = [x]
        for hw in self.sizes[1:]:
            gauss.append(F.interpolate(gauss[-1], size=hw, mode="bilinear", antialias=True, align_corners=False))
        bands = [gauss[k] - self._up(gauss[k + 1], self.sizes[k]) for k in range(self.levels)] + [gauss[-1]]
        return torch.cat([b.reshape(-1) for b in bands])

    def synthesize(self, coeffs: torch.Tensor) -> torch.Tensor:
        """The image of flat ``coeffs`` (differentiable: a gradient flows back to the coefficients)."""
        n, c = self.shape[:2]
        bands, i = [], 0
        for (h, w), k in zip(self.sizes, self._numels):
            bands.append(coeffs[i:i + k].view(n, c, h, w))
            i += k
        x = bands[-1]
        for k in range(self.levels - 1, -1, -1):
            x = bands[k] + self._up(x, self.sizes[k])
        return x
