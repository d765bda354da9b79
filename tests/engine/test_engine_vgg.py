"""Layer naming, truncation, input conventions and weight loading (no downloads)."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import LayerError, WeightsError
from vidstyle.vgg import LAYER_NAMES, LAYERS, InputConvention, VGGFeatures, downsampling, layer_index, min_size
from vidstyle.weights import WeightsSpec, build_features, covered_layers, load_state_dict


def random_state(last_conv_index: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    """A VGG-19-shaped state dict with random weights up to features.<last_conv_index>."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, kind, c_in, c_out in LAYERS[: last_conv_index + 1]:
        if kind == "conv":
            idx = layer_index(name)
            state[f"features.{idx}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.1
            state[f"features.{idx}.bias"] = torch.randn(c_out, generator=gen) * 0.01
    return state


def test_layer_names_follow_the_vgg_paper():
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert len(LAYER_NAMES) == 37  # torchvision's vgg19().features has 37 modules
    assert LAYER_NAMES[-1] == "pool5"
    assert layer_index("conv4_2") == 21  # the content layer of Gatys et al.
    assert layer_index("relu5_1") == 29
    assert downsampling("relu3_1") == 2 and downsampling("pool3") == 3
    assert min_size(["relu1_1"]) == 2 and min_size(["relu5_1"]) == 32


def test_unknown_layer_names_are_rejected_with_the_name():
    with pytest.raises(LayerError, match="conv6_1"):
        layer_index("conv6_1")


def test_network_is_truncated_after_the_deepest_requested_layer():
    net = VGGFeatures(random_state(), model="caffe", last_layer="relu2_1")
    assert net.names == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1")
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.training
    feats = net(torch.rand(1, 3, 16, 20), ["conv1_1", "relu1_1", "relu2_1"])
    assert feats["conv1_1"].shape == (1, 64, 16, 20)
    assert feats["relu2_1"].shape == (1, 128, 8, 10)
    # conv output and its ReLU can both be asked for: the ReLU is not in place
    assert (feats["conv1_1"] < 0).any() and torch.equal(feats["relu1_1"], feats["conv1_1"].clamp_min(0))
    with pytest.raises(LayerError, match="relu3_1"):
        net(torch.rand(1, 3, 16, 16), ["relu3_1"])


def test_pooling_choice_changes_the_features():
    state = random_state()
    x = torch.rand(1, 3, 16, 16)
    mx = VGGFeatures(state, model="caffe", last_layer="pool1", pooling="max")(x, ["pool1"])["pool1"]
    av = VGGFeatures(state, model="caffe", last_layer="pool1", pooling="avg")(x, ["pool1"])["pool1"]
    assert mx.shape == av.shape == (1, 64, 8, 8)
    assert (mx >= av - 1e-6).all() and not torch.allclose(mx, av)


def test_input_conventions():
    x = torch.rand(1, 3, 4, 4)
    caffe = InputConvention("caffe")(x)
    # Caffe: BGR, 0..255, minus the mean pixel (103.939, 116.779, 123.68)
    assert torch.allclose(caffe[:, 0], x[:, 2] * 255 - 103.939, atol=1e-4)
    assert torch.allclose(caffe[:, 2], x[:, 0] * 255 - 123.68, atol=1e-4)
    tv = InputConvention("torchvision")(x)
    assert torch.allclose(tv[:, 0], (x[:, 0] - 0.485) / 0.229, atol=1e-5)


def test_device_and_dtype_follow_the_caller(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(random_state(7), path)
    net = build_features(WeightsSpec("caffe", path), ["relu2_1"], dtype=torch.float64)
    assert next(net.parameters()).dtype == torch.float64
    out = net(torch.rand(1, 3, 8, 8, dtype=torch.float64), ["relu2_1"])["relu2_1"]
    assert out.dtype == torch.float64


def test_local_file_is_loaded_exactly_and_key_spellings_accepted(tmp_path):
    state = random_state(7)
    bare = {k.removeprefix("features."): v for k, v in state.items()}
    prefixed = {"module." + k: v for k, v in state.items()}
    for i, variant in enumerate((state, bare, prefixed, {"state_dict": state})):
        path = tmp_path / f"w{i}.pth"
        torch.save(variant, path)
        net = build_features(WeightsSpec("caffe", path), ["conv2_1"])
        assert torch.equal(net.layers[5].weight, state["features.5.weight"])


def test_partial_weights_error_names_layer_file_and_deepest(tmp_path, vgg_weights):
    with pytest.raises(LayerError) as err:
        build_features(WeightsSpec("caffe", vgg_weights), ["relu1_1", "conv4_1"])
    msg = str(err.value)
    assert "conv4_1" in msg and str(vgg_weights) in msg and "pool3" in msg
    net = build_features(WeightsSpec("caffe", vgg_weights), ["relu3_4"])
    assert net.names[-1] == "relu3_4"


def test_shapes_that_do_not_fit_vgg19_are_rejected(tmp_path):
    state = random_state(7)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"features\.5 \(conv2_1\).*\(128, 32, 3, 3\)"):
        covered_layers(load_state_dict(path), origin=str(path))
    with pytest.raises(WeightsError):
        build_features(WeightsSpec("caffe", path), ["relu2_1"])


def test_files_that_are_not_weights(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch state dict"):
        load_state_dict(junk)
    torch.save({"classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "cls.pth")
    with pytest.raises(WeightsError, match="no VGG feature weights"):
        load_state_dict(tmp_path / "cls.pth")
