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
from vidstyle.errors import VidstyleError
from vidstyle.video.chunks import auto_chunk_length, check_chunking, crossfade, min_chunk_length, pair_anchor, plan

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
    # anchor 5: the still task makes 5 and 6 (its warm-up's), the chunks 4..0 and 7..11, five frames each
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 5, True), (5, 12, False)]
    assert chunks[0].order == [5, 4, 3, 2, 1, 0]  # from the anchor, frame 5, down
    assert chunks[1].order == list(range(5, 12))
    assert seams == []  # two workers: one anchor, no seam
    chunks, _ = plan(14, 6, 3)  # a 2-frame unpaired tail is shorter than its own repair: joins the pair before
    assert [(c.start, c.stop) for c in chunks] == [(0, 6), (6, 14)]
    chunks, seams = plan(6, 3, 3)  # a pair has no seam: any length
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 2, True), (2, 6, False)] and seams == []
    chunks, seams = plan(30, 6, 3, long_term=(1, 2, 4))
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 5, True), (5, 12, False), (12, 17, True),
                                                               (17, 24, False), (24, 30, False)]
    # seams where a forward chunk meets the next pair (or the unpaired tail); seeds: the forward chunk's last frames
    assert [(s.start, list(s.repaired), s.seeds) for s in seams] == [(12, [12, 13, 14], (8, 9, 10, 11)),
                                                                    (24, [24, 25, 26], (20, 21, 22, 23))]
    assert all(i not in s.repaired for s in seams for t in seams for i in t.seeds)


def _work(chunks) -> list[tuple[int, int]]:
    """(backward, forward) frames each pair's chunks stylize: the still task makes the anchor and the next."""
    return [(len(b), len(f) - 2) for b, f in zip(chunks, chunks[1:]) if b.backward]


def test_plan_places_each_anchor_where_the_two_chunks_do_equal_work():
    chunks, seams = plan(24, auto_chunk_length(24, 2, 3), 3)  # 2 workers
    # anchor 11: backward 10..0, the still task 11 and 12 (its warm-up's frame), forward 13..23
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 11, True), (11, 24, False)] and seams == []
    assert _work(chunks) == [(11, 11)]
    # an odd number left after the still task's two: the backward chunk gets the fewer
    assert _work(plan(13, 7, 3)[0]) == [(5, 6)] and pair_anchor(0, 13) == 5
    assert _work(plan(25, 13, 3)[0]) == [(11, 12)]
    # several pairs: each balanced, seams only where a forward chunk meets the next pair's backward one
    chunks, seams = plan(48, 12, 3, long_term=(1, 2))
    assert [c.stop for c in chunks if c.backward] == [11, 35] and _work(chunks) == [(11, 11), (11, 11)]
    assert [(s.number, s.start, s.seeds) for s in seams] == [(2, 24, (22, 23))]
    # a pair after a seam keeps its backward chunk past the repair (4 frames for K = 3), the anchor moved up
    chunks, seams = plan(16, 4, 3)
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 3, True), (3, 8, False), (8, 12, True),
                                                               (12, 16, False)]
    assert [s.start for s in seams] == [8] and len(chunks[2]) == min_chunk_length(3)
    # ...and where that leaves the pair no faster than one chain, one forward chunk after the seam
    chunks, seams = plan(14, 4, 3)
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 3, True), (3, 8, False), (8, 14, False)]
    assert [s.start for s in seams] == [8]
    # cuts: each shot balanced on its own
    chunks, seams = plan(30, 6, 3, cuts=[18])
    assert [c.stop for c in chunks if c.backward] == [5, 23] and _work(chunks) == [(5, 5), (5, 5)]
    for frames, length, overlap in [(n, k, o) for n in range(1, 40) for k in range(2, 14) for o in (1, 3)
                                    if k >= min_chunk_length(o)]:
        chunks, seams = plan(frames, length, overlap)
        assert [i for c in chunks for i in c.indices] == list(range(frames))
        for c, nxt in zip(chunks, chunks[1:] + [None]):
            if c.backward:  # the forward chunk holds the anchor and the warm-up's frame
                assert nxt is not None and nxt.start == c.stop and len(nxt) >= 2
        assert all(len(chunks[s.number]) >= min_chunk_length(overlap) for s in seams)
        if chunks[0].backward:  # a shot's first pair: balanced, the backward chunk the shorter
            assert 0 <= _work(chunks)[0][1] - _work(chunks)[0][0] <= 1


