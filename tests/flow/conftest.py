"""Synthetic image pairs with exact ground-truth flow, made here (no data files).

Each maker returns a dict: img0, img1 ((1,3,H,W) float32 RGB in [0,1]),
fw (1,2,H,W) ground-truth flow img0 -> img1, and boolean (H,W) maps:
``valid0`` (pixels of img0 whose true target lies inside img1), and for the
square scene ``bw`` (img1 -> img0), ``disoccluded1`` (pixels of img1 with no
correspondence in img0) and ``visible1`` (pixels of img1 that have one).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth multi-scale RGB noise in [0.05, 0.95], float32 HxWx3."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for sigma, amp in ((1.2, 1.0), (3.0, 1.0), (8.0, 0.7)):
        n = rng.standard_normal((h, w, 3)).astype(np.float32)
        n = cv2.GaussianBlur(n, (0, 0), sigma)
        img += amp * n / (n.std() + 1e-6)
    img = (img - img.min()) / (img.max() - img.min())
    return 0.05 + 0.9 * img


def to_t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).float()


def _remap(src: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(src, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def translation_pair(h=96, w=96, d=(1.4, -0.7), seed=0) -> dict:
    m = 16
    big = texture(h + 2 * m, w + 2 * m, seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    img0 = _remap(big, xs + m, ys + m)
    img1 = _remap(big, xs + m - d[0], ys + m - d[1])  # img1(x) = img0(x - d)
    fw = np.stack([np.full((h, w), d[0]), np.full((h, w), d[1])])
    tx, ty = xs + d[0], ys + d[1]
    valid0 = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return {"img0": to_t(img0), "img1": to_t(img1), "fw": torch.from_numpy(fw).float()[None], "valid0": valid0}


def rotation_zoom_pair(h=96, w=96, degrees=3.0, zoom=1.04, seed=1) -> dict:
    m = 24
    big = texture(h + 2 * m, w + 2 * m, seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    a = np.deg2rad(degrees)
    A = zoom * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    Ai = np.linalg.inv(A)
    # img1(y) = img0(A^-1 (y - c) + c): pixel x of img0 moves to A (x - c) + c.
    sx = Ai[0, 0] * (xs - cx) + Ai[0, 1] * (ys - cy) + cx
    sy = Ai[1, 0] * (xs - cx) + Ai[1, 1] * (ys - cy) + cy
    img0 = _remap(big, xs + m, ys + m)
    img1 = _remap(big, sx + m, sy + m)
    tx = A[0, 0] * (xs - cx) + A[0, 1] * (ys - cy) + cx
    ty = A[1, 0] * (xs - cx) + A[1, 1] * (ys - cy) + cy
    fw = np.stack([tx - xs, ty - ys])
    valid0 = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return {"img0": to_t(img0), "img1": to_t(img1), "fw": torch.from_numpy(fw).float()[None], "valid0": valid0}


def square_pair(h=128, w=128, side=40, p0=(40, 44), d_fg=(8, 3), d_bg=(-1, 1), seed=2) -> dict:
    """A textured square (top-left x, y = p0) moving by d_fg over a background moving by d_bg (integers)."""
    m = 16
    bg = texture(h + 2 * m, w + 2 * m, seed)
    fg = texture(side, side, seed + 100)
    fg = np.clip(fg[..., ::-1] * 1.1 - 0.05, 0, 1)  # a different palette from the background

    def frame(k: int) -> tuple[np.ndarray, np.ndarray]:
        ox, oy = m - k * d_bg[0], m - k * d_bg[1]  # frame_k(x) = bg(x - k d_bg)
        img = bg[oy:oy + h, ox:ox + w].copy()
        x0, y0 = p0[0] + k * d_fg[0], p0[1] + k * d_fg[1]
        img[y0:y0 + side, x0:x0 + side] = fg
        sq = np.zeros((h, w), bool)
        sq[y0:y0 + side, x0:x0 + side] = True
        return img, sq

    img0, sq0 = frame(0)
    img1, sq1 = frame(1)
    ys, xs = np.mgrid[0:h, 0:w]
    fw = np.where(sq0, np.array(d_fg)[:, None, None], np.array(d_bg)[:, None, None]).astype(np.float32)
    bw = np.where(sq1, -np.array(d_fg)[:, None, None], -np.array(d_bg)[:, None, None]).astype(np.float32)
    # Pixel of img1 -> source in img0.
    sx, sy = xs + bw[0], ys + bw[1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    src_in_sq0 = np.zeros((h, w), bool)
    src_in_sq0[inside] = sq0[sy[inside].astype(int), sx[inside].astype(int)]
    disocc1 = ~sq1 & inside & src_in_sq0
    visible1 = inside & ~disocc1
    tx, ty = xs + fw[0], ys + fw[1]
    valid0 = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    occluded0 = np.zeros((h, w), bool)  # background of img0 covered by the square in img1
    occluded0[valid0] = sq1[ty[valid0].astype(int), tx[valid0].astype(int)] & ~sq0[valid0]
    return {"img0": to_t(img0), "img1": to_t(img1), "fw": torch.from_numpy(fw)[None], "bw": torch.from_numpy(bw)[None],
            "valid0": valid0 & ~occluded0, "disoccluded1": disocc1, "visible1": visible1, "inside1": inside}


def epe(flow: torch.Tensor, gt: torch.Tensor, valid: np.ndarray) -> float:
    err = (flow[0] - gt[0]).norm(dim=0).numpy()
    return float(err[valid].mean())


@pytest.fixture(scope="session")
def synth():
    """The three synthetic scenes (built once per session)."""
    return {"translation": translation_pair(), "rotation_zoom": rotation_zoom_pair(), "square": square_pair()}


@pytest.fixture(scope="session")
def epe_fn():
    """``epe_fn(flow, gt, valid)``: mean end-point error over the ``valid`` (H, W) pixels."""
    return epe
