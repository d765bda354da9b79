"""Full-depth, real-weight end-to-end runs of every mode with the defaults a user gets:
no --model, no --weights, an empty torch hub dir (nothing may be downloaded), style
relu1_1..relu5_1 and content relu4_2 from the bundled original VGG-19.

They need no ../shared (samples/ ships the inputs), so they never skip. Results are
judged by an evaluator written here from scratch (torchvision's VGG-19 module with
the dequantized file, Caffe preprocessing, Gram matrices), not by the engine's losses.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import vgg19
from typer.testing import CliRunner

from vidstyle.cli import app
from vidstyle.weights import bundled_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
runner = CliRunner()

# Positions of the ReLUs in torchvision's vgg19().features.
RELU = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu4_2": 22, "relu5_1": 29}
STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def evaluator():
    raw = torch.load(bundled_path(), map_location="cpu", weights_only=True)
    net = vgg19().features[:30].eval()
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    names = [f"block{b}_conv{i}" for b, n in enumerate((2, 2, 4, 4, 4), 1) for i in range(1, n + 1)]
    with torch.no_grad():
        for conv, name in zip(convs, names):
            conv.weight.copy_(raw[f"{name}_W_table"][raw[f"{name}_W_q"].long()])
            conv.bias.copy_(raw[f"{name}_b"])

    def features(img: torch.Tensor) -> dict[str, torch.Tensor]:
        x = img[:, [2, 1, 0]] * 255 - MEAN_BGR
        out = {}
        with torch.no_grad():
            for i, layer in enumerate(net):
                x = layer(x)
                for k, v in RELU.items():
                    if v == i:
                        out[k] = x.clone()
        return out

    def gram(f: torch.Tensor) -> torch.Tensor:
        c = f.shape[1]
        m = f.reshape(c, -1)
        return m @ m.T / m.numel()

    def style_loss(img: torch.Tensor, style: torch.Tensor) -> float:
        a, b = features(img), features(style)
        return sum(float(((gram(a[k]) - gram(b[k])) ** 2).mean()) for k in STYLE) / len(STYLE)

    def content_dist(img: torch.Tensor, content: torch.Tensor) -> float:
        return float(((features(img)["relu4_2"] - features(content)["relu4_2"]) ** 2).mean())

    return style_loss, content_dist


def as_tensor(path_or_img, size: tuple[int, int] | None = None, *, long_side: int | None = None) -> torch.Tensor:
    """RGB [0, 1] tensor of an image, resized to ``size`` (W, H) or to ``long_side`` keeping its aspect."""
    img = Image.open(path_or_img).convert("RGB") if isinstance(path_or_img, (str, Path)) else path_or_img
    if long_side is not None:
        k = long_side / max(img.size)
        size = (max(1, round(img.width * k)), max(1, round(img.height * k)))
    if size is not None and img.size != size:
        img = img.resize(size, Image.LANCZOS)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]


@pytest.fixture()
def offline_hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub dir: any attempt to use a download source would have to download."""
    hub = tmp_path / "hub"
    monkeypatch.setenv("TORCH_HOME", str(hub))
    monkeypatch.delenv("VIDSTYLE_WEIGHTS", raising=False)
    monkeypatch.delenv("VIDSTYLE_MODEL", raising=False)
    return hub


def run(*args) -> None:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output


def test_image_defaults_on_a_real_frame(tmp_path, offline_hub, evaluator, sintel_video, styles_dir):
    """The issue's bar, on a real picture (a Sintel frame) and a painting, every setting default but
    the size: style loss >= 8x lower than the content image's, content >= 2x closer than noise."""
    style_loss, content_dist = evaluator
    with av.open(str(sintel_video)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 25).to_image()
    content_path, style_path = tmp_path / "frame.png", styles_dir / "the_scream.jpg"
    frame.save(content_path)
    out, log = tmp_path / "out.png", tmp_path / "run.json"
    run("image", content_path, style_path, "-o", out, "--size", 192, "--device", "cpu", "--log", log, "-q")
    assert not any(offline_hub.rglob("*.pth")) if offline_hub.exists() else True  # nothing downloaded
    settings = json.loads(log.read_text())["settings"]
    assert settings["model"] == "original" and settings["weights"] is None
    assert settings["content_layers"] == ["relu4_2"] and settings["style_layers"] == list(STYLE)
    result = as_tensor(out)
    hw = (result.shape[-1], result.shape[-2])
    content, style = as_tensor(content_path, hw), as_tensor(style_path, long_side=max(hw))
    noise = torch.rand(1, 3, hw[1], hw[0], generator=torch.Generator().manual_seed(0))
    assert style_loss(result, style) * 8 <= style_loss(content, style), (style_loss(result, style),
                                                                        style_loss(content, style))
    assert content_dist(result, content) * 2 <= content_dist(noise, content), (content_dist(result, content),
                                                                              content_dist(noise, content))