def test_a_pair_too_short_to_gain_is_one_forward_chunk():
    # its critical path (the still, 2 warm-up frames, the longer chunk) would not beat P - 1 later frames
    assert [pair_anchor(0, p) for p in range(1, 8)] == [None, None, None, None, None, 2, 2]
    for frames, length in [(2, 1), (3, 2), (4, 2), (5, 3)]:
        chunks, seams = plan(frames, length, 0)
        assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, frames, False)] and seams == []
    chunks, seams = plan(8, 2, 1, cuts=[3])  # a 3-frame shot, then a 5-frame one
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 3, False), (3, 8, False)] and seams == []


def test_a_still_takes_idle_workers_threads_on_its_own_machine_only():
    from vidstyle.video.parallel import still_team

    one = {0: "a", 1: "a"}
    assert still_team([0, 1], one, 2) == [0, 1]
    assert still_team([1], one, 2) is None  # waits for the worker still busy
    assert still_team([1, 0], one, 1) == [1]
    two = {0: "a", 1: "b", 2: "a", 3: "b"}
    assert still_team([1, 0, 3], two, 2) == [1, 3]  # the first machine with two idle workers
    assert still_team([0, 1], two, 2) is None
    assert still_team([0, 1], {0: "a", 1: "b"}, 2) == [0]  # no machine holds two: one is all there is


def test_chunk_length_below_the_overlap_is_refused_with_the_minimum():
    assert min_chunk_length(3) == 4
    with pytest.raises(VidstyleError, match="minimum 4"):
        check_chunking(3, 3)
    assert auto_chunk_length(12, 2, 3) == 6
    assert auto_chunk_length(6, 2, 3) == 3  # two chunks: one anchor pair, no seam to outlast
    assert auto_chunk_length(5, 4, 3) == 4  # seams: never below the minimum, so fewer chunks than workers
    assert crossfade(3) == [3 / 4, 2 / 3, 1 / 2]  # own look 1/4, 1/2, 3/4: equal steps


