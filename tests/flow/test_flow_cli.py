"""`vidstyle flow` through typer's CliRunner on a few frames of the real Sintel clip
at a small size: outputs, cache hits on the second run, and bad input -> one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from typer.testing import CliRunner

from flow import read_flo
from vidstyle.cli import app

runner = CliRunner()
FAST = ["--method", "dis", "--preset", "ultrafast", "--size", "96", "--device", "cpu"]


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_user_error(result, *fragments: str) -> str:
    text = result.output
    assert result.exit_code == 2, (result.exit_code, text, result.exception)
    assert "Traceback" not in text
    error_lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1, text
    for frag in fragments:
        assert frag in error_lines[0], (frag, error_lines[0])
    return error_lines[0]


def test_flow_outputs_and_second_run_all_hits(sintel_video, tmp_path):
    cache = tmp_path / "cache"
    vis, flo, masks = tmp_path / "flow.mp4", tmp_path / "flo", tmp_path / "masks"
    r = invoke("flow", sintel_video, *FAST, "--max-frames", 4, "--cache-dir", cache, "--visualize", vis,
               "--save-flo", flo, "--masks", masks)
    assert r.exit_code == 0, r.output
    assert "3 pairs at 96x40" in r.output and "0/3 pairs all hits" in r.output and "9 written" in r.output
    names = sorted(p.name for p in flo.iterdir())
    assert names == ["backward_00001.flo", "backward_00002.flo", "backward_00003.flo",
                     "forward_00000.flo", "forward_00001.flo", "forward_00002.flo"]
    f = cv2.readOpticalFlow(str(flo / "forward_00000.flo"))
    assert f.shape == (40, 96, 2) and np.array_equal(f, read_flo(flo / "forward_00000.flo"))
    assert np.abs(f).max() > 0.1  # the camera moves in this clip
    m = cv2.imread(str(masks / "reliable_00003.png"), cv2.IMREAD_UNCHANGED)
    assert m.shape == (40, 96) and m.dtype == np.uint8 and m.max() == 255 and (m > 127).mean() > 0.5
    with av.open(str(vis)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
    assert not list(tmp_path.glob(".*part*"))
    again = invoke("flow", sintel_video, *FAST, "--max-frames", 4, "--cache-dir", cache)
    assert again.exit_code == 0, again.output
    assert "3/3 pairs all hits" in again.output and "9 entries read, 0 written" in again.output
    # outputs are never overwritten without -y
    assert_user_error(invoke("flow", sintel_video, *FAST, "--max-frames", 2, "--cache-dir", cache,
                             "--visualize", vis), "already exists")
    assert_user_error(invoke("flow", sintel_video, *FAST, "--max-frames", 2, "--cache-dir", cache,
                             "--save-flo", flo), "not empty")
    ok = invoke("flow", sintel_video, *FAST, "--max-frames", 2, "--cache-dir", cache, "--masks", masks, "-y")
    assert ok.exit_code == 0 and "1/1 pairs all hits" in ok.output


def test_spynet_random_weights_and_unwritable_default_cache(sintel_video, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    r = invoke("flow", sintel_video, "--method", "spynet", "--flow-weights", "random", "--size", "64",
               "--max-frames", 2, "--device", "cpu", env={"XDG_CACHE_HOME": str(blocker)})
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "running without a flow cache" in r.output and "no cache" in r.output


def _one_frame_video(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for packet in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
            c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def test_bad_inputs(sintel_video, tmp_path):
    cache = ["--cache-dir", tmp_path / "c"]
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    assert_user_error(invoke("flow", text, *FAST, *cache), "not a video")
    assert_user_error(invoke("flow", tmp_path / "missing.mp4", *FAST, *cache), "no such file")
    assert_user_error(invoke("flow", _one_frame_video(tmp_path / "one.mp4"), *FAST, *cache), "at least 2")
    assert_user_error(invoke("flow", sintel_video, "--method", "farneback", *cache), "--method 'farneback'")
    assert_user_error(invoke("flow", sintel_video, *FAST, "--max-frames", 1, *cache), "--max-frames")
    assert_user_error(invoke("flow", sintel_video, "--method", "deepflow", "--preset", "fast", *cache), "--preset")
    assert_user_error(invoke("flow", sintel_video, "--method", "spynet", "--flow-weights", tmp_path / "none.pth",
                             "--device", "cpu", *cache), "no such file")
    assert_user_error(invoke("flow", sintel_video, "--method", "dis", "--flow-weights", "x", *cache), "--flow-weights")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_user_error(invoke("flow", sintel_video, *FAST, "--cache-dir", blocker / "sub"), "not writable")


def test_help_states_licence_and_deepflow_limit():
    r = invoke("flow", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "NON-COMMERCIAL" in text and "DeepMatching" in text
