"""Shared fixtures: paths into ../shared (real weights and data), skipped with a
reason only when ../shared is absent (a user's fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VGG_PARTIAL = SHARED / "weights" / "vgg19-caffe-conv1_1-conv3_4.pth"
SINTEL = SHARED / "data" / "sintel-50f.mp4"
STYLES = SHARED / "data" / "styles"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared is absent (real-data tests run only beside it)")
    return path


@pytest.fixture(scope="session")
def vgg_weights() -> Path:
    """Real partial Caffe VGG-19 weights (conv1_1..conv3_4)."""
    return _need(VGG_PARTIAL)


@pytest.fixture(scope="session")
def sintel_video() -> Path:
    """A real 50-frame MPEG-4 clip, 1024x436, 10 fps, no audio."""
    return _need(SINTEL)


@pytest.fixture(scope="session")
def styles_dir() -> Path:
    return _need(STYLES)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests run torch on one thread: with two threads on two cores shared with anything else,
    OpenMP barriers made small forward/backward passes up to 15x slower on the build machine;
    one thread keeps the suite's time predictable. (The CLI keeps torch's default.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