def test_the_forward_chunk_takes_the_anchor_and_its_warm_up_frame_from_the_still(sintel_video, styles_dir,
                                                                                 vgg_weights):
    """In-process (no Ray): the still task's a + 1 is not computed again; the forward chunk starts at a + 2
    from it, and its long-term term (distance 2) reaches the anchor. The still runs on the threads it is
    lent and the worker's own are back for the chunks."""
    from dataclasses import replace

    import numpy as np
    import torch

    from vidstyle.engine import resolve
    from vidstyle.imageio import load_image, to_uint8
    from vidstyle.video.chunks import ChunkStylizer
    from vidstyle.video.pipeline import _source_frames

    vs = _settings(vgg_weights, max_frames=6, long_term=(1, 2))
    frames = list(_source_frames(sintel_video, vs, 64))
    hw = frames[0][1].shape[:2]
    es, _ = resolve(replace(vs.engine, size=max(hw)))
    back, fwd = plan(6, 3, 1, vs.long_term)[0]
    assert (back.stop, fwd.order) == (2, [2, 3, 4, 5])  # anchor 2, warmed via 3
    seen = []  # (task, frame, torch threads) as each frame starts
    st = ChunkStylizer(vs, es, [to_uint8(load_image(styles_dir / "starry_night.jpg"))], hw=hw, threads=1,
                       report=lambda kind, number, index, s: s is None and seen.append((kind, index,
                                                                                        torch.get_num_threads())))
    try:
        still = st.run_still(frames[2], frames[3], threads=2)
        assert torch.get_num_threads() == 1
        assert seen == [("still", 2, 2), ("still", 3, 2), ("still", 2, 2)], seen  # to the neighbour and back
        assert [r.index for r in still.frames] == [2, 3] and still.stylized == [2, 3]
        assert still.frames[0].record["still"] and still.frames[0].record["warmed_via"] == 3
        assert still.frames[1].record["warm_up"] and still.frames[1].record["warm_up_of"] == 2
        f = st.run_chunk(fwd, [frames[i] for i in fwd.order], still.frames)
        assert [r.index for r in f.frames] == [2, 3, 4, 5] and f.stylized == [4, 5]  # 3 not computed again
        for got, kept in zip(f.frames, still.frames):
            assert np.array_equal(got.image, kept.image) and got.record == kept.record | {"chunk": 1}
        first = f.frames[2].record  # a + 2: from a + 1, and (long_term 2) from the anchor
        assert not first["shot_start"] and {"temporal", "temporal2"} <= set(first["terms"]), first["terms"]
        assert "temporal2" in f.frames[3].record["terms"] and sorted(f.errors) == [3, 4, 5]
        b = st.run_chunk(back, [frames[i] for i in back.order], still.frames)
        assert [r.index for r in b.frames] == [0, 1] and b.stylized == [1, 0]  # the warm-up frame is not its
        assert {t for kind, _, t in seen if kind == "chunk"} == {1}, seen
        assert np.array_equal(b.anchor, still.frames[0].image)
    finally:
        st.close()


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

    The issue's bound, 1.2x, holds here too: with the anchor's still computed once and warmed (one step
    to its neighbour and back, README "Parallel runs") this run measured 1.07x (1.2-1.45x with a plain
    still); a seam left unrepaired measures 10x at this size, a plain still about 1.3x.
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
    assert log2["parallel"]["seams"] == [] and log2["parallel"]["anchors"] == {"5": 0}  # one still, shared
    assert log2["parallel"]["cuts"] == []  # Sintel's fast motion is no shot change
    # the anchor's still ran once (a task of its own, warmed via frame 6, which it keeps), not once per chunk;
    # the chunks do equal work: 4..0 and 7..11
    made = {t["task"]: t["frames"] for t in log2["parallel"]["tasks"]}
    assert made == {"still 5": [5, 6], "chunk 0": [4, 3, 2, 1, 0], "chunk 1": [7, 8, 9, 10, 11]}, made
    assert {t["worker"] for t in log2["parallel"]["tasks"]} == {"worker 1", "worker 2"}
    # both chunks wait for the still, so it ran on both workers' threads, and they ran on their own again
    threads = {t["task"]: t.get("threads") for t in log2["parallel"]["tasks"]}
    assert threads == {"still 5": 2 * log2["parallel"]["threads_per_worker"], "chunk 0": None, "chunk 1": None}
    ev = runner.invoke(app, ["evaluate", str(out2), "--source", str(sintel_video), "--method", "dis", "--device",
                             "cpu", "--seams", ",".join(map(str, log2["parallel"]["seam_frames"]))])
    assert ev.exit_code == 0 and "seam frames 5: E_temp" in ev.output, ev.output
    e1, e2 = _e_temp(runs[1][0], sintel_video), _e_temp(out2, sintel_video)
    assert e2 <= 1.2 * e1, (e2, e1)


