"""Per-frame masks for video: a still mask repeats, a mask video gives one mask per frame."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.controls import frame_controls
from vidstyle.errors import VidstyleError
from vidstyle.masks import iter_masks


@pytest.fixture(scope="module")
def mask_video(tmp_path_factory):
    """3 frames, 64x32: the white part widens from 16 to 48 columns."""
    path = tmp_path_factory.mktemp("masks") / "mask.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.options = {"qscale": "1"}
        for cols in (16, 32, 48):
            arr = np.zeros((32, 64, 3), np.uint8)
            arr[:, :cols] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_mask_video_gives_one_mask_per_frame(mask_video):
    masks = list(iter_masks(mask_video, hw=(64, 128), frames=3))
    assert len(masks) == 3 and all(m.shape == (1, 1, 64, 128) for m in masks)
    coverage = [float(m.mean()) for m in masks]
    assert coverage == sorted(coverage) and abs(coverage[0] - 0.25) < 0.05 and abs(coverage[2] - 0.75) < 0.05
    with pytest.raises(VidstyleError, match="has 3 frames but the content has 5"):
        list(iter_masks(mask_video, frames=5))


def test_still_mask_repeats_and_controls_follow_new_masks(tmp_path, mask_video):
    arr = np.zeros((32, 64), np.uint8)
    arr[:, :32] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    masks = list(iter_masks(tmp_path / "m.png", frames=4))
    assert len(masks) == 4 and all(torch.equal(m, masks[0]) for m in masks)
    content, style = torch.rand(1, 3, 32, 64), torch.rand(1, 3, 16, 16)
    controls = frame_controls(content, [style], mask=masks[0])
    video_masks = list(iter_masks(mask_video, frames=3))
    later = controls.with_masks([video_masks[2]])
    assert later.regions[0].styles[0] is controls.regions[0].styles[0]  # same tensors: cached targets hit
    assert abs(float(later.regions[0].mask.mean()) - 0.75) < 0.05
