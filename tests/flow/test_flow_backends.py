"""Backends on synthetic scenes with exact ground truth (made by tests/flow/conftest.py):
end-point error on non-occluded pixels, and the reliability mask on a moving square
(disocclusion recovered, visible pixels kept). Thresholds were measured on this
machine (OpenCV 5.0.0) and are written beside each bound."""

from __future__ import annotations

import pytest
import torch

from flow import BACKENDS, FlowError, consistency_parts, get_backend, reliability_mask

# (backend, params) -> {scene: bound in px}; measured EPE in the comments.
EPE_BOUNDS = {
    ("deepflow", ()): {"translation": 0.15,    # measured 0.045
                       "rotation_zoom": 0.15,  # measured 0.057
                       "square": 1.3},         # measured 0.87 (8 px square motion: no DeepMatching)
    ("dis", (("preset", "medium"),)): {"translation": 0.1,     # measured 0.021
                                       "rotation_zoom": 0.25,  # measured 0.127
                                       "square": 0.4},         # measured 0.188
    ("dis", (("preset", "fine"),)): {"translation": 0.1,     # measured 0.039
                                     "rotation_zoom": 0.15,  # measured 0.053
                                     "square": 0.15},        # measured 0.055
    ("dis", (("preset", "fast"),)): {"translation": 0.3,      # measured 0.148
                                     "rotation_zoom": 0.8,    # measured 0.426
                                     "square": 1.0},          # measured 0.593
    ("dis", (("preset", "ultrafast"),)): {"translation": 0.3,    # measured 0.159
                                          "rotation_zoom": 1.0,  # measured 0.613
                                          "square": 1.3},        # measured 0.812
}


@pytest.mark.parametrize("method,params", list(EPE_BOUNDS), ids=lambda v: v if isinstance(v, str) else "-".join(p[1] for p in v) or "default")
def test_epe_on_synthetic_scenes(method, params, synth, epe_fn):
    backend = get_backend(method, **dict(params))
    for scene, bound in EPE_BOUNDS[(method, params)].items():
        s = synth[scene]
        flow = backend.estimate(s["img0"], s["img1"])
        assert flow.shape == s["fw"].shape and flow.dtype == torch.float32
        err = epe_fn(flow, s["fw"], s["valid0"])
        assert err < bound, f"{method}{dict(params)} on {scene}: EPE {err:.3f} px >= {bound}"
    # the requirement on the translation case
    assert epe_fn(backend.estimate(synth["translation"]["img0"], synth["translation"]["img1"]),
                  synth["translation"]["fw"], synth["translation"]["valid0"]) < 0.5


def _mask_scores(bw, fw, s):
    mask = reliability_mask(bw, fw)[0, 0].numpy()
    disocc = consistency_parts(bw, fw).disoccluded[0, 0].numpy()
    truth = s["disoccluded1"]
    iou = (disocc & truth).sum() / (disocc | truth).sum()
    recall = (mask[truth] < 0.5).mean()  # truly disoccluded pixels marked unreliable
    kept = (mask[s["visible1"]] >= 0.5).mean()  # truly visible pixels marked reliable
    return iou, recall, kept


def test_mask_on_ground_truth_flows_recovers_the_disocclusion(synth):
    s = synth["square"]
    assert s["disoccluded1"].sum() > 300  # the square leaves an L-shaped band behind (422 px)
    iou, recall, kept = _mask_scores(s["bw"], s["fw"], s)
    assert iou >= 0.6  # measured 1.0
    assert recall >= 0.95  # measured 1.0
    assert kept >= 0.95  # measured 0.979 (the rest are motion-boundary pixels at the square's edges)


def test_mask_on_estimated_flows(synth):
    """With DIS (medium) flows the disocclusion test finds the band but also fires where the
    forward flow of frame t-1 is itself wrong (the square's occluded leading edge) and the motion
    test fires on noisy flow gradients: measured IoU 0.32, recall 0.98, visible kept 0.905."""
    s = synth["square"]
    dis = get_backend("dis", preset="medium")
    fw = dis.estimate(s["img0"], s["img1"])
    bw = dis.estimate(s["img1"], s["img0"])
    iou, recall, kept = _mask_scores(bw, fw, s)
    assert iou >= 0.25
    assert recall >= 0.9
    assert kept >= 0.85


def test_batched_pairs_match_single_pairs(synth):
    s = synth["translation"]
    a = torch.cat([s["img0"], s["img1"]])
    b = torch.cat([s["img1"], s["img0"]])
    for backend in (get_backend("dis", preset="fast"), get_backend("spynet", weights="random")):
        both = backend.estimate(a, b)
        assert both.shape == (2, 2, 96, 96)
        one = backend.estimate(s["img1"], s["img0"])
        assert torch.allclose(both[1:], one, atol=1e-5)


def test_backend_metadata_and_errors():
    assert set(BACKENDS) >= {"deepflow", "dis", "spynet"}
    dis = get_backend("dis", preset="fast")
    assert dis.name == "dis" and dis.params["preset"] == "fast" and "opencv" in dis.versions
    assert get_backend("dis", preset="medium").params != dis.params
    assert "Apache" in dis.licence
    assert "non-commercial" in get_backend("spynet", weights="random").licence
    with pytest.raises(FlowError, match="unknown flow method 'farneback'"):
        get_backend("farneback")
    with pytest.raises(FlowError, match="preset"):
        get_backend("dis", preset="slow")
    with pytest.raises(FlowError, match="no parameter 'preset'"):
        get_backend("deepflow", preset="fast")
    with pytest.raises(FlowError, match="sizes must match"):
        dis.estimate(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 18))
    with pytest.raises(FlowError, match=r"\(N,3,H,W\)"):
        dis.estimate(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))


def test_raft_random_weights_leave_the_global_random_stream_alone():
    pytest.importorskip("torchvision.models.optical_flow")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = get_backend("raft", weights="random", seed=4)
    assert torch.equal(torch.rand(3), expected)  # building the net drew nothing from the caller's stream
    b = get_backend("raft", weights="random", seed=4)
    for (name, p), q in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert torch.equal(p, q), name  # the same seed, the same net
    assert a.params["seed"] == 4
