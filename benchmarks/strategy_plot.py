"""Issue 9's plot: evaluations per later frame against E_temp, style and content loss.

``bench_video.py --parts strategies --plot PATH`` draws one point per strategy and
measure (ratio against the first strategy listed, the reference) on one chart,
with the reference line at 1 and the issue's 10 % band around it. Drawn with
Pillow, which the project already needs (no plotting library for one chart).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

MEASURES = {"e_temp": ("E_temp (lower: steadier)", (31, 119, 180)), "style": ("style loss", (214, 39, 40)),
            "content": ("content loss", (44, 160, 44))}
INK, GRID, BAND = (30, 30, 30), (225, 225, 225), (255, 244, 214)
W, H = 1000, 600
LEFT, RIGHT, TOP, BOTTOM = 70, 230, 50, 60


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step) + 1)]


def plot_strategies(rows: dict[str, dict], path: str | Path, *, title: str) -> None:
    """``rows``: strategy -> {"evaluations": ..., "vs_first": {"e_temp": r, "style": r, "content": r}}.

    The first row is the reference (every ratio 1); it is drawn like the others.
    """
    # The style points last: they carry the labels and should not hide under a content point.
    points = [(name, float(r["evaluations"]), key, float(r["vs_first"][key]))
              for key in ("e_temp", "content", "style") for name, r in rows.items()
              if r["vs_first"].get(key) is not None]
    if not points:
        raise ValueError("no ratios to plot")
    xs = [p[1] for p in points]
    ys = [p[3] for p in points] + [0.9, 1.1]
    # A log axis: the strategies worth comparing spend 15-40 evaluations, the reference 150.
    x_lo, x_hi = math.log10(min(xs) / 1.3), math.log10(max(xs) * 1.3)
    y_lo, y_hi = min(ys) - 0.05, max(ys) + 0.05
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font, small = _font(14), _font(11)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float, y: float) -> tuple[float, float]:
        return LEFT + (math.log10(x) - x_lo) / (x_hi - x_lo) * pw, TOP + (y_hi - y) / (y_hi - y_lo) * ph

    left, right = 10**x_lo, 10**x_hi
    d.rectangle((*px(left, 1.1), *px(right, 0.9)), fill=BAND)
    for t in (v for v in (5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500) if left <= v <= right):
        x, _ = px(t, y_lo)
        d.line((x, TOP, x, TOP + ph), fill=GRID)
        d.text((x, TOP + ph + 6), f"{t:g}", fill=INK, font=small, anchor="mt")
    for t in _ticks(y_lo, y_hi):
        _, y = px(left, t)
        d.line((LEFT, y, LEFT + pw, y), fill=GRID)
        d.text((LEFT - 6, y), f"x{t:.2f}", fill=INK, font=small, anchor="rm")
    d.line((*px(left, 1.0), *px(right, 1.0)), fill=INK, width=1)
    d.rectangle((LEFT, TOP, LEFT + pw, TOP + ph), outline=INK)
    d.text((LEFT + pw / 2, H - 18), "loss+gradient evaluations per later frame (log scale)", fill=INK, font=font,
           anchor="mm")
    d.text((LEFT, 18), title, fill=INK, font=font, anchor="lm")
    for name, x, key, y in points:
        cx, cy = px(x, y)
        d.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill=MEASURES[key][1])
        if key == "style":  # one label per strategy, beside its style point
            d.text((cx + 8, cy), name, fill=INK, font=small, anchor="lm")
    lx, ly = W - RIGHT + 20, TOP + 10
    for label, colour in MEASURES.values():
        d.ellipse((lx, ly - 5, lx + 10, ly + 5), fill=colour)
        d.text((lx + 16, ly), label, fill=INK, font=font, anchor="lm")
        ly += 24
    d.rectangle((lx, ly - 5, lx + 10, ly + 5), fill=BAND, outline=GRID)
    d.text((lx + 16, ly), "within 10 %", fill=INK, font=font, anchor="lm")
    d.text((lx, ly + 24), f"ratios to {next(iter(rows))}", fill=INK, font=small, anchor="lm")
    img.save(path)
