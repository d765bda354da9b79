"""`vidstyle video`/`evaluate`: validation before work, PNG-sequence outputs, failed starts that do not lock,
one run per work dir (an OS lock), stale partial outputs, what is left of the work dir."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tests.robust.helpers import assert_one_line_error
from vidstyle.cli import app
from vidstyle.video.decode import iter_frames
from vidstyle.video.outputs import remove_stale_partials
from vidstyle.video.workdir import WorkDir

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_crf_99_refused_before_any_frame(tmp_path, tiny_clip, style, fast):
    res = invoke("video", tiny_clip, style, "-o", tmp_path / "o.mp4", *fast, "--crf", "99")
    assert_one_line_error(res, "--crf must be between 0 and 51, got 99")
    assert list(tmp_path.iterdir()) == []  # no work dir: nothing was decoded or stylized


def test_png_sequence_outputs_and_the_work_dir_beside_them(tmp_path, tiny_clip, style, fast):
    res = invoke("video", tiny_clip, style, "-o", f"{tmp_path}/frames/", *fast, "--max-frames", "2")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000001.png", "000002.png"]
    assert (tmp_path / "frames.work").is_dir()
    res = invoke("video", tiny_clip, style, "-o", tmp_path / "pat" / "%05d.png", *fast, "--max-frames", "2",
                 "--no-keep-work")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "pat").iterdir()) == ["00001.png", "00002.png"]
    assert "removed work dir" in res.output and not (tmp_path / "pat.work").exists()
    # the same frames either way (the work dir's frames, losslessly)
    a = np.asarray(Image.open(tmp_path / "frames" / "000002.png"))
    b = np.asarray(Image.open(tmp_path / "pat" / "00002.png"))
    assert a.shape == (36, 64, 3) and np.array_equal(a, b)
    res = invoke("video", tiny_clip, style, "-o", tmp_path / "pat" / "%05d.png", "--work-dir",
                 tmp_path / "pat" / "w", *fast, "-y")
    assert_one_line_error(res, "inside the output folder")


def test_wrong_aspect_mask_refused_before_any_work_then_a_fitting_one_runs(tmp_path, tiny_clip, style, fast):
    wrong = tmp_path / "tall.png"
    Image.new("L", (20, 80), 255).save(wrong)
    fitting = tmp_path / "wide.png"
    Image.new("L", (96, 54), 255).save(fitting)
    out = tmp_path / "o.mkv"
    res = invoke("video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast, "--max-frames", "2", "--mask", wrong)
    assert_one_line_error(res, "aspect", "tall.png")
    assert not (tmp_path / "o.mkv.work").exists()  # refused before the work dir
    res = invoke("video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast, "--max-frames", "2", "--mask", fitting)
    assert res.exit_code == 0, res.output
    assert "o.mkv.work" in res.output and "kept" in res.output and "MiB" in res.output
    assert len(list(iter_frames(out))) == 2
    # once a frame is finished the settings are locked, as before
    res = invoke("video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast, "--max-frames", "2", "-y")
    assert_one_line_error(res, "other settings", "--restart")


def test_run_stopped_before_its_first_frame_does_not_lock_its_settings(tmp_path, tiny_clip, style, fast):
    # What a run killed during frame 0 leaves (tests/robust/test_faults.py checks a real SIGKILL does):
    # a manifest of its settings, no finished frame.
    work = WorkDir.open(tmp_path / "o.mkv.work", {"settings": "of the stopped run"})
    work.lock.release()
    del work
    res = invoke("video", tiny_clip, style, "-o", tmp_path / "o.mkv", "--codec", "ffv1", *fast, "--max-frames", "2")
    assert res.exit_code == 0, res.output
    assert "holds no finished frame" in res.output
    assert len(list(iter_frames(tmp_path / "o.mkv"))) == 2


_HOLDER = r"""
import fcntl, os, sys, time
fh = open(sys.argv[1], "a+")
fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
fh.seek(0); fh.truncate(); fh.write(f"pid {os.getpid()}, started now"); fh.flush()
print("locked", flush=True)
time.sleep(120)
"""


def test_second_run_on_a_work_dir_is_refused_naming_the_first(tmp_path, tiny_clip, style, fast):
    work = tmp_path / "o.mkv.work"
    work.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(work / "lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        res = invoke("video", tiny_clip, style, "-o", tmp_path / "o.mkv", "--codec", "ffv1", *fast,
                     "--max-frames", "2")
        assert_one_line_error(res, "in use by another vidstyle run", f"pid {holder.pid}")
        assert time.monotonic() - t0 < 60  # refused at once, not after stylizing
    finally:
        holder.kill()  # a crash: the OS drops the lock
        holder.wait()
    res = invoke("video", tiny_clip, style, "-o", tmp_path / "o.mkv", "--codec", "ffv1", *fast, "--max-frames", "2")
    assert res.exit_code == 0, res.output


def test_stale_partial_outputs_are_removed_but_live_ones_kept(tmp_path):
    out = tmp_path / "o.mkv"
    stale = tmp_path / ".o.abc.partial.mkv"
    stale.write_bytes(b"half a video")
    live = tmp_path / ".o.def.partial.mkv"
    live.write_bytes(b"being written")
    stale_dir = tmp_path / ".frames.xyz.partial"
    stale_dir.mkdir()
    (stale_dir / "000001.png").write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert remove_stale_partials(out) == [stale]
        assert live.exists() and not stale.exists()
        assert remove_stale_partials(f"{tmp_path}/frames/") == [stale_dir] and not stale_dir.exists()
    finally:
        holder.kill()
        holder.wait()
    assert remove_stale_partials(out) == [live]


def test_evaluate_refuses_a_source_that_does_not_fit(tmp_path, clipgen, tiny_clip, style, fast):
    out = tmp_path / "o.mkv"
    res = invoke("video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast, "--max-frames", "3")
    assert res.exit_code == 0, res.output
    square = clipgen.make_clip(tmp_path / "square.mp4", frames=3, width=64, height=64, audio=None)
    res = invoke("evaluate", out, "--source", square, "--method", "dis", "--device", "cpu")
    assert_one_line_error(res, "aspect ratio", "square.mp4")
    short = clipgen.make_clip(tmp_path / "short.mp4", frames=2, width=96, height=54, audio=None)
    res = invoke("evaluate", out, "--source", short, "--method", "dis", "--device", "cpu")
    assert_one_line_error(res, "more frames than the source", "short.mp4")
    res = invoke("evaluate", out, "--source", tiny_clip, "--method", "dis", "--device", "cpu")
    assert res.exit_code == 0 and "E_temp" in res.output, res.output
