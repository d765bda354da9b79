"""Every common image flavour is accepted and converted, not rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.imageio import load_image, save_image, to_uint8


def gradient(h=12, w=16) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)


def test_rgb_round_trip(tmp_path):
    arr = gradient()
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.shape == (1, 3, 12, 16) and img.dtype == torch.float32
    assert np.array_equal(to_uint8(img), arr)
    save_image(img, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), arr)


def test_greyscale_palette_rgba(tmp_path):
    arr = gradient()
    Image.fromarray(arr).convert("L").save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == (1, 3, 12, 16) and torch.equal(g[:, 0], g[:, 1])
    Image.fromarray(arr).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (1, 3, 12, 16)
    rgba = np.dstack([arr, np.full(arr.shape[:2], 0, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    t = load_image(tmp_path / "t.png")
    assert torch.allclose(t, torch.ones_like(t))  # fully transparent -> the white background


def test_sixteen_bit_png_keeps_its_range(tmp_path):
    arr16 = (np.linspace(0, 65535, 12 * 16).reshape(12, 16)).astype(np.uint16)
    Image.fromarray(arr16).save(tmp_path / "d.png")
    img = load_image(tmp_path / "d.png")
    assert img.shape == (1, 3, 12, 16)
    assert img.min() == 0 and abs(float(img.max()) - 1.0) < 1e-6
    assert abs(float(img[0, 0, 6, 8]) - arr16[6, 8] / 65535) < 1e-6


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(gradient()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    img = load_image(tmp_path / "c.jpg")
    ref = torch.from_numpy(gradient()).permute(2, 0, 1).float() / 255
    assert img.shape == (1, 3, 12, 16) and (img[0] - ref).abs().mean() < 0.05


def test_exif_rotation_is_applied(tmp_path):
    arr = gradient(12, 16)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "r.jpg")
    assert img.shape == (1, 3, 16, 12)


@pytest.mark.parametrize("orientation, corner", [(6, (0, -1)), (8, (-1, 0)), (3, (-1, -1))])
def test_exif_rotation_turns_the_right_way(tmp_path, orientation, corner):
    # A red block at the stored image's top-left corner. Displayed, orientation 6 (rotate 90 CW) puts it
    # top-right, 8 (90 CCW) bottom-left, 3 (180) bottom-right; the shape alone cannot tell 6 from 8.
    arr = np.zeros((12, 16, 3), np.uint8)
    arr[:4, :4] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(tmp_path / "r.png", exif=exif)
    img = load_image(tmp_path / "r.png")
    assert img.shape == ((1, 3, 16, 12) if orientation in (6, 8) else (1, 3, 12, 16))
    red = img[0, 0] - img[0, 1]  # red minus green: 1 in the block, 0 elsewhere
    y, x = corner
    assert float(red[y, x]) == 1.0
    assert float(red.sum()) == 16.0  # the block, moved whole


def test_bad_files(tmp_path):
    with pytest.raises(VidstyleError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(VidstyleError, match="not an image"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(VidstyleError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(VidstyleError, match="extension"):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "x.unknownext")


def test_saved_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the finished file gets 0666 minus the umask."""
    import os

    from vidstyle.imageio import save_image

    umask = os.umask(0o022)
    try:
        out = save_image(torch.zeros(1, 3, 4, 4), tmp_path / "x.png")
    finally:
        os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o644
