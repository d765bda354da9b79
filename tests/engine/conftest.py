"""Fixtures the engine's CLI test files share (pytest finds them here; importing a fixture into
another test module would shadow it with the test's parameter of the same name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    content = tmp_path / "content.png"
    style = tmp_path / "style.png"
    yy, xx = np.mgrid[0:48, 0:64]
    Image.fromarray(np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(style)
    return {"content": content, "style": style, "dir": tmp_path}


@pytest.fixture()
def weights_args(vgg_weights: Path) -> list:
    return ["--model", "caffe", "--weights", vgg_weights]