def test_killed_driver_resumes_to_the_same_frames(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """A driver stopped after the chunks (before the seam repair) resumes: finished chunks are not rerun
    and the frames equal those of an uninterrupted run; so does one stopped once a still is kept. Spans of
    3 with a 1-frame overlap: frames 1-0 run backward from anchor 2, the still task makes 2 and 3 (its
    warm-up's), 4-5 run forward, 6-7 forward after a repaired seam at 6."""
    import numpy as np

    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import stylize_video_parallel
    from vidstyle.video.workdir import WorkDir

    style = load_image(styles_dir / "starry_night.jpg")
    vs = _settings(vgg_weights, max_frames=8)
    kw = dict(settings=vs, workers=2, threads=1, chunk_length=3, overlap=1)
    whole = stylize_video_parallel(sintel_video, [style], output=tmp_path / "a.mp4", **kw)
    # 2 stills (anchor 2, frame 6 after the seam), 3 chunks, 1 seam
    assert whole.complete and whole.tasks_run == 6 and [s.start for s in whole.seams] == [6], whole.task_log
    made = {t["task"]: t["frames"] for t in whole.task_log}
    assert made == {"still 2": [2, 3], "still 6": [6], "chunk 0": [1, 0], "chunk 1": [4, 5], "chunk 2": [7],
                    "seam 2": [6]}, made
    rec = WorkDir(whole.work_dir, {}).record(1, 3) or {}
    assert rec.get("warm_up") and rec.get("chunk") == 1 and rec.get("e_temp") is not None, rec

    class StopAfterChunks:
        def __call__(self):  # the driver checks after each wait, before it writes what came back: stop
            # once the two chunks around the seam (frames 2-7) are in, before the seam's result is written
            # (chunk 0, running beside them, may or may not be in by then)
            done = set(WorkDir(tmp_path / "b.mp4.work", {}).finished(1))
            return all(i in done for i in range(2, 8))

    part = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", should_stop=StopAfterChunks(),
                                  **kw)
    assert not part.complete and part.output is None and part.tasks_run in (4, 5), part.task_log
    assert "seam 2" not in {t["task"] for t in part.task_log}
    again = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", **kw)
    # finished stills and chunks are not rerun: only what the stop left (the seam, perhaps chunk 0)
    assert again.complete and again.tasks_resumed == part.tasks_run and again.tasks_run == 6 - part.tasks_run
    assert "seam 2" in {t["task"] for t in again.task_log}, again.task_log
    a, b = WorkDir(whole.work_dir, {}), WorkDir(again.work_dir, {})
    for i in range(8):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), i

    def still_kept():  # anchor 2's PNG, written after its warm-up frame's: chunks 0 and 1 not written yet
        return 2 in WorkDir(tmp_path / "c.mp4.work" / "stills", {}).finished(1)

    part = stylize_video_parallel(sintel_video, [style], output=tmp_path / "c.mp4", should_stop=still_kept, **kw)
    assert not part.complete and not {"chunk 0", "chunk 1"} & {t["task"] for t in part.task_log}, part.task_log
    again = stylize_video_parallel(sintel_video, [style], output=tmp_path / "c.mp4", **kw)
    tasks = {t["task"] for t in again.task_log}
    assert again.complete and "still 2" not in tasks and {"chunk 0", "chunk 1"} <= tasks, again.task_log
    c = WorkDir(again.work_dir, {})
    for i in range(8):
        assert np.array_equal(a.load_frame_u8(1, i), c.load_frame_u8(1, i)), i
    ra, rc = a.record(1, 3) or {}, c.record(1, 3) or {}  # the warm-up frame, from the kept still
    assert rc["warm_up"] and all(ra[k] == rc[k] for k in ("warm_up_of", "chunk", "iterations", "loss", "e_temp"))


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
    from dataclasses import replace

    import numpy as np

    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import ParallelObserver, stylize_video_parallel
    from vidstyle.video.workdir import WorkDir

    style = load_image(styles_dir / "starry_night.jpg")
    vs = _settings(vgg_weights, max_frames=8)
    # Later frames of 60 iterations each (no early stop): slow enough for the driver's 0.5 s poll to see
    # chunk 1 mid-way (its first frame, the anchor's still, is a task of its own).
    vs = replace(vs, frame_tol=0.0, engine=replace(vs.engine, optim=replace(vs.engine.optim, iterations=60)))
    kw = dict(settings=vs, workers=2, threads=1)

    class KillOnce(ParallelObserver):
        killed = None
        shown: set = set()

        def update(self, rows, done, total):
            self.shown |= {(name, row.get("task")) for name, row in rows.items()}
            for row in rows.values():  # chunk 1 stylizes 5-7 (anchor 3, 4 its still's): kill while on 5 or 6
                if self.killed is None and row.get("task") == "chunk 1" and row.get("frame") in (5, 6):
                    self.killed = row["pid"]
                    os.kill(row["pid"], signal.SIGKILL)

    obs = KillOnce()
    hit = stylize_video_parallel(sintel_video, [style], output=tmp_path / "a.mp4", observer=obs, **kw)
    assert obs.killed is not None and hit.complete
    # the display's row of the worker that waits for the still says where its threads went
    assert {("worker 2", "threads lent to worker 1"), ("worker 1", "still 3")} <= obs.shown, obs.shown
    assert any(t.get("retry") == 1 and t["task"] == "chunk 1" for t in hit.task_log), hit.task_log
    calm = stylize_video_parallel(sintel_video, [style], output=tmp_path / "b.mp4", **kw)
    a, b = WorkDir(hit.work_dir, {}), WorkDir(calm.work_dir, {})
    for i in range(8):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), i


