"""Fixtures for the video I/O tests: the sample-clip generator (samples/make_clip.py) and small clips made with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def clipgen():
    """The module samples/make_clip.py (render_frame, make_clip, write_tone, vfr_times)."""
    spec = importlib.util.spec_from_file_location("vidstyle_samples_make_clip", ROOT / "samples" / "make_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    """The committed sample clip (320x180, 30 frames at 10 fps, AAC tone)."""
    path = ROOT / "samples" / "clip.mp4"
    if not path.exists():
        pytest.skip("samples/clip.mp4 missing: run python samples/make_clip.py")
    return path


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")
