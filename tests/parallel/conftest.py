"""Fixtures of the parallel tests: the sample-clip generator of the video I/O tests (samples/make_clip.py)."""

from tests.video.conftest import clipgen  # noqa: F401  (a fixture, reused: one clip generator in the project)
