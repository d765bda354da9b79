"""Middlebury `.flo` files (interchangeable with OpenCV's reader/writer) and the
colour-wheel visualisation (to arrays, PNG and video)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from flow import FlowError, FlowVideoWriter, flo_to_tensor, flow_to_color, read_flo, save_flow_png, write_flo

DATA = Path(__file__).parent / "data"


def _flow(h=7, w=9, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((h, w, 2)) * 5).astype(np.float32)


def test_flo_round_trip_with_opencv(tmp_path):
    f = _flow()
    ours = tmp_path / "ours.flo"
    write_flo(ours, f)
    assert ours.stat().st_size == 12 + 7 * 9 * 8
    assert ours.read_bytes()[:4] == b"PIEH"
    assert np.array_equal(cv2.readOpticalFlow(str(ours)), f)  # OpenCV reads ours
    theirs = tmp_path / "theirs.flo"
    assert cv2.writeOpticalFlow(str(theirs), f)
    assert theirs.read_bytes() == ours.read_bytes()  # byte-identical files
    assert np.array_equal(read_flo(theirs), f)  # we read OpenCV's
    mm = read_flo(theirs, mmap=True)
    assert isinstance(mm, np.memmap) and np.array_equal(mm, f)
    t = flo_to_tensor(mm)
    assert t.shape == (1, 2, 7, 9) and torch.equal(t[0, 0], torch.from_numpy(f[..., 0]))
    # tensors in the package convention are written as (H, W, 2) u, v
    write_flo(tmp_path / "t.flo", t)
    assert (tmp_path / "t.flo").read_bytes() == ours.read_bytes()


def test_flo_bad_files(tmp_path):
    f = _flow()
    good = tmp_path / "good.flo"
    write_flo(good, f)
    wrong_tag = tmp_path / "tag.flo"
    wrong_tag.write_bytes(b"PIEX" + good.read_bytes()[4:])
    with pytest.raises(FlowError, match="not a .flo file"):
        read_flo(wrong_tag)
    truncated = tmp_path / "cut.flo"
    truncated.write_bytes(good.read_bytes()[:-9])
    with pytest.raises(FlowError, match="truncated"):
        read_flo(truncated)
    tiny = tmp_path / "tiny.flo"
    tiny.write_bytes(b"PIE")
    with pytest.raises(FlowError, match="not a .flo file"):
        read_flo(tiny)
    with pytest.raises(FlowError, match="cannot read"):
        read_flo(tmp_path / "missing.flo")
    with pytest.raises(FlowError, match=r"\(H,W,2\)"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 3), np.float32))


def _wheel_field() -> np.ndarray:
    """16x16 flow: direction by angle around the centre, magnitude growing outward to 1.2 x max."""
    ys, xs = np.mgrid[0:16, 0:16].astype(np.float64)
    u, v = (xs - 7.5) / 7.5, (ys - 7.5) / 7.5
    return np.stack([u, v], -1).astype(np.float32) * 3.0


def test_colour_wheel_key_colours():
    f = np.zeros((1, 5, 2), np.float32)
    f[0, 1] = (2, 0)   # right, full scale
    f[0, 2] = (0, -2)  # up
    f[0, 3] = (-2, 0)  # left
    f[0, 4] = (0, 1)   # down, half scale
    c = flow_to_color(f, max_flow=2).astype(int)
    assert c[0, 0].tolist() == [255, 255, 255]  # no motion: white
    assert c[0, 1].tolist() == [255, 0, 0]  # right: red (atan2(-0, -1) = -pi: first wheel entry)
    assert c[0, 2, 2] == 255 and c[0, 2, 1] == 0 and 70 < c[0, 2, 0] < 110  # up: blue-violet
    assert c[0, 3, 0] == 0 and c[0, 3, 2] == 255 and 180 < c[0, 3, 1] < 230  # left: cyan-blue
    assert c[0, 4, 0] == 255 and c[0, 4, 2] == 127 and c[0, 4, 1] > 230  # down: yellow, half saturated
    beyond = flow_to_color(np.array([[[4, 0]]], np.float32), max_flow=2)
    assert beyond[0, 0].tolist() == [191, 0, 0]  # beyond max_flow: darkened by 0.75
    nan = flow_to_color(np.array([[[np.nan, 0]]], np.float32))
    assert nan[0, 0].tolist() == [0, 0, 0]  # unknown flow: black


def test_visualisation_matches_stored_image(tmp_path):
    f = _wheel_field()
    expected = cv2.imread(str(DATA / "wheel16.png"))[..., ::-1]  # generated once by save_flow_png, checked by eye
    rgb = flow_to_color(f, max_flow=3.0)
    assert np.array_equal(rgb, expected)
    assert np.array_equal(flow_to_color(torch.from_numpy(f).permute(2, 0, 1)[None], max_flow=3.0), expected)
    out = save_flow_png(tmp_path / "w.png", f, max_flow=3.0)
    assert np.array_equal(cv2.imread(str(out))[..., ::-1], expected)


def test_flow_video(tmp_path):
    path = tmp_path / "flow.mp4"
    with FlowVideoWriter(path, fps=5, max_flow=3.0) as wr:
        for k in range(3):
            wr.write(np.roll(_wheel_field(), k, axis=1)[:15])  # 16x15: odd height padded to even
    with av.open(str(path)) as c:
        frames = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (16, 16, 3)
    ref = flow_to_color(_wheel_field()[:15], max_flow=3.0).astype(float)
    assert np.abs(frames[0][:15].astype(float) - ref).mean() < 12  # lossy codec; measured 3.5
