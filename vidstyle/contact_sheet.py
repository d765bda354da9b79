"""Labelled contact sheets: a grid of images with row and column titles drawn in.

Cells are HxWx3 uint8 arrays (see :func:`vidstyle.imageio.to_uint8`) or
``None`` for an empty cell; each is shrunk (never enlarged) so its long side
is at most ``cell`` px and centred in a box the size of the largest cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidstyle import defaults

PAD = 6
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
EMPTY = (235, 235, 235)


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable built-in font
    except TypeError:  # older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _shrink(img: np.ndarray, cell: int) -> Image.Image:
    im = Image.fromarray(img)
    k = cell / max(im.size)
    if k < 1:
        im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.Resampling.LANCZOS)
    return im


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, cut with an ellipsis to fit ``width`` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def contact_sheet(cells: Sequence[Sequence[np.ndarray | None]], *, row_titles: Sequence[str],
                  col_titles: Sequence[str], title: str = "", cell: int = defaults.SWEEP_CELL,
                  font_size: int = 12) -> np.ndarray:
    """Grid of ``cells[row][col]`` with ``row_titles`` on the left and ``col_titles`` on top.

    Returns an HxWx3 uint8 array. Raises ``ValueError`` if the titles do not
    match the grid's shape or the grid is empty.
    """
    rows = len(cells)
    cols = len(cells[0]) if rows else 0
    if rows == 0 or cols == 0:
        raise ValueError("a contact sheet needs at least one cell")
    if any(len(r) != cols for r in cells):
        raise ValueError(f"every row needs {cols} cells, got {[len(r) for r in cells]}")
    if len(row_titles) != rows or len(col_titles) != cols:
        raise ValueError(f"{rows}x{cols} cells but {len(row_titles)} row and {len(col_titles)} column titles")
    thumbs = [[_shrink(c, cell) if c is not None else None for c in r] for r in cells]
    box_w = max((t.width for r in thumbs for t in r if t is not None), default=cell)
    box_h = max((t.height for r in thumbs for t in r if t is not None), default=cell)
    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = font_size + 4
    label_w = min(max(int(probe.textlength(t, font=font)) for t in row_titles) + 2 * PAD, 2 * box_w)
    # Columns widen (up to twice the cell) so that their titles fit.
    col_w = max(box_w, min(max(int(probe.textlength(t, font=font)) for t in col_titles) + PAD, 2 * box_w))
    top = line_h + PAD + (line_h + PAD if title else 0)
    width = label_w + cols * (col_w + PAD) + PAD
    height = top + rows * (box_h + PAD) + PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PAD, PAD), _fit_text(draw, title, font, width - 2 * PAD), fill=INK, font=font)
    for j, t in enumerate(col_titles):
        x = label_w + j * (col_w + PAD)
        text = _fit_text(draw, t, font, col_w)
        draw.text((x + (col_w - draw.textlength(text, font=font)) / 2, top - line_h), text, fill=INK, font=font)
    for i, t in enumerate(row_titles):
        y = top + i * (box_h + PAD)
        draw.text((PAD, y + (box_h - font_size) / 2), _fit_text(draw, t, font, label_w - 2 * PAD), fill=INK,
                  font=font)
        for j, thumb in enumerate(thumbs[i]):
            x = label_w + j * (col_w + PAD) + (col_w - box_w) // 2
            if thumb is None:
                draw.rectangle((x, y, x + box_w - 1, y + box_h - 1), fill=EMPTY)
                continue
            sheet.paste(thumb, (x + (box_w - thumb.width) // 2, y + (box_h - thumb.height) // 2))
    return np.asarray(sheet)

