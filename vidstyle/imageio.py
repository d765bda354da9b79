"""Reading and writing still images as ``(1, 3, H, W)`` float32 RGB tensors in [0, 1].

Inputs in any mode Pillow reads are converted, never rejected: greyscale,
palette, RGBA (composited on white), 16-bit, CMYK, and EXIF-rotated files.
Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vidstyle.atomic import atomic_file
from vidstyle.errors import VidstyleError


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """HxWx3 float32 in [0, 1] from any Pillow mode."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        # 16-bit files land in "I;16"/"I"; scale by the container's range, not the data's.
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if img.mode == "F" and arr.max(initial=0) <= 1.0:
            peak = 1.0
        arr = np.clip(arr / peak, 0.0, 1.0)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def load_image(path: str | os.PathLike, *, what: str = "image") -> torch.Tensor:
    """Load ``path`` as a ``(1, 3, H, W)`` float32 RGB tensor in [0, 1] (EXIF orientation applied)."""
    path = Path(path)
    if not path.exists():
        raise VidstyleError(f"{what} {path}: no such file")
    if path.is_dir():
        raise VidstyleError(f"{what} {path} is a folder, not an image")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb_array(img)
    except UnidentifiedImageError:
        raise VidstyleError(f"{what} {path} is not an image Pillow can read") from None
    except PermissionError:
        raise VidstyleError(f"{what} {path} is not readable (permission denied)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise VidstyleError(f"{what} {path} could not be decoded: {exc}") from None
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] -> HxWx3 uint8."""
    if img.dim() == 4:
        img = img[0]
    arr = img.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(arr)


def from_uint8(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).float().div(255)


def save_image(img: torch.Tensor | np.ndarray, path: str | os.PathLike) -> Path:
    """Write atomically; the format follows the extension (png, jpg, webp, tif...)."""
    path = Path(path)
    arr = img if isinstance(img, np.ndarray) else to_uint8(img)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise VidstyleError(f"{path}: unknown image extension {path.suffix!r} (use .png or .jpg)")
    with atomic_file(path, "wb") as fh:
        Image.fromarray(arr).save(fh, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path