def test_image_defaults_on_the_samples(tmp_path, offline_hub, evaluator):
    """No ../shared needed: the bundled network, default layers and weights, on the sample pictures.
    (Their flat colours have so little relu4_2 energy that a fully stylized result is as far from them
    as noise is; the content check compares with the other sample picture instead.)"""
    style_loss, content_dist = evaluator
    content_path, style_path = SAMPLES / "content-landscape.png", SAMPLES / "style-swirls.png"
    out, log = tmp_path / "out.png", tmp_path / "run.json"
    run("image", content_path, style_path, "-o", out, "--size", 128, "--iterations", 200, "--device", "cpu",
        "--log", log, "-q")
    assert not any(offline_hub.rglob("*.pth")) if offline_hub.exists() else True
    settings = json.loads(log.read_text())["settings"]
    assert settings["model"] == "original" and settings["style_layers"] == list(STYLE)
    result = as_tensor(out)
    hw = (result.shape[-1], result.shape[-2])
    content, style = as_tensor(content_path, hw), as_tensor(style_path, long_side=max(hw))
    other = as_tensor(SAMPLES / "content-still-life.png", hw)
    assert style_loss(result, style) * 8 <= style_loss(content, style)
    assert content_dist(result, content) < content_dist(result, other)


def test_texture_defaults_at_full_depth(tmp_path, offline_hub, evaluator):
    style_loss, _ = evaluator
    style_path, out = SAMPLES / "style-mosaic.png", tmp_path / "tex.png"
    run("texture", style_path, "-o", out, "--size", "96x96", "--iterations", 150, "--device", "cpu", "-q")
    result = as_tensor(out)
    style = as_tensor(style_path, long_side=96)
    noise = 0.5 + 0.1 * torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    assert style_loss(result, style) * 20 <= style_loss(noise.clamp(0, 1), style)


def test_reconstruct_defaults_at_full_depth(tmp_path, offline_hub, evaluator):
    """conv4_2 reconstruction from noise keeps the layout (content distance far below noise's)."""
    _, content_dist = evaluator
    content_path, out = SAMPLES / "content-still-life.png", tmp_path / "rec.png"
    run("reconstruct", content_path, "-o", out, "--size", 96, "--iterations", 150, "--device", "cpu", "-q")
    result = as_tensor(out)
    content = as_tensor(content_path, (result.shape[-1], result.shape[-2]))
    noise = 0.5 + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))
    assert content_dist(result, content) * 5 <= content_dist(noise.clamp(0, 1), content)
    # and the colours come back roughly (a feature-only objective, so loosely)
    assert float((result - content).abs().mean()) < float((noise.clamp(0, 1) - content).abs().mean())


def test_video_defaults_at_full_depth(tmp_path, offline_hub):
    """The sample clip, default weights and layers: every frame, the source's timing and its audio."""
    out, log = tmp_path / "clip.mp4", tmp_path / "video.json"
    run("video", SAMPLES / "clip.mp4", SAMPLES / "style-swirls.png", "-o", out, "--size", 96, "--max-frames", 4,
        "--first-iterations", 40, "--iterations", 15, "--method", "dis", "--device", "cpu", "--log", log, "-q")
    data = json.loads(log.read_text())
    engine = data["settings"]["settings"]["engine"]  # the work dir identity: video settings + resolved engine
    assert engine["model"] == "original" and engine["style_layers"] == list(STYLE)
    assert engine["content_layers"] == ["relu4_2"]
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert len(c.streams.audio) == 1
        frames = [f for f in c.decode(v)]
        assert len(frames) == 4 and float(v.average_rate) == pytest.approx(10, rel=0.01)
