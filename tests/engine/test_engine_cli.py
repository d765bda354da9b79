"""`vidstyle image | reconstruct | texture` through typer's CliRunner: the happy
paths with real weights, and every bad input -> one line, exit code 2, no traceback."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from vidstyle import weights as weights_mod
from vidstyle.cli import app
from vidstyle.weights import WeightSource

runner = CliRunner()
FAST = ["--size", "64", "--iterations", "4", "--scales", "none", "--device", "cpu", "-q"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 2, a one-line message naming what went wrong, no traceback."""
    text = result.output
    assert result.exit_code == 2, (result.exit_code, text, result.exception)
    assert "Traceback" not in text
    assert not isinstance(result.exception, (AssertionError, TypeError, AttributeError, KeyError))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    error_lines = [ln for ln in lines if ln.startswith("error:")]
    assert len(error_lines) == 1, text
    for frag in fragments:
        assert frag in error_lines[0], (frag, error_lines[0])
    return error_lines[0]


# The ``images`` and ``weights_args`` fixtures are in tests/engine/conftest.py (test_precision_cli uses them too).


# ---------------------------------------------------------------- happy paths


def test_image_writes_output_log_and_summary(images, weights_args):
    out, log = images["dir"] / "out.png", images["dir"] / "run.json"
    res = invoke("image", images["content"], images["style"], "-o", out, "--log", log, *FAST, *weights_args)
    assert res.exit_code == 0, res.output
    assert Image.open(out).size == (64, 48)
    assert "iterations" in res.output and "wrote" in res.output
    payload = json.loads(log.read_text())
    assert payload["iterations"] == len(payload["history"]) >= 1
    assert payload["settings"]["style_layers"] == ["relu1_1", "relu2_1", "relu3_1"]  # shallow set: weights stop early
    assert {"content", "style", "tv"} <= set(payload["history"][0]["terms"])


def test_reconstruct_with_diff_and_texture(images, weights_args):
    out = images["dir"] / "rec.png"
    res = invoke("reconstruct", images["content"], "-o", out, "--layers", "relu2_1", "--diff", *FAST, *weights_args)
    assert res.exit_code == 0, res.output
    assert out.exists() and (images["dir"] / "rec.diff.png").exists()
    tex = images["dir"] / "tex.png"
    res = invoke("texture", images["style"], "-o", tex, "--layers", "relu1_1,relu2_1", *FAST[2:], "--size", "72x40",
                 *weights_args)
    assert res.exit_code == 0, res.output
    assert Image.open(tex).size == (72, 40)


def test_same_seed_same_output(images, weights_args):
    a, b = images["dir"] / "a.png", images["dir"] / "b.png"
    for out in (a, b):
        res = invoke("texture", images["style"], "-o", out, "--layers", "relu1_1", "--size", "48",
                     "--iterations", "3", "--scales", "none", "--device", "cpu", "-q", "--seed", "7", *weights_args)
        assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


@pytest.mark.parametrize("kind", ["grey", "rgba", "palette", "png16", "cmyk", "exif"])
def test_odd_formats_are_accepted(images, weights_args, kind):
    path = images["dir"] / f"odd-{kind}.{'jpg' if kind in ('cmyk', 'exif') else 'png'}"
    rgb = Image.open(images["content"])
    if kind == "grey":
        rgb.convert("L").save(path)
    elif kind == "rgba":
        rgb.convert("RGBA").save(path)
    elif kind == "palette":
        rgb.convert("P").save(path)
    elif kind == "png16":
        Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).save(path)
    elif kind == "cmyk":
        rgb.convert("CMYK").save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees on display
        rgb.save(path, exif=exif)
    out = images["dir"] / f"out-{kind}.png"
    res = invoke("image", path, images["style"], "-o", out, *FAST, "--iterations", "1", *weights_args)
    assert res.exit_code == 0, res.output
    w, h = Image.open(out).size
    assert (w, h) == ((48, 64) if kind == "exif" else (64, 48))


# ---------------------------------------------------------------- bad input


def test_missing_file(images, weights_args):
    res = invoke("image", images["dir"] / "nope.png", images["style"], "-o", images["dir"] / "o.png", *FAST,
                 *weights_args)
    assert_user_error(res, "nope.png")


