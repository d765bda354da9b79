"""Video pipeline benchmark (not a test): speed, overlap, memory and reference-like settings.

Three measurements on the Sintel clip (../shared/data/sintel-50f.mp4), each
against a plain reference measured in the same run:

1. ``speed``: s/frame of stylization and of flow (DIS or DeepFlow, computed
   alone, no cache) and the pipeline's wall s/frame with the background flow
   worker; the overlap ratio is wall / (stylize + flow) (1 = no overlap).
2. ``memory``: peak RSS of a fresh process stylizing 10 vs 40 frames (few
   iterations): a streaming pipeline keeps the ratio near 1.
4. ``weights`` (on request): E_temp against the temporal weight, as in the README's table.
3. ``reference``: our defaults (early stop) vs reference-like settings (1000
   iterations per later frame, no early stop): time ratio and E_temp ratio.

Usage::

    python benchmarks/bench_video.py --weights ../shared/weights/vgg19-caffe-conv1_1-conv3_4.pth --model caffe \\
        [--frames 10] [--size 448] [--method dis] [--parts speed,memory,reference] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINTEL = ROOT.parent / "shared" / "data" / "sintel-50f.mp4"
STYLES = ROOT.parent / "shared" / "data" / "styles"


def _settings(args, *, iterations, first_iterations, tol, frames):
    from vidstyle.engine import Settings
    from vidstyle.optimize import OptimizerSettings
    from vidstyle.video.pipeline import VideoSettings

    engine = Settings(size=args.size, model=args.model, weights=args.weights, init="content", scales="none",
                      precision=args.precision,
                      optim=OptimizerSettings(iterations=iterations, tol=tol, min_iterations=0 if tol == 0 else 20))
    return VideoSettings(engine=engine, first_iterations=first_iterations, method=args.method, max_frames=frames,
                         frame_tol=tol, frame_min_iterations=0 if tol == 0 else 20, frame_window=10)


def _style(args):
    from vidstyle.imageio import load_image

    return load_image(args.style or sorted(STYLES.glob("*.jpg"))[0])


def run_pipeline(args, settings, out_dir: Path, name: str):
    from vidstyle.video.pipeline import measure_temporal, stylize_video

    out = out_dir / f"{name}.mkv"
    r = stylize_video(args.input, [_style(args)], output=out, settings=settings, overwrite=True, restart=True,
                      work_dir=out_dir / f"{name}.work")
    return r, measure_temporal(r, args.input, settings)


def part_speed(args, tmp: Path) -> dict:
    import torch

    from flow import FlowEngine, get_backend
    from vidstyle.imageio import from_uint8
    from vidstyle.video.decode import iter_frames

    frames = [from_uint8(f.image) for f in iter_frames(args.input, size=args.size, max_frames=args.frames)]
    engine = FlowEngine(get_backend(args.method), None)
    t0 = time.perf_counter()
    for a, b in zip(frames, frames[1:]):
        engine.pair(a, b)
    flow_s = (time.perf_counter() - t0) / max(1, len(frames) - 1)
    del frames
    s = _settings(args, iterations=args.iterations, first_iterations=args.first_iterations, tol=1e-4,
                  frames=args.frames)
    r, rep = run_pipeline(args, s, tmp, "speed")
    stylize_s = r.stylize_seconds / r.stylized
    wall_s = r.seconds / r.stylized
    return {"frames": r.frames, "size": f"{r.size[1]}x{r.size[0]}", "flow_s_per_frame": flow_s,
            "stylize_s_per_frame": stylize_s, "wall_s_per_frame": wall_s,
            "overlap_ratio": wall_s / (stylize_s + flow_s), "e_temp": rep.e_temp, "threads": torch.get_num_threads()}


def _child_rss(args, frames: int, tmp: Path) -> float:
    code = (
        f"import sys, resource, json; sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.bench_video import _settings, run_pipeline, parse\n"
        "from pathlib import Path\n"
        "a = parse(sys.argv[1:])\n"
        "import torch; a.threads and torch.set_num_threads(a.threads)\n"
        f"s = _settings(a, iterations=3, first_iterations=5, tol=0.0, frames={frames})\n"
        f"run_pipeline(a, s, Path({str(tmp)!r}), 'mem{frames}')\n"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    )
    argv = [sys.executable, "-c", code, "--input", str(args.input), "--size", str(args.size), "--method", args.method,
            "--model", args.model] + (["--weights", str(args.weights)] if args.weights else []) \
        + (["--threads", str(args.threads)] if args.threads else [])
    out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return float(out.strip().splitlines()[-1]) / 1024.0  # KiB -> MiB on Linux


def part_memory(args, tmp: Path) -> dict:
    small, large = _child_rss(args, 10, tmp), _child_rss(args, 40, tmp)
    return {"peak_rss_mib_10": small, "peak_rss_mib_40": large, "ratio_40_over_10": large / small}


def part_reference(args, tmp: Path) -> dict:
    ours = _settings(args, iterations=args.iterations, first_iterations=args.first_iterations, tol=1e-4,
                     frames=args.ref_frames)
    ref = _settings(args, iterations=args.ref_iterations, first_iterations=args.first_iterations, tol=0.0,
                    frames=args.ref_frames)
    r1, e1 = run_pipeline(args, ours, tmp, "ours")
    r2, e2 = run_pipeline(args, ref, tmp, "reference")
    return {"frames": r1.frames, "ours_seconds": r1.seconds, "reference_seconds": r2.seconds,
            "time_ratio_ref_over_ours": r2.seconds / r1.seconds, "ours_e_temp": e1.e_temp,
            "reference_e_temp": e2.e_temp, "e_temp_ratio_ours_over_ref": e1.e_temp / e2.e_temp,
            "ours_mean_iterations": sum(r.iterations for r in r1.reports[1:]) / max(1, len(r1.reports) - 1)}


def part_weights(args, tmp: Path) -> dict:
    """E_temp against lambda_t (README "Temporal weight"), fixed iterations, no early stop."""
    from dataclasses import replace

    out = {}
    base = _settings(args, iterations=args.sweep_iterations, first_iterations=2 * args.sweep_iterations, tol=0.0,
                     frames=args.sweep_frames)
    runs = [("content", 0.0)] + [("prev-warped", float(v)) for v in args.sweep.split(",")]
    for init, lam in runs:
        r, rep = run_pipeline(args, replace(base, init=init, temporal_weight=lam), tmp, f"w{init}{lam:g}")
        last = r.reports[-1].terms
        out[f"{init} {lam:g}"] = {"e_temp": rep.e_temp, "flash": rep.flash, "content": last.get("content"),
                                  "style": last.get("style"), "temporal": last.get("temporal")}
    return out


# name -> VideoSettings fields of the later frames (engine fields go under "engine"/"optim").
# The strategies of before the pyramid run over the pixels (frame_pyramid 0); they would otherwise inherit the
# default pyramid (the 14:17 UTC run of 2026-12-07 did: its "today" ran over the pyramid).
_PIXELS = {"frame_pyramid": 0, "frame_scales": (1.0,)}
_STILL_STOP = {"frame_min_iterations": 20, "frame_tol": 1e-4, "frame_window": 10}
STRATEGIES = {
    # the later frames before issue 9: 150 iterations, the still-image stop, the content-filled warped start
    "today": {**_PIXELS, **_STILL_STOP, "optim": {"iterations": 150}, "init": "prev-warped"},
    # the same budget from Ruder et al.'s warped-everywhere start (today's default start)
    # today's budget over the default pyramid (what the 14:17 run's "today" was)
    "today-pyramid": {**_STILL_STOP, "optim": {"iterations": 150}, "init": "prev-warped"},
    "today-warped-all": {**_PIXELS, **_STILL_STOP, "optim": {"iterations": 150}, "init": "prev-warped-all"},
    "tol1e-3": {**_PIXELS, "optim": {"iterations": 150}, "frame_min_iterations": 10, "frame_tol": 1e-3,
                "frame_window": 5},
    "tol3e-3": {**_PIXELS, "optim": {"iterations": 150}, "frame_min_iterations": 5, "frame_tol": 3e-3,
                "frame_window": 5},
    "cap40": {**_PIXELS, **_STILL_STOP, "optim": {"iterations": 40}},
    "cap25": {**_PIXELS, **_STILL_STOP, "optim": {"iterations": 25}},
    "half30+full": {**_PIXELS, "frame_scales": (0.5, 1.0), "coarse_iterations": 30, "optim": {"iterations": 150},
                    "frame_min_iterations": 10, "frame_tol": 1e-3, "frame_window": 5},
    "half40+full15": {**_PIXELS, "frame_scales": (0.5, 1.0), "coarse_iterations": 40, "optim": {"iterations": 15},
                      "frame_min_iterations": 15, "frame_tol": 1e-3, "frame_window": 5},
    "carry": {"frame_scales": (1.0,), "optim": {"iterations": 150}, "frame_min_iterations": 20, "frame_tol": 1e-4,
              "frame_window": 10, "carry_memory": True, "frame_pyramid": 0},
    "carry-tol1e-3": {"frame_scales": (1.0,), "optim": {"iterations": 150}, "frame_min_iterations": 10,
                      "frame_tol": 1e-3, "frame_window": 5, "carry_memory": True, "frame_pyramid": 0},
    "carry-cap40": {"frame_scales": (1.0,), "optim": {"iterations": 40}, "frame_min_iterations": 20,
                    "frame_tol": 1e-4, "frame_window": 10, "carry_memory": True, "frame_pyramid": 0},
    "defaults": {},
    # the defaults with another cap on the iterations of a later frame (over the 2-level pyramid)
    "defaults-cap30": {"optim": {"iterations": 30}},
    "defaults-cap25": {"optim": {"iterations": 25}},
    "defaults-cap20": {"optim": {"iterations": 20}},
    "defaults-cap15": {"optim": {"iterations": 15}},
    # over the pixels, as before the pyramid: the former defaults (cap 40) and the same cap as today's
    "pixels": {"frame_pyramid": 0, "optim": {"iterations": 40}},
    "pixels-cap20": {"frame_pyramid": 0, "optim": {"iterations": 20}},
    "pyramid3": {"frame_pyramid": 3},
    "pyramid5": {"frame_pyramid": 5},
    # Ruder et al.'s start: the warped result everywhere, unreliable areas too (the default takes the content there)
    "warped-all": {"init": "prev-warped-all"},
    # the warped result where the mask trusts it, the content frame elsewhere
    "content-fill": {"init": "prev-warped"},
    # every frame a new shot: a still-image run from the content, no temporal loss
    "independent": {"shot_threshold": 1.0},
}


def _strategy_settings(args, name: str, precision: str):
    from dataclasses import replace

    from vidstyle.engine import Settings
    from vidstyle.video.pipeline import VideoSettings

    spec = dict(STRATEGIES[name])
    base = VideoSettings()
    engine = replace(base.engine, size=args.size, model=args.model, weights=args.weights, precision=precision)
    if "optim" in spec:
        engine = replace(engine, optim=replace(engine.optim, **spec.pop("optim")))
    assert isinstance(engine, Settings)
    return replace(base, engine=engine, method=args.method, max_frames=args.frames,
                   first_iterations=args.first_iterations, **spec)


def _mean(rows: list, f) -> float:
    return sum(f(x) for x in rows) / max(1, len(rows))


def part_strategies(args, tmp: Path) -> dict:
    """Later-frame strategies on the same frames: evaluations, cost, E_temp, style/content loss."""
    out = {}
    for item in args.strategies.split(","):
        name, _, precision = item.partition(":")
        settings = _strategy_settings(args, name, precision or "auto")
        r, rep = run_pipeline(args, settings, tmp, f"s-{name}-{precision}")
        later = [x for x in r.reports if x.position > 0]
        mean = partial(_mean, later)
        out[item] = {"precision": r.precision, "frames": r.frames, "e_temp": rep.e_temp,
                     "evaluations": mean(lambda x: x.evaluations),
                     "full_size_evaluations": mean(lambda x: x.full_size_evaluations),
                     "loss_passes": mean(lambda x: x.loss_passes),
                     "later_s_per_frame": mean(lambda x: x.seconds), "frame0_s": r.reports[0].seconds,
                     "flow_s_per_frame": mean(lambda x: x.flow_seconds),
                     "wall_s": r.seconds, "stylize_s": r.stylize_seconds, "flow_s": r.flow_seconds,
                     "encode_s": r.encode_seconds,
                     "style": mean(lambda x: x.terms.get("style", 0.0)),
                     "content": mean(lambda x: x.terms.get("content", 0.0))}
        print(item, json.dumps(out[item]), flush=True)
    first = out[next(iter(out))]
    for row in out.values():  # against the first strategy listed (e.g. today's defaults in fp32)
        row["vs_first"] = {k: row[k] / first[k] if first[k] else None
                           for k in ("e_temp", "style", "content", "later_s_per_frame", "full_size_evaluations")}
    if args.plot:
        from strategy_plot import plot_strategies

        plot_strategies(out, args.plot, title=f"{args.size} px, {args.frames - 1} later frames, {args.method}: "
                                              "ratios to the first strategy")
    return out


def _cli_video(args, tmp: Path, name: str, *extra: str) -> dict:
    """``vidstyle video`` as a user runs it (defaults unless ``extra``), with --log for E_temp."""
    log = tmp / f"{name}.json"
    style = args.style or sorted(STYLES.glob("*.jpg"))[0]
    argv = [str(Path(sys.executable).with_name("vidstyle")), "video", str(args.input), str(style),
            "-o", str(tmp / f"{name}.mp4"), "--size", str(args.size), "--max-frames", str(args.frames),
            "--log", str(log), "-y", "-q", "--restart", *extra]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads or 1)))
    data = json.loads(log.read_text())
    later = [r for r in data["frame_reports"] if r["position"] > 0]
    return {"wall_s": time.perf_counter() - t0, "e_temp": data["temporal"]["e_temp"],
            "precision": data["settings"]["settings"]["engine"]["precision"],
            "later_evaluations": [r["evaluations"] for r in later],
            "mean_later_evaluations": sum(r["evaluations"] for r in later) / len(later),
            "mean_later_full_size_evaluations": sum(r["full_size_evaluations"] for r in later) / len(later),
            "mean_later_loss_passes": sum(r.get("loss_passes", 0) for r in later) / len(later),
            "later_s_per_frame": sum(r["seconds"] for r in later) / len(later),
            "frame0_s": data["frame_reports"][0]["seconds"],
            "style": sum(r["terms"]["style"] for r in later) / len(later)}


def part_mustshow(args, tmp: Path) -> dict:
    """Issue 9's check: `vidstyle video` with default settings against independent per-frame stylization
    (every frame a new shot: a still-image run from its content, no temporal loss)."""
    ours = _cli_video(args, tmp, "defaults")
    independent = _cli_video(args, tmp, "independent", "--shot-threshold", "1")
    return {"defaults": ours, "independent": independent,
            "e_temp_ratio_defaults_over_independent": ours["e_temp"] / independent["e_temp"]}


def parse(argv=None):
    from vidstyle import defaults

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", type=Path, default=SINTEL)
    p.add_argument("--style", type=Path, default=None)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--model", default=defaults.MODEL)
    p.add_argument("--method", default="dis")
    p.add_argument("--size", type=int, default=448)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--iterations", type=int, default=defaults.FRAME_ITERATIONS)
    p.add_argument("--precision", default=defaults.PRECISION, help="of --parts speed,memory,reference,weights")
    p.add_argument("--first-iterations", type=int, default=defaults.FIRST_ITERATIONS)
    p.add_argument("--ref-iterations", type=int, default=1000)
    p.add_argument("--ref-frames", type=int, default=10)
    p.add_argument("--sweep", default="0,1e7,4e7,1e8,3.9e8,1e9,4e9", help="lambda_t values of --parts weights")
    p.add_argument("--sweep-frames", type=int, default=8)
    p.add_argument("--sweep-iterations", type=int, default=30)
    p.add_argument("--parts", default="speed,memory,reference", help="any of speed,memory,reference,weights")
    p.add_argument("--strategies", default="today:fp32,today,defaults,independent",
                   help="NAME[:PRECISION],... of --parts strategies; names: " + ",".join(STRATEGIES))
    p.add_argument("--plot", type=Path, default=None,
                   help="--parts strategies: a PNG of evaluations per later frame against the ratios")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def main() -> None:
    args = parse()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = {"command": " ".join(sys.argv), "platform": platform.platform(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench_video.") as d:
        for part in args.parts.split(","):
            t0 = time.perf_counter()
            results[part] = {"speed": part_speed, "memory": part_memory, "reference": part_reference,
                             "weights": part_weights, "strategies": part_strategies,
                             "mustshow": part_mustshow}[part](args, Path(d))
            results[part]["bench_seconds"] = time.perf_counter() - t0
            print(part, json.dumps(results[part], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
