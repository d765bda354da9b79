"""Fixtures of the robustness tests (issue 12): the CLI as a real subprocess, a tiny clip, fast settings.

Mirrors tests/video/conftest.py (the sample-clip generator) and test_video_cli.py (fast settings on the
real partial Caffe weights of ../shared)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.robust.helpers import ROOT


@pytest.fixture(scope="session")
def clipgen():
    spec = importlib.util.spec_from_file_location("vidstyle_samples_make_clip", ROOT / "samples" / "make_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory, clipgen) -> Path:
    """4 frames, 96x54, no audio: a few seconds per full `vidstyle video` run."""
    return clipgen.make_clip(tmp_path_factory.mktemp("robust") / "clip.mp4", frames=4, width=96, height=54,
                             audio=None)


@pytest.fixture(scope="session")
def style(styles_dir) -> Path:
    return sorted(styles_dir.glob("*.jpg"))[0]


@pytest.fixture(scope="session")
def fast(vgg_weights) -> list[str]:
    """Settings of a tiny, deterministic video run (fp32: the same frames in every process)."""
    return ["--size", "64", "--method", "dis", "--weights", str(vgg_weights), "--model", "caffe",
            "--first-iterations", "20", "--iterations", "3", "--min-iterations", "0", "--scales", "none",
            "--device", "cpu", "--precision", "fp32", "-q"]
