"""`vidstyle video` and `vidstyle evaluate` through the CLI: a tiny run, its log, and every bad input."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from vidstyle.cli import app
from vidstyle.video.decode import iter_frames

runner = CliRunner()


@pytest.fixture(scope="module")
def style(styles_dir) -> Path:
    return sorted(styles_dir.glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory, clipgen) -> Path:
    return clipgen.make_clip(tmp_path_factory.mktemp("cli") / "clip.mp4", frames=3, width=96, height=54)


def _fast(weights: Path) -> list[str]:
    return ["--size", "64", "--method", "dis", "--weights", str(weights), "--model", "caffe", "--first-iterations",
            "3", "--iterations", "2", "--min-iterations", "0", "--scales", "none", "--device", "cpu", "-q"]


def _one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    text = result.output.strip().splitlines()[-1]  # notes (e.g. shallow weights) may come before it
    assert text.startswith("error:") and "Traceback" not in result.output, result.output
    for w in words:
        assert w in text, text


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, small_clip, style, vgg_weights):
    out = tmp_path_factory.mktemp("run") / "out.mkv"
    log = out.with_name("run.json")
    res = runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(out), "--codec", "ffv1",
                              "--log", str(log), *_fast(vgg_weights)])
    return res, out, log


def test_video_command_writes_video_log_and_evaluate_agrees(cli_run, small_clip):
    res, out, log = cli_run
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "s/frame" in res.output and "flow cache" in res.output
    assert len(list(iter_frames(out))) == 3
    data = json.loads(log.read_text())
    assert data["frames"] == 3 and data["stylized"] == 3 and data["temporal"]["e_temp"] > 0
    assert len(data["frame_reports"]) == 3 and data["settings"]["settings"]["method"] == "dis"
    ev = runner.invoke(app, ["evaluate", str(out), "--source", str(small_clip), "--method", "dis", "--device", "cpu"])
    assert ev.exit_code == 0, ev.output
    e_temp = float(ev.stdout.split("E_temp")[1].split()[0])
    assert e_temp == pytest.approx(data["temporal"]["e_temp"], rel=1e-4)  # ffv1 is lossless: same frames
    assert "flash" in ev.stdout


def test_existing_output_and_changed_settings_are_refused(cli_run, small_clip, style, vgg_weights):
    _, out, _ = cli_run
    res = runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(out), "--codec", "ffv1",
                              *_fast(vgg_weights)])
    _one_line_error(res, "already exists", "-y")
    args = _fast(vgg_weights)
    args[args.index("--iterations") + 1] = "4"
    res = runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(out), "--codec", "ffv1", "-y", *args])
    _one_line_error(res, "other settings", "iterations (2 -> 4)", "--restart")


def test_default_output_name_beside_the_input(tmp_path, small_clip, style, vgg_weights):
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(small_clip.read_bytes())
    res = runner.invoke(app, ["video", str(clip), str(style), "--max-frames", "2", *_fast(vgg_weights)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / f"walk.{style.stem}.mp4").is_file()


def test_not_a_video_zero_frames_and_audio_only(tmp_path, clipgen, style):
    text = tmp_path / "notes.mp4"
    text.write_text("hello, not a video")
    _one_line_error(runner.invoke(app, ["video", str(text), str(style), "-q"]), "not a video")
    empty = tmp_path / "empty.mp4"  # a video stream with zero frames
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
    _one_line_error(runner.invoke(app, ["video", str(empty), str(style), "-q"]), "no video")
    tone = clipgen.write_tone(tmp_path / "tone.m4a", 0.5)
    _one_line_error(runner.invoke(app, ["video", str(tone), str(style), "-q"]), "audio only")


def test_bad_output_paths(tmp_path, small_clip, style):
    _one_line_error(runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(tmp_path / "o.xyz"), "-q"]),
                    "unsupported video extension")
    _one_line_error(runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(tmp_path / "no" / "o.mp4"),
                                        "-q"]), "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        _one_line_error(runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(locked / "o.mp4"), "-q"]),
                        "not writable")
    finally:
        locked.chmod(0o700)


def test_corrupt_part_way_stylizes_what_decodes(tmp_path, clipgen, style, vgg_weights):
    clip = clipgen.make_clip(tmp_path / "good.mp4", frames=20, width=96, height=64, audio=None,
                             options={"movflags": "+faststart"})
    data = clip.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "broken.out.mp4"
    res = runner.invoke(app, ["video", str(broken), str(style), "-o", str(out), *_fast(vgg_weights)])
    _one_line_error(res, "frames", str(out))
    n = len(list(iter_frames(out)))
    assert 1 <= n < 20 and f"stylized the {n} frames" in res.output
    assert len(list((tmp_path / "broken.out.mp4.work" / "pass1").glob("*.png"))) == n  # finished frames kept


def test_disk_full_is_a_clear_error_and_keeps_the_work_dir(tmp_path, small_clip, style, vgg_weights, monkeypatch):
    from PIL import Image

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    out = tmp_path / "o.mp4"
    res = runner.invoke(app, ["video", str(small_clip), str(style), "-o", str(out), *_fast(vgg_weights)])
    _one_line_error(res, "No space left on device")
    assert not out.exists() and (tmp_path / "o.mp4.work" / "manifest.json").is_file()


def test_start_duration_trims_video_and_audio(tmp_path, sample_clip, style, vgg_weights):
    """--start/--duration: the frames of that window, timed from 0, with the audio of that window."""
    out = tmp_path / "window.mp4"
    res = runner.invoke(app, ["video", str(sample_clip), str(style), "-o", str(out), "--start", "1.0",
                              "--duration", "0.5", *_fast(vgg_weights)])
    assert res.exit_code == 0, res.output
    frames = list(iter_frames(out))
    assert len(frames) == 5  # 10 fps x 0.5 s
    assert [round(f.time, 3) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4]
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        seconds = sum(float(p.duration * p.time_base) for p in container.demux(audio) if p.duration)
    assert 0.4 <= seconds <= 0.65, seconds  # the window's audio, not the whole 3 s tone


def test_preview_stylizes_the_first_frames_small_and_fast(tmp_path, clipgen, style, vgg_weights):
    clip = clipgen.make_clip(tmp_path / "walk.mp4", frames=4, width=96, height=54)
    res = runner.invoke(app, ["video", str(clip), str(style), "--preview", "2", "--size", "64",
                              "--method", "dis", "--weights", str(vgg_weights), "--model", "caffe",
                              "--scales", "none", "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    out = tmp_path / f"walk.{style.stem}.preview.mp4"  # the default name marks previews
    frames = list(iter_frames(out))
    assert len(frames) == 2 and frames[0].image.shape[:2] == (36, 64)


def test_ctrl_c_keeps_finished_frames_and_the_same_command_resumes(tmp_path, clipgen, style, vgg_weights):
    """A real SIGINT to a running `vidstyle video`: exit 130, no output, finished frames kept; the
    same command then finishes from there."""
    import signal
    import subprocess
    import sys
    import time

    clip = clipgen.make_clip(tmp_path / "long.mp4", frames=8, width=96, height=54)
    out = tmp_path / "long.out.mp4"
    work = tmp_path / "long.out.mp4.work"
    args = ["video", str(clip), str(style), "-o", str(out), "--work-dir", str(work),
            *_fast(vgg_weights)[:-1], "--iterations", "15"]
    cmd = [sys.executable, "-c", "import sys; from vidstyle.cli import main; sys.argv[0] = 'vidstyle'; main()", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(work.glob("pass1/*.png")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    kept = sorted(work.glob("pass1/*.png"))
    assert 1 <= len(kept) < 8 and not out.exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert len(list(iter_frames(out))) == 8
