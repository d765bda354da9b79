"""``vidstyle image`` spatial/colour options and ``vidstyle sweep`` from the command line:
outputs, warnings (exit 0) and bad input (one line, exit code 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vidstyle.cli import app
from vidstyle.color import rgb_to_yuv
from vidstyle.imageio import load_image, save_image

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, shipwreck, starry):
    d = tmp_path_factory.mktemp("inputs")
    save_image(shipwreck, d / "content.png")  # 128x88
    save_image(starry, d / "style.png")

    def mask(name, size, fill):
        arr = np.zeros((size[1], size[0]), np.uint8)
        if fill == "half":
            arr[:, : size[0] // 2] = 255
        elif fill == "white":
            arr[:] = 255
        Image.fromarray(arr).save(d / name)
        return d / name

    return {"dir": d, "content": d / "content.png", "style": d / "style.png",
            "half": mask("half.png", (128, 88), "half"), "half_big": mask("half_big.png", (256, 176), "half"),
            "square": mask("square.png", (100, 100), "half"), "black": mask("black.png", (128, 88), "black"),
            "white": mask("white.png", (128, 88), "white")}


@pytest.fixture
def engine(vgg_weights):
    return ["--model", "caffe", "--weights", str(vgg_weights), "--size", "64", "--iterations", "3",
            "--scales", "none", "-q"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_image_with_mask_of_same_aspect_is_resized_with_a_warning(files, engine, tmp_path):
    out = tmp_path / "o.png"
    r = run("image", files["content"], files["style"], "-o", out, "--mask", files["half_big"], *engine)
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "resized the mask" in r.output
    assert load_image(out).shape[-2:] == (44, 64)


@pytest.mark.parametrize("which,needle,mode", [("black", "all black", "blend"), ("white", "all white", "blend"),
                                               ("black", "all black", "guided")])
def test_degenerate_masks_warn_but_run(files, engine, tmp_path, which, needle, mode):
    r = run("image", files["content"], files["style"], "-o", tmp_path / "o.png", "--mask", files[which],
            "--mask-mode", mode, *engine)
    assert r.exit_code == 0, r.output
    assert needle in r.output


@pytest.mark.parametrize("colors", ["original", "luminance"])
def test_colors_original_keeps_the_contents_chroma(files, engine, tmp_path, colors):
    out = tmp_path / "o.png"
    r = run("image", files["content"], files["style"], "-o", out, "--colors", colors, "--init", "noise",
            *engine)
    assert r.exit_code == 0, r.output
    img = load_image(out)
    content = load_image(files["content"])
    content = __import__("torch").nn.functional.interpolate(content, size=img.shape[-2:], mode="bilinear",
                                                            antialias=True)
    uv_err = (rgb_to_yuv(img)[:, 1:] - rgb_to_yuv(content)[:, 1:]).abs()
    # from noise after 3 iterations the image is far from the content, yet the chroma is the
    # content's up to uint8 rounding and clipping: measured mean 0.0008 (0.073 without --colors original)
    assert float(uv_err.mean()) < 0.005


@pytest.mark.parametrize("method", ["pca", "chol", "sym"])
def test_colors_match_runs(files, engine, tmp_path, method):
    r = run("image", files["content"], files["style"], "-o", tmp_path / "o.png", "--colors", "match",
            "--match", method, "--log", tmp_path / "log.json", *engine)
    assert r.exit_code == 0, r.output
    log = json.loads((tmp_path / "log.json").read_text())
    assert (log["colors"], log["match"]) == ("match", method)


def test_regions_from_style_specs(files, engine, tmp_path):
    out = tmp_path / "o.png"
    r = run("image", files["content"], "-o", out, "--style", f"{files['style']}:{files['half']}",
            "--style", f"{files['content']}:{files['black']}", *engine)
    assert r.exit_code == 0, r.output
    assert "all black" in r.output and out.exists()


@pytest.mark.parametrize("args,needles", [
    (["--mask", "{square}"], ["100x100", "aspect ratios differ"]),
    (["--mask", "{dir}/nope.png"], ["--mask", "no such file"]),
    (["--style", "{style}:{dir}/nope.png"], ["mask file", "nope.png", "not found"]),
    (["--colors", "sepia"], ["--colors 'sepia'"]),
    (["--match", "lab", "--colors", "match"], ["--match 'lab'"]),
    (["--mask", "{half}", "--mask-mode", "paint"], ["--mask-mode 'paint'"]),
    (["--mask", "{half}", "--guide", "edge"], ["--guide 'edge'"]),
])
def test_image_bad_spatial_input(files, engine, tmp_path, args, needles):
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    one_line_error(run("image", files["content"], files["style"], "-o", tmp_path / "o.png", *args, *engine),
                   *needles)


def test_image_two_regions_in_blend_mode_is_refused(files, engine, tmp_path):
    one_line_error(run("image", files["content"], "-o", tmp_path / "o.png", "--mask-mode", "blend",
                       "--style", f"{files['style']}:{files['half']}", "--style", f"{files['style']}:{files['white']}",
                       *engine), "--mask-mode guided")


def test_sweep_writes_sheet_json_and_markdown_and_refuses_to_overwrite(files, engine, tmp_path):
    out = tmp_path / "sweep"
    args = ("sweep", "--over", "iterations", files["content"], files["style"], "-o", out, "--values", "2,3",
            *engine)
    r = run(*args)
    assert r.exit_code == 0, r.output
    data = json.loads((out / "results.json").read_text())
    assert [run_["column"] for run_ in data["runs"]] == ["2 iterations", "3 iterations"]
    assert all((out / run_["file"]).exists() for run_ in data["runs"])
    md = (out / "results.md").read_text().strip().splitlines()
    assert sum(line.startswith("| content |") for line in md) == 2
    assert Image.open(out / "sheet.png").size[0] > 2 * 64
    one_line_error(run(*args), "already exists", "-y")
    assert run(*args, "-y").exit_code == 0


@pytest.mark.parametrize("args,needles", [
    (["--over", "layers", "{content}", "{style}"], ["--over 'layers'", "content-layers"]),
    (["--over", "style-weight", "{content}", "{style}", "--values", ""], ["--values: empty list"]),
    (["--over", "seeds", "{content}", "{style}", "--values", " , "], ["--values: empty list"]),
    (["--over", "grid", "{content}"], ["--style"]),
    (["--over", "style-weight", "{content}"], ["style images: empty list"]),
    (["--over", "content-layers"], ["content images: empty list"]),
    (["--over", "init", "{content}", "{style}", "--values", "noise,{dir}/nope.png"], ["nope.png"]),
])
def test_sweep_bad_input(files, engine, tmp_path, args, needles):
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    one_line_error(run("sweep", *args, "-o", tmp_path / "s", *engine), *needles)
    assert not (tmp_path / "s").exists()  # nothing written
