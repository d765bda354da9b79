"""Chunk-parallel video on Ray (vidstyle.video.chunks / parallel, `vidstyle video --workers`).

One local Ray session (2 CPUs) is shared by the module's Ray tests and shut
down at the end; runs are tiny (64 px, partial Caffe weights, DIS flow).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidstyle.cli import app
from vidstyle.video.chunks import auto_chunk_length, check_chunking, crossfade, min_chunk_length, plan
from vidstyle.errors import VidstyleError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from vidstyle.cli import main; sys.argv[0] = 'vidstyle'; main()"]


def _fast(weights) -> list[str]:
    return ["--size", "64", "--model", "caffe", "--weights", str(weights), "--first-iterations", "20",
            "--iterations", "10", "--method", "dis", "--precision", "fp32", "--device", "cpu", "-q"]


def _one_line_error(res, *fragments) -> str:
    out = res.output if hasattr(res, "output") else (res.stderr or "") + (res.stdout or "")
    code = res.exit_code if hasattr(res, "exit_code") else res.returncode
    assert code == 2, out
    assert "Traceback" not in out, out
    line = out.strip().splitlines()[-1]
    for f in fragments:
        assert f in line, line
    return line


# -- the plan (no Ray) ----------------------------------------------------------------------------
def test_plan_pairs_chunks_around_anchors_and_repairs_the_other_seams():
    chunks, seams = plan(12, 6, 3)
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 6, True), (6, 12, False)]
    assert chunks[0].order == [6, 5, 4, 3, 2, 1, 0]  # from the anchor, frame 6, down
    assert chunks[1].order == list(range(6, 12))
    assert seams == []  # two workers: one anchor, no seam
    chunks, _ = plan(14, 6, 3)  # a 2-frame unpaired tail is shorter than its own repair: joins the chunk before
    assert [(c.start, c.stop) for c in chunks] == [(0, 6), (6, 14)]
    chunks, seams = plan(6, 3, 3)  # a pair has no seam: any length
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 3, True), (3, 6, False)] and seams == []
    chunks, seams = plan(30, 6, 3, long_term=(1, 2, 4))
    assert [c.backward for c in chunks] == [True, False, True, False, False]  # the last, unpaired, runs forward
    # seams where a forward chunk meets the next pair (or the unpaired tail); seeds: the forward chunk's last frames
    assert [(s.start, list(s.repaired), s.seeds) for s in seams] == [(12, [12, 13, 14], (8, 9, 10, 11)),
                                                                    (24, [24, 25, 26], (20, 21, 22, 23))]
    assert all(i not in s.repaired for s in seams for t in seams for i in t.seeds)


def test_chunk_length_below_the_overlap_is_refused_with_the_minimum():
    assert min_chunk_length(3) == 4
    with pytest.raises(VidstyleError, match="minimum 4"):
        check_chunking(3, 3)
    assert auto_chunk_length(12, 2, 3) == 6
    assert auto_chunk_length(6, 2, 3) == 3  # two chunks: one anchor pair, no seam to outlast
    assert auto_chunk_length(5, 4, 3) == 4  # seams: never below the minimum, so fewer chunks than workers
    assert crossfade(3) == [3 / 4, 2 / 3, 1 / 2]  # own look 1/4, 1/2, 3/4: equal steps


# -- refusals: one line, exit 2 -------------------------------------------------------------------
def test_bad_parallel_options_are_one_line(tmp_path, sintel_video, styles_dir, vgg_weights):
    style = styles_dir / "starry_night.jpg"
    base = ["video", str(sintel_video), str(style), "-o", str(tmp_path / "o.mp4"), *_fast(vgg_weights)]
    _one_line_error(runner.invoke(app, [*base, "--workers", "0"]), "--workers must be >= 1")
    _one_line_error(runner.invoke(app, [*base, "--workers", "4", "--max-frames", "3"]), "more than the 3 frames")
    _one_line_error(runner.invoke(app, [*base, "--workers", "2", "--chunk-length", "2", "--seam-overlap", "3"]),
                    "minimum 4")
    _one_line_error(runner.invoke(app, [*base, "--ray-address", "127.0.0.1:1", "--max-frames", "4"]),
                    "no Ray cluster answers")
    assert not (tmp_path / "o.mp4").exists()


def test_without_ray_installed_says_how_to_install(tmp_path, sintel_video, styles_dir):
    code = ("import sys; sys.modules['ray'] = None; from vidstyle.cli import main; sys.argv[0] = 'vidstyle'; "
            "main()")
    res = subprocess.run([sys.executable, "-c", code, "video", str(sintel_video),
                          str(styles_dir / "starry_night.jpg"), "-o", str(tmp_path / "o.mp4"), "--workers", "2"],
                         capture_output=True, text=True, timeout=60)
    _one_line_error(res, 'pip install "vidstyle[ray]"')


def test_a_normal_run_never_imports_ray(tmp_path, sintel_video, styles_dir, vgg_weights):
    code = ("import sys; from typer.testing import CliRunner; from vidstyle.cli import app; import torch; "
            "torch.set_num_threads(1); r = CliRunner().invoke(app, sys.argv[1:]); "
            "print('EXIT', r.exit_code, 'RAY', 'ray' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code, "video", str(sintel_video), str(styles_dir / "starry_night.jpg"),
                          "-o", str(tmp_path / "o.mp4"), "--max-frames", "2", *_fast(vgg_weights)],
                         capture_output=True, text=True, timeout=120)
    assert "EXIT 0 RAY False" in res.stdout, res.stdout + res.stderr


# -- real runs on one shared local Ray --------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def _frames(path: Path):
    from vidstyle.video.decode import probe

    return probe(path)


def _e_temp(out: Path, source: Path) -> float:
    res = runner.invoke(app, ["evaluate", str(out), "--source", str(source), "--method", "dis", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return float(res.output.split("E_temp")[1].split()[0])


def test_two_workers_twelve_frames_against_one_worker(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """Must show: --workers 2 --max-frames 12 completes, decodes to 12 frames at the source rate, names 2
    workers and >= 2 chunks, and its E_temp (independent evaluator) stays near that of --workers 1.

    The issue's bound is 1.2x; at 192 px (benchmarks/README.md "Parallel runs") the runs measure 1.15x.
    At this toy size (64 px, 10 iterations a frame) the half that runs backward from the anchor
    measures 1.2-1.45x (README "Parallel runs" says why), so the bound here is 1.5x: it still fails on
    a seam left unrepaired (10x the one-worker E_temp at this size) or chunks that do not share the anchor.
    """
    style = styles_dir / "starry_night.jpg"
    runs = {}
    for w in (1, 2):
        out, log = tmp_path / f"w{w}.mp4", tmp_path / f"w{w}.json"
        res = runner.invoke(app, ["video", str(sintel_video), str(style), "-o", str(out), "--workers", str(w),
                                  "--max-frames", "12", "--log", str(log), *_fast(vgg_weights)])
        assert res.exit_code == 0, res.output
        runs[w] = (out, json.loads(log.read_text()))
    src = _frames(sintel_video)
    out2, log2 = runs[2]
    info = _frames(out2)
    assert info.frames == 12 and info.fps == src.fps
    assert log2["parallel"]["workers"] == 2 and len(log2["parallel"]["chunks"]) >= 2
    assert log2["parallel"]["seams"] == [] and log2["parallel"]["anchors"] == {"6": 0}  # identical copies
    assert {t["worker"] for t in log2["parallel"]["tasks"]} == {"worker 1", "worker 2"}
    ev = runner.invoke(app, ["evaluate", str(out2), "--source", str(sintel_video), "--method", "dis", "--device",
                             "cpu", "--seams", ",".join(map(str, log2["parallel"]["seam_frames"]))])
    assert ev.exit_code == 0 and "seam frames 6: E_temp" in ev.output, ev.output
    e1, e2 = _e_temp(runs[1][0], sintel_video), _e_temp(out2, sintel_video)
    assert e2 <= 1.5 * e1, (e2, e1)


def test_killed_driver_resumes_to_the_same_frames(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """A driver stopped after the chunks (before the seam repair) resumes: finished chunks are not rerun
    and the frames equal those of an uninterrupted run. Chunks of 3 with a 1-frame overlap: frames 0-2 run
    backward from anchor 3, 3-5 forward, 6-7 forward after a repaired seam at 6."""
    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import stylize_video_parallel
    from vidstyle.video.workdir import WorkDir

    import numpy as np

    style = load_image(styles_dir / "starry_night.jpg")
    vs = _settings(vgg_weights, max_frames=8)
    kw = dict(settings=vs, workers=2, threads=1, chunk_length=3, overlap=1)
    whole = stylize_video_parallel(sintel_video, [style], output=tmp_path / "a.mp4", **kw)
    assert whole.complete and whole.tasks_run == 4 and [s.start for s in whole.seams] == [6], whole.task_log

    class StopAfterChunks:
        def __call__(self):  # the driver checks after each wait: stop once both chunks are in
            work = WorkDir(tmp_path / "b.mp4.work", {})
            return len(work.finished(1)) == 8

    part = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", should_stop=StopAfterChunks(),
                                  **kw)
    assert not part.complete and part.output is None and part.tasks_run == 3, part.task_log
    again = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", **kw)
    assert again.complete and again.tasks_run == 1 and again.tasks_resumed == 3, again.task_log
    a, b = WorkDir(whole.work_dir, {}), WorkDir(again.work_dir, {})
    for i in range(8):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), i


def _settings(weights, **kw):
    from vidstyle.engine import Settings
    from vidstyle.optimize import OptimizerSettings
    from vidstyle.video.pipeline import VideoSettings

    es = Settings(size=64, model="caffe", weights=Path(weights), init="content", scales="none", precision="fp32",
                  optim=OptimizerSettings(iterations=10))
    return VideoSettings(engine=es, first_iterations=20, method="dis", **kw)


def test_a_killed_worker_costs_its_chunk_not_the_run(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """SIGKILL to the worker process running chunk 1, mid-chunk: a new worker reruns that chunk and the
    frames equal those of a run nobody disturbed (the chunk task is deterministic)."""
    import os
    import signal

    import numpy as np

    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import ParallelObserver, stylize_video_parallel
    from vidstyle.video.workdir import WorkDir

    style = load_image(styles_dir / "starry_night.jpg")
    kw = dict(settings=_settings(vgg_weights, max_frames=8), workers=2, threads=1)

    class KillOnce(ParallelObserver):
        killed = None

        def update(self, rows, done, total):
            for row in rows.values():  # chunk 1 is frames 4-7: kill while it is on its first two
                if self.killed is None and row.get("task") == "chunk 1" and row.get("frame") in (4, 5):
                    self.killed = row["pid"]
                    os.kill(row["pid"], signal.SIGKILL)

    obs = KillOnce()
    hit = stylize_video_parallel(sintel_video, [style], output=tmp_path / "a.mp4", observer=obs, **kw)
    assert obs.killed is not None and hit.complete
    assert any(t.get("retry") == 1 and t["task"] == "chunk 1" for t in hit.task_log), hit.task_log
    calm = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", **kw)
    a, b = WorkDir(hit.work_dir, {}), WorkDir(calm.work_dir, {})
    for i in range(8):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), i


def test_one_worker_is_the_sequential_pipeline(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """A chunk task runs the pipeline's own per-frame code: one worker, one chunk, the same frames as
    stylize_video (bit for bit)."""
    import numpy as np

    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import stylize_video_parallel
    from vidstyle.video.pipeline import stylize_video
    from vidstyle.video.workdir import WorkDir

    style = load_image(styles_dir / "starry_night.jpg")
    vs = _settings(vgg_weights, max_frames=4)
    par = stylize_video_parallel(sintel_video, [style], output=tmp_path / "p.mp4", settings=vs, workers=1, threads=1)
    seq = stylize_video(sintel_video, [style], output=tmp_path / "s.mp4", settings=vs)
    a, b = WorkDir(par.work_dir, {}), WorkDir(seq.work_dir, {})
    for i in range(4):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), i