def test_one_worker_is_the_sequential_pipeline(ray_session, tmp_path, sintel_video, styles_dir, vgg_weights):
    """A chunk task runs the pipeline's own per-frame code: one worker, one chunk, the same frames as
    stylize_video (bit for bit). So do two workers on a 3-frame video: a pair would gain nothing there
    (pair_anchor), so its frames make one forward chunk from a plain still."""
    from dataclasses import replace

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
    few = stylize_video_parallel(sintel_video, [style], output=tmp_path / "f.mp4", settings=replace(vs, max_frames=3),
                                 workers=2, threads=1)
    assert few.complete and [(c.start, c.stop, c.backward) for c in few.chunks] == [(0, 3, False)]
    assert few.workers == 1 and sorted(t["task"] for t in few.task_log) == ["chunk 0", "still 0"]
    c = WorkDir(few.work_dir, {})
    for i in range(3):  # the sequential run's first three frames (no frame looks ahead)
        assert np.array_equal(c.load_frame_u8(1, i), b.load_frame_u8(1, i)), i


# -- shot changes: found before planning, never inside a chunk --------------------------------------
def _cut_frames(clipgen, sintel_video, n_each: int = 4, hw=(54, 96)):
    """``n_each`` frames of the sample clip, then ``n_each`` Sintel frames: a hard cut at ``n_each``."""
    import cv2

    from vidstyle.video.decode import iter_frames

    h, w = hw
    synthetic = [clipgen.render_frame(t / 10, w, h) for t in range(n_each)]
    sintel = [cv2.resize(f.image, (w, h), interpolation=cv2.INTER_AREA)
              for f in iter_frames(sintel_video, max_frames=n_each)]
    return synthetic + sintel


def test_shot_cuts_finds_a_hard_cut_and_no_cut_in_fast_motion(clipgen, sintel_video):
    from vidstyle.video.chunks import shot_cuts
    from vidstyle.video.decode import iter_frames

    assert shot_cuts(_cut_frames(clipgen, sintel_video)) == [4]
    # Sintel's 50 frames hold fast motion (down to 0.24 reliable at 128 px) but no cut
    assert shot_cuts(f.image for f in iter_frames(sintel_video, size=448)) == []


def test_plan_cuts_chunks_at_shot_changes():
    chunks, seams = plan(12, 6, 3, cuts=[4])
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 4, False), (4, 7, True), (7, 12, False)]
    assert seams == []  # a cut needs no seam; the shot after it is an anchor pair
    chunks, seams = plan(30, 6, 3, cuts=[18])
    assert [(c.start, c.stop, c.backward) for c in chunks] == [(0, 5, True), (5, 12, False), (12, 18, False),
                                                               (18, 23, True), (23, 30, False)]
    assert [c.number for c in chunks] == list(range(len(chunks)))
    assert [s.start for s in seams] == [12]  # seams only inside a shot, none at the cut
    assert plan(12, 6, 3, cuts=[0, 12, 40]) == plan(12, 6, 3)  # cuts outside (0, frames) mean nothing


def test_a_clip_with_a_hard_cut_runs_each_shot_from_its_own_still(ray_session, tmp_path, clipgen, sintel_video,
                                                                  styles_dir, vgg_weights):
    import av

    from vidstyle.imageio import load_image
    from vidstyle.video.parallel import stylize_video_parallel
    from vidstyle.video.workdir import WorkDir

    clip = tmp_path / "cut.mp4"
    with av.open(str(clip), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 54, "yuv420p"
        for img in _cut_frames(clipgen, sintel_video):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    style = load_image(styles_dir / "starry_night.jpg")
    r = stylize_video_parallel(clip, [style], output=tmp_path / "o.mp4", settings=_settings(vgg_weights),
                               workers=2, threads=1, cache_dir=tmp_path / "flows")
    assert r.complete and r.cuts == [4], r.cuts
    assert any(p.is_file() for p in (tmp_path / "flows").rglob("*")), "the workers fill the given flow cache"
    assert [(c.start, c.stop, c.backward) for c in r.chunks] == [(0, 4, False), (4, 8, False)] and r.seams == []
    work = WorkDir(r.work_dir, {})
    starts = [i for i in range(8) if (work.record(1, i) or {}).get("shot_start")]
    assert starts == [0, 4]  # each shot from its own still, computed once (two still tasks)
    assert sorted(t["task"] for t in r.task_log) == ["chunk 0", "chunk 1", "still 0", "still 4"]
    assert _frames(r.output).frames == 8
