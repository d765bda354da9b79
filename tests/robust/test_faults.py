"""Faults of real `vidstyle video`/`vidstyle flow` processes: SIGKILL during frame 0, between frames and
during encoding, then the same command -> the frames of an uninterrupted run and a valid video; two flow
processes sharing one cache -> no error, the same entries. (A truncated or bit-flipped cache entry is healed:
tests/flow/test_flow_cache.py.)"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.robust.helpers import popen_cli, run_cli
from vidstyle.cli import app
from vidstyle.video.decode import iter_frames


def _frames(work: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((work / "pass1").glob("*.png"))}


def _kill_when(proc, ready, what: str, limit: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (polled without sleeping: some windows are milliseconds)."""
    deadline = time.monotonic() + limit
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {limit}s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_clip, style, fast):
    out = tmp_path_factory.mktemp("reference") / "o.mkv"
    res = run_cli("video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast)
    assert res.returncode == 0, res.stderr
    return out, _frames(out.with_name("o.mkv.work"))


def test_sigkill_during_frame0_between_frames_and_encoding_then_resume(tmp_path, tiny_clip, style, fast,
                                                                       reference):
    ref_out, ref_frames = reference
    out = tmp_path / "o.mkv"
    work = tmp_path / "o.mkv.work"
    args = ["video", tiny_clip, style, "-o", out, "--codec", "ffv1", *fast]

    # 1. during frame 0: the work dir is set up, no frame finished yet
    proc = popen_cli(*args)
    _kill_when(proc, lambda: (work / "manifest.json").exists(), "work dir")
    assert not list(work.glob("pass1/*.png")) and not out.exists()

    # 2. between frames: frame 1 finished, the run goes on with frame 2
    proc = popen_cli(*args)
    _kill_when(proc, lambda: (work / "pass1" / "000001.png").exists(), "frame 1")
    assert not out.exists()

    # 3. during encoding: every frame finished, the temporary output exists. Encoding this clip takes
    # milliseconds, so on a loaded machine the poll can miss the window (the run finishes first, or the
    # kill lands after the rename): such a try says nothing about the product, so its output is removed
    # and the window tried again.
    for _ in range(10):
        proc = popen_cli(*args)
        try:
            _kill_when(proc, lambda: any(p.name.startswith(".o.") and ".partial" in p.name
                                         for p in tmp_path.iterdir()), "partial output")
        except AssertionError:
            if proc.returncode != 0 or not out.exists():
                raise
            out.unlink()
            continue
        if not out.exists():
            break
        out.unlink()
    else:
        raise AssertionError("never caught the run while it encoded in 10 tries")
    assert not out.exists() and len(_frames(work)) == len(ref_frames)

    # 4. the same command again: a valid video, the frames of the uninterrupted run, no leftovers
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "removed" in res.stderr and "killed while encoding" in res.stderr
    assert _frames(work) == ref_frames
    ours = [f.image for f in iter_frames(out)]
    theirs = [f.image for f in iter_frames(ref_out)]
    assert len(ours) == len(theirs) == len(ref_frames)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))  # ffv1: lossless
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_two_flow_processes_share_one_cache(tmp_path, tiny_clip):
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    args = ["flow", tiny_clip, "--method", "dis", "--size", "64", "--device", "cpu", "-q"]
    procs = [popen_cli(*args, "--cache-dir", shared) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    res = CliRunner().invoke(app, [str(a) for a in (*args, "--cache-dir", alone)])  # one process alone
    assert res.exit_code == 0, res.output

    def entries(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = entries(shared), entries(alone)
    assert a and a.keys() == b.keys() and a == b
