"""Fixtures for spatial/colour/sweep tests: real images from ../shared at small sizes."""

from __future__ import annotations

import pytest

from vidstyle import load_image
from vidstyle.engine import Settings, load_network, needed_layers, resolve
from vidstyle.optimize import OptimizerSettings
from vidstyle.vgg import resize_long_side


@pytest.fixture(scope="session")
def shipwreck(styles_dir):
    return resize_long_side(load_image(styles_dir / "shipwreck.jpg"), 128)


@pytest.fixture(scope="session")
def starry(styles_dir):
    return resize_long_side(load_image(styles_dir / "starry_night.jpg"), 128)


@pytest.fixture(scope="session")
def scream(styles_dir):
    return resize_long_side(load_image(styles_dir / "the_scream.jpg"), 128)


@pytest.fixture(scope="session")
def tiny(vgg_weights) -> Settings:
    """Resolved settings for short real-weight runs (shallow layers of the partial Caffe file)."""
    s, _ = resolve(Settings(size=96, model="caffe", weights=vgg_weights, scales="none", init="content",
                            optim=OptimizerSettings(iterations=30)))
    return s


@pytest.fixture(scope="session")
def net(tiny):
    return load_network(tiny, needed_layers(tiny))
