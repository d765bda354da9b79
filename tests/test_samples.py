"""The bundled sample images are what samples/make_images.py draws (nobody edited them by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _generator():
    spec = importlib.util.spec_from_file_location("make_images", SAMPLES / "make_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(_generator().SAMPLES))
def test_sample_matches_its_generator(name):
    drawn = np.asarray(_generator().SAMPLES[name]().convert("RGB"))
    stored = np.asarray(Image.open(SAMPLES / name).convert("RGB"))
    assert drawn.shape == stored.shape
    assert np.array_equal(drawn, stored)
    assert drawn.std() > 10  # a picture, not a flat colour
