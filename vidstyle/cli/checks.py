"""The one validator of every command's numbers and output paths, run before any heavy import.

:func:`check_numbers` takes a command's parameters (``locals()``) and checks each number
against :data:`RULES`, keyed by parameter name, so a rule is written once and holds in every
command that has the option; a float without a rule must still be finite (NaN and inf are
never a sensible setting). :func:`check_extension` checks an output path's extension before
any work, so a run never ends with "could not determine output format".

Pure Python (no torch, OpenCV or PyAV): a refused command line answers in well under a second.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from vidstyle.errors import VidstyleError


@dataclass(frozen=True)
class Rule:
    """``low < value`` (or ``<=`` when ``low_closed``) and ``value <= high``; None means unbounded."""

    low: float | None = None
    low_closed: bool = True
    high: float | None = None

    def ok(self, v: float) -> bool:
        if self.low is not None and (v < self.low if self.low_closed else v <= self.low):
            return False
        return self.high is None or v <= self.high

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {_num(self.low)} and {_num(self.high)}"
        if self.low is not None:
            return f"{'>=' if self.low_closed else '>'} {_num(self.low)}"
        if self.high is not None:
            return f"<= {_num(self.high)}"
        return "a finite number"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


POSITIVE = Rule(0, low_closed=False)
NON_NEGATIVE = Rule(0)
FRACTION = Rule(0, high=1)

# Parameter name -> rule (the option is --name with dashes). Where a command needs another bound for
# the same name, it passes its own rule (see ``overrides``).
RULES: dict[str, Rule] = {
    "size": POSITIVE, "iterations": POSITIVE, "first_iterations": POSITIVE, "min_iterations": NON_NEGATIVE,
    "tol": NON_NEGATIVE, "lr": POSITIVE, "style_scale": POSITIVE, "content_weight": NON_NEGATIVE,
    "style_weight": NON_NEGATIVE, "tv_weight": NON_NEGATIVE, "temporal_weight": NON_NEGATIVE,
    "passes": Rule(1), "shot_threshold": FRACTION, "start": NON_NEGATIVE, "duration": POSITIVE,
    "max_frames": POSITIVE, "preview": POSITIVE, "crf": Rule(0, high=51), "cell": Rule(16),
    "seed": Rule(-(2**63), high=2**63 - 1),  # what torch's generators take
}

# Long sides the decoders and encoders handle (FFmpeg's scaler and x264 stop at 16384 px a side).
MAX_VIDEO_SIDE = 16384


def option_name(param: str) -> str:
    return "--" + param.replace("_", "-")


def check_numbers(values: dict, *, overrides: dict[str, Rule] | None = None) -> None:
    """Refuse the first number in ``values`` (a command's parameters) that is NaN, inf or out of range."""
    rules = RULES | (overrides or {})
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise VidstyleError(f"{option_name(name)} must be a finite number, got {value}")
        rule = rules.get(name)
        if rule is not None and not rule.ok(value):
            raise VidstyleError(f"{option_name(name)} must be {rule.text()}, got {_num(value)}")


def image_extension_ok(suffix: str) -> bool:
    """True when Pillow can write images with this extension."""
    from PIL import Image  # Pillow is light (no torch); its plugin table names the writable formats

    fmt = Image.registered_extensions().get(suffix.lower())
    return fmt is not None and fmt in Image.SAVE


def check_extension(path: str | os.PathLike | None, option: str, allowed: tuple[str, ...] | str) -> None:
    """Refuse ``path`` unless its extension is one of ``allowed`` (``"image"``: any Pillow can write)."""
    if path is None:
        return
    suffix = Path(path).suffix.lower()
    if allowed == "image":
        if not image_extension_ok(suffix):
            raise VidstyleError(f"{option} {path}: unknown image extension {suffix or '(none)'!r} (use .png or .jpg)")
        return
    if suffix not in allowed:
        raise VidstyleError(f"{option} {path}: unsupported extension {suffix or '(none)'!r} "
                            f"(use {', '.join(allowed)})")


VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv")
_FILE_LIKE = (".png", ".jpg", ".jpeg", ".flo", ".json", ".txt", ".webp", ".tif", ".tiff") + VIDEO_EXTENSIONS


def check_folder_option(path: str | os.PathLike | None, option: str) -> None:
    """An option that names a folder: refuse an existing file, or a new name that reads like a file."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise VidstyleError(f"{option} {p} is a file, not a folder")
    if not p.exists() and p.suffix.lower() in _FILE_LIKE:
        raise VidstyleError(f"{option} {p}: expected a folder (the files go inside it), not a {p.suffix} file")


def check_video_size(size: int | None, option: str = "--size") -> None:
    """Frames larger than FFmpeg's scaler and encoders handle are refused as a size, not blamed on the input."""
    if size is not None and size > MAX_VIDEO_SIDE:
        raise VidstyleError(f"{option} {size}: larger than video frames can be ({MAX_VIDEO_SIDE} px a side at most)")


def check_input_file(path: str | os.PathLike, what: str) -> None:
    """An input that must be an existing, readable file (checked before any heavy import)."""
    p = Path(path)
    if not p.exists():
        raise VidstyleError(f"{what} {p}: no such file")
    if p.is_dir():
        raise VidstyleError(f"{what} {p} is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise VidstyleError(f"{what} {p} is not readable (permission denied)")
