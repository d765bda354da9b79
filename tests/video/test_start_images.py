"""The start images of later frames, on tiny tensors with a known flow; expected pixels worked out by hand.

A backward flow of (+1, 0) reads each pixel from its right-hand neighbour: w(y, x) = prev(y, x + 1);
the last column samples outside the frame (where ``--init prev-warped-all`` takes the content).
"""

from __future__ import annotations

import torch

from vidstyle.video.flowworker import Neighbour
from vidstyle.video.pipeline import VideoSettings, _Run, multipass_start, warped_start

PREV = torch.tensor([[0.1, 0.2, 0.3],
                     [0.4, 0.5, 0.6]])
MASK = torch.tensor([[1.0, 0.5, 0.0],
                     [1.0, 1.0, 0.0]])


def rgb(plane: torch.Tensor) -> torch.Tensor:
    return plane.expand(1, 3, *plane.shape).clone()


def flow(dx: float, dy: float) -> torch.Tensor:
    f = torch.zeros(1, 2, 2, 3)
    f[:, 0], f[:, 1] = dx, dy
    return f


def test_prev_warped_all_takes_the_warped_result_inside_the_frame_and_the_content_outside():
    content = torch.full((1, 3, 2, 3), 0.9)
    out = warped_start(content, rgb(PREV), flow(1, 0))
    # Ruder et al. 2016: the warped result wherever the flow samples inside the previous frame,
    # unreliable or not (MASK plays no part); the last column samples outside: the content's 0.9
    expected = torch.tensor([[0.2, 0.3, 0.9],
                             [0.5, 0.6, 0.9]])
    torch.testing.assert_close(out, rgb(expected), atol=1e-6, rtol=0)


def test_prev_warped_takes_the_warped_result_where_reliable_and_the_content_elsewhere():
    content = torch.full((1, 3, 2, 3), 0.9)
    out = warped_start(content, rgb(PREV), flow(1, 0), MASK.view(1, 1, 2, 3))
    # c * w + (1 - c) * content, w = [[0.2, 0.3, 0], [0.5, 0.6, 0]]:
    # (0,1): 0.5 * 0.3 + 0.5 * 0.9 = 0.6; the last column (c = 0) is the content's 0.9
    expected = torch.tensor([[0.2, 0.6, 0.9],
                             [0.5, 0.6, 0.9]])
    torch.testing.assert_close(out, rgb(expected), atol=1e-6, rtol=0)


def test_prev_warped_all_reads_rows_below_for_a_downward_flow():
    content = torch.full((1, 3, 2, 3), 0.9)
    out = warped_start(content, rgb(PREV), flow(0, 1))
    # w(y, x) = prev(y + 1, x): the top row is prev's bottom row, the bottom row falls outside (content)
    expected = torch.tensor([[0.4, 0.5, 0.6],
                             [0.9, 0.9, 0.9]])
    torch.testing.assert_close(out, rgb(expected), atol=1e-6, rtol=0)


def test_multipass_blends_the_previous_pass_with_the_warped_neighbour():
    before = torch.full((1, 3, 2, 3), 0.4)
    out = multipass_start(before, rgb(PREV), flow(1, 0), MASK.view(1, 1, 2, 3), blend=0.5)
    # c = 0.5 * mask = [[0.5, 0.25, 0], [0.5, 0.5, 0]]; c * w + (1 - c) * 0.4:
    # (0,0) 0.5*0.2 + 0.5*0.4 = 0.3   (0,1) 0.25*0.3 + 0.75*0.4 = 0.375   (0,2) 0.4
    # (1,0) 0.5*0.5 + 0.5*0.4 = 0.45  (1,1) 0.5*0.6 + 0.5*0.4 = 0.5       (1,2) 0.4
    expected = torch.tensor([[0.3, 0.375, 0.4],
                             [0.45, 0.5, 0.4]])
    torch.testing.assert_close(out, rgb(expected), atol=1e-6, rtol=0)


def test_the_run_uses_these_rules_for_each_init_mode():
    run = object.__new__(_Run)  # only the fields _init_next reads
    run.device = None
    content = torch.full((1, 3, 2, 3), 0.9)
    nb = Neighbour(distance=1, index=0, flow=flow(1, 0), mask=MASK.view(1, 1, 2, 3), hits=0)
    run.s = VideoSettings()  # the default
    assert run.s.init == "prev-warped-all"
    torch.testing.assert_close(run._init_next(content, rgb(PREV), nb), warped_start(content, rgb(PREV), nb.flow))
    run.s = VideoSettings(init="prev-warped")
    torch.testing.assert_close(run._init_next(content, rgb(PREV), nb),
                               warped_start(content, rgb(PREV), nb.flow, nb.mask))
    assert not torch.equal(warped_start(content, rgb(PREV), nb.flow), warped_start(content, rgb(PREV), nb.flow, nb.mask))
    run.s = VideoSettings(init="prev")
    assert torch.equal(run._init_next(content, rgb(PREV), nb), rgb(PREV))
    run.s = VideoSettings(init="content")
    assert torch.equal(run._init_next(content, rgb(PREV), nb), content)
