"""Chunk-parallel video on Ray: 1 worker vs 2 workers, and 2 workers of a separately started cluster.

    .venv/bin/python benchmarks/bench_parallel.py [--frames 24] [--size 192] [--sheet anchor.png]
    .venv/bin/python benchmarks/bench_parallel.py --defaults --frames 12 --no-cluster   # issue 11's must-show

Each run is end to end (Ray start-up, decode, chunks, seams, encode) with one
torch thread per worker (on the local cluster a still takes the threads of the
workers that wait for it; the task log says how many). Temporal error: the
independent evaluator (``vidstyle.video.evaluate.evaluate_video`` on the encoded
files, DIS medium flow of the source frames, not the runs' own DIS fine); "seam" frames are those whose
error pair spans two chunks (anchors and repaired seams, ParallelResult.seam_frames).
The cluster run starts ``ray start --head --num-cpus 2`` and stops it after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(SHARED / "data" / "sintel-50f.mp4"))
    ap.add_argument("--style", default=str(SHARED / "data" / "styles" / "starry_night.jpg"))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--first-iterations", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--defaults", action="store_true",
                    help="every setting at its default (448 px, 500/40 iterations, precision auto): the must-show")
    ap.add_argument("--no-cluster", action="store_true", help="skip the --ray-address run")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--sheet", help="write a PNG here: the source and each run's frames around the anchor")
    args = ap.parse_args()
    torch.set_num_threads(1)
    # Ray >= 2.59 starts local clusters with token authentication; a client joining one by HOST:PORT needs
    # this too (it reads the token `ray start` left in ~/.ray/auth_token).
    os.environ.setdefault("RAY_AUTH_MODE", "token")

    from flow import FlowEngine, get_backend
    from vidstyle.engine import Settings
    from vidstyle.imageio import load_image
    from vidstyle.optimize import OptimizerSettings
    from vidstyle.video.chunks import seam_ratio
    from vidstyle.video.evaluate import evaluate_video
    from vidstyle.video.parallel import stylize_video_parallel
    from vidstyle.video.pipeline import VideoSettings

    if args.defaults:
        vs = VideoSettings(max_frames=args.frames)
        args.size, args.first_iterations = vs.engine.size, vs.first_iterations
        args.iterations = vs.engine.optim.iterations
    else:
        es = Settings(size=args.size, init="content", precision="fp32",
                      optim=OptimizerSettings(iterations=args.iterations))
        vs = VideoSettings(engine=es, first_iterations=args.first_iterations, max_frames=args.frames)
    style = load_image(args.style)
    tmp = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    ray_bin = Path(sys.executable).with_name("ray")
    runs = {}
    sheets: dict = {}  # run -> its decoded frames (only with --sheet)
    plan = [("1 worker", dict(workers=1)), ("2 workers", dict(workers=2))]
    if not args.no_cluster:
        plan.append(("2 workers, --ray-address", dict(workers=2, address="cluster")))
    try:
        for name, kw in plan:
            if kw.get("address") == "cluster":
                subprocess.run([str(ray_bin), "start", "--head", "--num-cpus", "2", "--include-dashboard=false",
                                "--port", "6390"], check=True, capture_output=True, text=True)
                kw = dict(kw, address="127.0.0.1:6390")
            try:
                out = tmp / f"{len(runs)}.mp4"
                t0 = time.perf_counter()
                load = os.getloadavg()
                # One thread per worker as the benchmark asks; with --defaults the CLI's split
                # (this machine's cores / workers), as the must-show command runs it.
                threads = None if args.defaults else 1
                r = stylize_video_parallel(args.video, [style], output=out, settings=vs, threads=threads, **kw)
                wall = time.perf_counter() - t0
            finally:
                if kw.get("address"):
                    subprocess.run([str(ray_bin), "stop"], capture_output=True, text=True)
            rep = evaluate_video(out, args.video, FlowEngine(get_backend("dis"), None))
            errors = {i + 1: e for i, e in enumerate(rep.errors)}
            runs[name] = {"wall_s": wall, "load_before": load, "load_after": os.getloadavg(),
                          "per_frame": rep.errors, "threads": r.threads,
                          "chunks": [[c.start, c.stop, "backward" if c.backward else "forward"] for c in r.chunks],
                          "seams": [s.start for s in r.seams], "seam_frames": r.seam_frames,
                          "anchors": r.anchors, "e_temp": rep.e_temp, "flash": rep.flash,
                          "seam_ratio": seam_ratio(errors, r.seam_frames),
                          "median_frame": statistics.median(rep.errors), "own_e_temp": r.e_temp,
                          "tasks": r.task_log}
            if args.sheet:
                sheets[name] = _frames_of(out)
            print(f"{name}: {wall:.1f}s, E_temp {rep.e_temp:.4e}, flash {rep.flash:.2f}, "
                  f"seam/median {runs[name]['seam_ratio']:.2f}, chunks {runs[name]['chunks']}", flush=True)
        if args.sheet:
            write_sheet(args.sheet, args.video, sheets, runs["2 workers"]["anchors"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one, two = runs["1 worker"], runs["2 workers"]
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "frames": args.frames,
               "size": args.size, "first_iterations": args.first_iterations,
               "iterations": args.iterations, "cores": os.cpu_count(), "runs": runs,
               "wall_ratio_2_over_1": two["wall_s"] / one["wall_s"],
               "e_temp_ratio_2_over_1": two["e_temp"] / one["e_temp"]}
    if "2 workers, --ray-address" in runs:
        c = runs["2 workers, --ray-address"]
        summary["cluster_wall_ratio"] = c["wall_s"] / one["wall_s"]
        summary["cluster_e_temp_ratio"] = c["e_temp"] / one["e_temp"]
    print(f"wall 2/1 {summary['wall_ratio_2_over_1']:.2f}, E_temp 2/1 {summary['e_temp_ratio_2_over_1']:.3f}, "
          f"seam/median (2 workers) {two['seam_ratio']:.2f}, flash (2 workers) {two['flash']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))


def _frames_of(path) -> list:
    from vidstyle.video.decode import iter_frames

    return [fr.image for fr in iter_frames(path)]


def write_sheet(path, video, sheets: dict, anchors: dict) -> None:
    """Frames anchor-2 .. anchor+2 of the source and of each run, one row each, as one PNG."""
    from vidstyle.contact_sheet import contact_sheet
    from vidstyle.imageio import save_image
    from vidstyle.video.decode import iter_frames

    a = int(next(iter(anchors), 2))
    n = min(len(f) for f in sheets.values())
    size = max(next(iter(sheets.values()))[0].shape[:2])
    cols = [i for i in range(a - 2, a + 3) if 0 <= i < n]
    source = [fr.image for fr in iter_frames(video, size=size)][: n]
    rows = [[source[i] for i in cols]] + [[frames[i] for i in cols] for frames in sheets.values()]
    titles = ["source"] + list(sheets)
    sheet = contact_sheet(rows, row_titles=titles, col_titles=[f"frame {i}" + (" (anchor)" if i == a else "")
                                                               for i in cols], cell=256)
    save_image(sheet, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
