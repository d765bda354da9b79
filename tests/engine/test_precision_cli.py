"""--precision through the CLI: every engine command takes it, refusals are one line with exit 2,
and the precision used is in the summary line and the JSON log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.engine.test_engine_cli import FAST, assert_user_error, invoke
from vidstyle import precision

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def cache_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("command", ["image", "reconstruct", "texture", "sweep", "video"])
def test_every_engine_command_takes_precision_and_refuses_fp16_on_cpu(command, images, weights_args, tmp_path):
    out = tmp_path / "o.png"
    args = {
        "image": ["image", images["content"], images["style"], "-o", out],
        "reconstruct": ["reconstruct", images["content"], "-o", out],
        "texture": ["texture", images["style"], "-o", out, "--size", "64"],
        "sweep": ["sweep", "--over", "seeds", images["content"], images["style"], "-o", tmp_path / "sweep"],
        "video": ["video", ROOT / "samples" / "clip.mp4", images["style"], "-o", tmp_path / "o.mkv",
                  "--max-frames", "2"],
    }[command]
    rest = [a for a in FAST if command != "texture" or a not in ("--size", "64")] if command != "video" else \
        ["--size", "64", "--device", "cpu", "-q"]
    res = invoke(*args, *rest, *weights_args, "--precision", "fp16")
    assert_user_error(res, "--precision fp16", "CUDA")
    res = invoke(*args, *rest, *weights_args, "--precision", "fp8")
    assert_user_error(res, "--precision 'fp8'")
    assert not out.exists() and not (tmp_path / "o.mkv").exists()


def test_bf16_is_in_the_summary_and_the_log(images, weights_args, cache_home):
    if not precision.native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no AVX512-BF16/AMX")
    out, log = images["dir"] / "out.png", images["dir"] / "run.json"
    res = invoke("image", images["content"], images["style"], "-o", out, "--log", log, *FAST, *weights_args,
                 "--precision", "bf16")
    assert res.exit_code == 0, res.output
    assert "bf16" in res.output
    assert json.loads(log.read_text())["settings"]["precision"] == "bf16"
    assert not (cache_home / "vidstyle" / "precision.json").exists()  # explicit: nothing measured


def test_auto_decision_is_cached_under_xdg_cache_home(images, weights_args, cache_home):
    out, log = images["dir"] / "out.png", images["dir"] / "run.json"
    res = invoke("image", images["content"], images["style"], "-o", out, "--log", log, *FAST, *weights_args)
    assert res.exit_code == 0, res.output
    used = json.loads(log.read_text())["settings"]["precision"]
    assert used in ("fp32", "bf16") and used in res.output
    cache = cache_home / "vidstyle" / "precision.json"
    if precision.native_bf16(torch.device("cpu")):  # measured once, then read back
        machines = json.loads(cache.read_text())["machines"]
        assert [m["precision"] for m in machines.values()] == [used]
        res = invoke("image", images["content"], images["style"], "-o", out, "-y", *FAST, *weights_args)
        assert res.exit_code == 0, res.output
    else:  # nothing to measure on a CPU without bf16
        assert not cache.exists() and used == "fp32"
