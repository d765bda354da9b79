"""Generate the sample still images: two content pictures and three style pictures.

The project makes its own samples so that they carry no third-party licence:

    python samples/make_images.py            # writes samples/*.png beside this script

Everything is drawn with numpy from fixed seeds, so the files are reproducible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy / h, xx / w


def landscape(w: int = 320, h: int = 224) -> Image.Image:
    """Content: sky, sun, two hill ridges, a lake and a small house: clear shapes to keep."""
    y, x = _grid(h, w)
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (0.35 + 0.4 * y)[..., None] * np.array([0.55, 0.75, 1.0])  # sky gradient
    sun = ((x - 0.75) ** 2 * (w / h) ** 2 + (y - 0.22) ** 2) < 0.008
    img[sun] = (1.0, 0.85, 0.35)
    far = y > 0.45 + 0.08 * np.sin(6 * x + 1.0)
    img[far] = np.stack([0.25 + 0.1 * y, 0.4 + 0.1 * y, 0.3 + 0.1 * y], -1)[far]
    near = y > 0.62 + 0.06 * np.sin(9 * x)
    img[near] = np.stack([0.2 + 0.2 * x, 0.5 - 0.1 * y, 0.15 + 0.0 * x], -1)[near]
    lake = (y > 0.78) & (((x - 0.3) / 0.22) ** 2 + ((y - 0.88) / 0.08) ** 2 < 1)
    img[lake] = np.stack([0.15 + 0.1 * x, 0.35 + 0.1 * x, 0.6 + 0.2 * y], -1)[lake]
    out = Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(out)
    bx, by = int(0.62 * w), int(0.6 * h)
    d.rectangle([bx, by, bx + 40, by + 30], fill=(200, 190, 170), outline=(60, 40, 30))
    d.polygon([(bx - 5, by), (bx + 20, by - 22), (bx + 45, by)], fill=(150, 50, 40))
    d.rectangle([bx + 15, by + 12, bx + 25, by + 30], fill=(80, 50, 30))
    return out


def still_life(w: int = 256, h: int = 256) -> Image.Image:
    """Content: a table with a vase and fruit, lit from the left (round shapes and soft shading)."""
    y, x = _grid(h, w)
    img = np.zeros((h, w, 3), np.float32)
    img[:] = np.array([0.85, 0.8, 0.7]) * (0.7 + 0.3 * x)[..., None]
    table = y > 0.68
    img[table] = np.stack([0.45 + 0.1 * x, 0.28 + 0.05 * x, 0.15 + 0 * x], -1)[table]

    def ball(cx, cy, r, color):
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        inside = d2 < r * r
        shade = 1.0 - 0.6 * np.clip(((x - cx + 0.4 * r) ** 2 + (y - cy + 0.4 * r) ** 2) / (r * r), 0, 1)
        img[inside] = (np.array(color)[None, :] * shade[inside][:, None])

    vase = (np.abs(x - 0.42) < 0.09 + 0.05 * np.sin(np.pi * (y - 0.3) / 0.4)) & (y > 0.3) & (y < 0.72)
    img[vase] = np.stack([0.2 + 0.5 * (0.5 - np.abs(x - 0.4)), 0.3 + 0 * x, 0.6 + 0 * x], -1)[vase]
    ball(0.68, 0.7, 0.09, (0.9, 0.2, 0.15))
    ball(0.8, 0.73, 0.07, (0.95, 0.75, 0.1))
    ball(0.22, 0.74, 0.06, (0.3, 0.7, 0.2))
    return Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8))


def swirls(size: int = 256, seed: int = 1) -> Image.Image:
    """Style: short curved brush strokes following a swirling field, in blues and yellows."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (size, size), (20, 40, 90))
    d = ImageDraw.Draw(canvas)
    palette = [(30, 60, 140), (60, 110, 190), (230, 200, 60), (250, 235, 140), (15, 30, 70), (120, 170, 220)]
    centres = rng.uniform(0, size, (4, 2))
    for _ in range(2600):
        px, py = rng.uniform(0, size, 2)
        colour = palette[rng.integers(len(palette))]
        pts = []
        for _ in range(6):
            pts.append((px, py))
            cx, cy = centres[np.argmin(((centres - (px, py)) ** 2).sum(1))]
            ang = np.arctan2(py - cy, px - cx) + np.pi / 2  # tangent to the nearest swirl centre
            px, py = px + 3 * np.cos(ang), py + 3 * np.sin(ang)
        d.line(pts, fill=colour, width=int(rng.integers(2, 5)))
    return canvas.filter(ImageFilter.SMOOTH)


def mosaic(size: int = 256, seed: int = 2) -> Image.Image:
    """Style: stained-glass cells (Voronoi) with dark lead lines and saturated colours."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (90, 2))
    colours = rng.choice(np.array([[200, 40, 40], [40, 90, 200], [240, 200, 40], [40, 160, 80], [150, 60, 170],
                                   [240, 120, 30]]), len(pts))
    yy, xx = np.mgrid[0:size, 0:size]
    d = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2
    order = np.argsort(d, axis=-1)
    nearest, second = order[..., 0], order[..., 1]
    d1 = np.take_along_axis(d, nearest[..., None], -1)[..., 0] ** 0.5
    d2 = np.take_along_axis(d, second[..., None], -1)[..., 0] ** 0.5
    img = colours[nearest].astype(np.float32) * (0.8 + 0.2 * rng.uniform(size=(size, size, 1)))
    img[(d2 - d1) < 2.5] = (25, 20, 20)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def waves(size: int = 256) -> Image.Image:
    """Style: layered sinusoidal bands, like a woodcut sea, in indigo and cream."""
    y, x = _grid(size, size)
    v = np.sin(40 * y + 6 * np.sin(7 * x) + 3 * np.sin(19 * x + 11 * y))
    lines = (np.abs(v) < 0.35).astype(np.float32)
    ink, paper = np.array([0.12, 0.18, 0.4]), np.array([0.95, 0.92, 0.82])
    img = paper * (1 - lines[..., None]) + ink * lines[..., None]
    return Image.fromarray((img * 255).astype(np.uint8))


SAMPLES = {
    "content-landscape.png": landscape,
    "content-still-life.png": still_life,
    "style-swirls.png": swirls,
    "style-mosaic.png": mosaic,
    "style-waves.png": waves,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: beside this script)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in SAMPLES.items():
        make().save(args.out / name, optimize=True)
        print(args.out / name)


if __name__ == "__main__":
    main()