def test_folder_and_not_an_image(images, weights_args):
    res = invoke("texture", images["dir"], "-o", images["dir"] / "o.png", *FAST, *weights_args)
    assert_user_error(res, str(images["dir"]))
    text = images["dir"] / "notes.png"
    text.write_text("this is not a picture")
    res = invoke("image", images["content"], text, "-o", images["dir"] / "o.png", *FAST, *weights_args)
    assert_user_error(res, "notes.png")


def test_unreadable_file(images, weights_args):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of permissions")
    images["content"].chmod(0)
    res = invoke("image", images["content"], images["style"], "-o", images["dir"] / "o.png", *FAST, *weights_args)
    assert_user_error(res, "content.png")


def test_unknown_layer(images, weights_args):
    res = invoke("image", images["content"], images["style"], "-o", images["dir"] / "o.png",
                 "--style-layers", "relu1_1,relu9_9", *FAST, *weights_args)
    assert_user_error(res, "relu9_9")


def test_layer_deeper_than_the_partial_file(images, weights_args, vgg_weights):
    res = invoke("reconstruct", images["content"], "-o", images["dir"] / "o.png", "--layers", "conv4_2", *FAST,
                 *weights_args)
    assert_user_error(res, "conv4_2", vgg_weights.name, "conv3_4")


def test_weights_whose_shapes_do_not_fit(images, tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3), "features.0.bias": torch.zeros(64)}, bad)
    res = invoke("texture", images["style"], "-o", tmp_path / "o.png", "--layers", "relu1_1", *FAST,
                 "--model", "caffe", "--weights", bad)
    assert_user_error(res, "bad.pth")


@pytest.mark.parametrize("flag", ["--iterations", "--size"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_numbers(images, weights_args, flag, value):
    args = [a for a in FAST]
    i = args.index(flag)
    args[i + 1] = value
    res = invoke("image", images["content"], images["style"], "-o", images["dir"] / "o.png", *args, *weights_args)
    assert_user_error(res, flag)


def test_size_too_small_names_the_minimum(images, weights_args):
    res = invoke("image", images["content"], images["style"], "-o", images["dir"] / "o.png", *FAST, "--size", "2",
                 *weights_args)
    # relu3_2 needs a short side of 8 px; the 64x48 content then needs a long side of 11
    assert_user_error(res, "relu3_2", ">= 8 px", "--size >= 11")


def test_output_exists_without_y(images, weights_args):
    out = images["dir"] / "exists.png"
    out.write_bytes(b"keep me")
    res = invoke("image", images["content"], images["style"], "-o", out, *FAST, *weights_args)
    assert_user_error(res, "exists.png", "-y")
    assert out.read_bytes() == b"keep me"
    res = invoke("image", images["content"], images["style"], "-o", out, *FAST, *weights_args, "-y")
    assert res.exit_code == 0, res.output
    assert out.read_bytes() != b"keep me"


def test_non_finite_loss_keeps_last_finite_image(images, weights_args):
    out = images["dir"] / "nan.png"
    res = invoke("image", images["content"], images["style"], "-o", out, *FAST, "--style-weight", "1e38",
                 *weights_args)
    assert_user_error(res, "finite", "nan.png")
    img = np.asarray(Image.open(out))
    assert img.shape == (48, 64, 3)


def test_offline_download_error_names_file_cache_and_option(images, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on: the download fails like offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = WeightSource(name="torchvision", convention="torchvision", origin="download", description="test",
                        licence="test", url=f"http://127.0.0.1:{port}/vgg19-dcbb9e9d.pth",
                        filename="vgg19-dcbb9e9d.pth")
    monkeypatch.setattr(weights_mod, "torchvision_source", lambda: fake)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv("VIDSTYLE_WEIGHTS", raising=False)
    res = invoke("texture", images["style"], "-o", tmp_path / "o.png", "--layers", "relu1_1", "--model", "torchvision",
                 *FAST)
    assert_user_error(res, "vgg19-dcbb9e9d.pth", str(tmp_path / "hub"), "--weights")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--optimizer", "sgd"], "--optimizer"),
    (["--init", "nowhere.png"], "--init"),
    (["--scales", "banana"], "--scales"),
    (["--gram-norm", "abc"], "abc"),
    (["--pooling", "median"], "median"),
    (["--model", "resnet"], "resnet"),
    (["--style-blend", "0.5,0.5"], "--style-blend"),
    (["--device", "tpu"], "tpu"),
])
def test_bad_options(images, weights_args, args, fragment):
    res = invoke("image", images["content"], images["style"], "-o", images["dir"] / "o.png", *FAST, *weights_args,
                 *args)
    assert_user_error(res, fragment)
