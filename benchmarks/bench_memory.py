"""Memory estimate (vidstyle/memory.py) against the measured peak RSS of real runs.

Each size runs in a fresh process: build VGG-19 up to relu5_1 (random weights: memory does not
depend on their values), load a content and a style image, read VmRSS (the baseline), run
``stylize_image`` for a few L-BFGS iterations at full depth (style relu1_1..relu5_1, content
relu4_2, no coarse-to-fine scales), then read the peak RSS (ru_maxrss). The run's measured memory is
peak - baseline; the estimate compared with it is the run's part (features, optimizer, style pass and
the Winograd layers' transformed kernels, which the first evaluation makes: everything but the weights,
which the baseline holds).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory.py [--sizes 256,384,512] [--iterations 32]

``--video``: the same for ``stylize_video`` on the Sintel clip of ../shared (3 frames, DIS flow, frame 0
one scale; the bundled full-depth weights), against the estimate with the video allowance.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
from vidstyle import defaults
from vidstyle.engine import Settings, stylize_image
from vidstyle.imageio import load_image
from vidstyle.optimize import OptimizerSettings
from vidstyle.vgg import LAYERS, VGGFeatures

size, iterations, optimizer = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
g = torch.Generator().manual_seed(0)
state = {}
for i, (name, kind, c_in, c_out) in enumerate(LAYERS[:30]):
    if kind == "conv":
        state[f"features.{i}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(c_out)
net = VGGFeatures(state, model="caffe", last_layer="relu5_1")
del state
content = load_image("samples/content-landscape.png")
style = load_image("samples/style-mosaic.png")
settings = Settings(size=size, model="caffe", scales="none", init="content", content_weight=1.0, style_weight=1.0,
                    tv_weight=0.0, optim=OptimizerSettings(optimizer=optimizer, iterations=iterations,
                                                           min_iterations=iterations, tol=0.0))
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
base = rss()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = stylize_image(content, [style], settings=settings, net=net)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"hw": list(result.image.shape[-2:]), "style_hw": None, "base": base, "peak": peak,
                  "peak_before": peak_before, "iterations": result.iterations}))
"""


VIDEO_CHILD = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
from vidstyle.engine import Settings, load_network, needed_layers, resolve
from vidstyle.imageio import load_image
from vidstyle.optimize import OptimizerSettings
from vidstyle.video.pipeline import VideoSettings, stylize_video

size, iterations, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
es = Settings(size=size, scales="none", init="content",
              optim=OptimizerSettings(iterations=iterations, min_iterations=iterations, tol=0.0))
vs = VideoSettings(engine=es, first_iterations=iterations, method="dis", max_frames=3)
net = load_network(resolve(es)[0], needed_layers(resolve(es)[0]))
style = load_image("samples/style-mosaic.png")
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
base = rss()
result = stylize_video("../shared/data/sintel-50f.mp4", [style], output=out, settings=vs, net=net, overwrite=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"hw": list(result.size), "base": base, "peak": peak}))
"""


def video(sizes: list[int], iterations: int) -> None:
    import tempfile

    from vidstyle import defaults, memory

    layers = list(defaults.STYLE_LAYERS) + list(defaults.CONTENT_LAYERS)
    print("| --size | frame (WxH) | estimate (run, video) | measured peak - baseline | estimate / measured |")
    print("|---|---|---|---|---|")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", VIDEO_CHILD, str(size), str(iterations), f"{tmp}/o.mp4"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        hw = tuple(m["hw"])
        est = memory.estimate(hw, layers, video=True, style_hw=[memory.scaled((512, 512), max(hw))])
        run_est, measured = est.total - 2 * memory.weight_bytes("relu5_1"), m["peak"] - m["base"]
        print(f"| {size} | {hw[1]}x{hw[0]} | {memory.gib(run_est)} | {memory.gib(measured)} | "
              f"{run_est / measured:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,384,512")
    ap.add_argument("--iterations", type=int, default=32, help="> LBFGS_HISTORY, so the history is full")
    ap.add_argument("--optimizer", default="lbfgs")
    ap.add_argument("--video", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.video:
        video([int(s) for s in args.sizes.split(",")], args.iterations)
        return
    from PIL import Image

    from vidstyle import defaults, memory

    layers = list(defaults.STYLE_LAYERS) + list(defaults.CONTENT_LAYERS)
    with Image.open(ROOT / "samples" / "style-mosaic.png") as im:
        style_wh = im.size
    print("| --size | frame (WxH) | estimate (run) | measured peak - baseline | estimate / measured |")
    print("|---|---|---|---|---|")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(args.iterations), args.optimizer],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        hw = tuple(m["hw"])
        style_hw = memory.scaled((style_wh[1], style_wh[0]), max(hw))
        est = memory.estimate(hw, layers, optimizer=args.optimizer, style_hw=[style_hw])
        run_est = est.total - 2 * memory.weight_bytes("relu5_1")  # the weights are in the baseline
        measured = m["peak"] - m["base"]
        rows.append({"size": size, "hw": hw, "estimate": run_est, "measured": measured, "parts": est.__dict__})
        print(f"| {size} | {hw[1]}x{hw[0]} | {memory.gib(run_est)} | {memory.gib(measured)} | "
              f"{run_est / measured:.2f} |", flush=True)
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
