"""What the bundled 8-bit VGG-19 costs against the same weights in float32.

The same style-transfer run (content, style, seed, iterations, layers relu1_1-relu3_1 /
relu3_2, the depth the float file in ../shared covers) once with the bundled
original weights and once with ../shared/weights/vgg19-caffe-conv1_1-conv3_4.pth.
Reports each run's final loss, both outputs' loss under the float network (so the
two images are judged by one yardstick), and the PSNR between the two outputs;
writes them side by side as a PNG.

    python benchmarks/bench_quantization.py --size 256 --iterations 200
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from vidstyle.engine import Objective, Settings, load_network, needed_layers, stylize_image, stylize_terms
from vidstyle.imageio import load_image, save_image, to_uint8
from vidstyle.optimize import OptimizerSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", type=Path, default=ROOT / "samples" / "content-landscape.png")
    p.add_argument("--style", type=Path, default=SHARED / "data" / "styles" / "starry_night.jpg")
    p.add_argument("--float-weights", type=Path, default=SHARED / "weights" / "vgg19-caffe-conv1_1-conv3_4.pth")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "quantization.png")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    content, style = load_image(args.content), load_image(args.style)
    base = Settings(size=args.size, init="content", scales="none", content_layers=("relu3_2",),
                    style_layers=("relu1_1", "relu2_1", "relu3_1"),
                    optim=OptimizerSettings(iterations=args.iterations, min_iterations=args.iterations, tol=0.0))
    runs = {"bundled 8-bit": base, "float32": Settings(**{**base.__dict__, "model": "caffe",
                                                          "weights": args.float_weights})}
    results = {}
    for name, settings in runs.items():
        t = time.perf_counter()
        r = stylize_image(content, [style], settings=settings)
        results[name] = r
        print(f"{name:14s} loss {r.loss:.6g} ({', '.join(f'{k} {v:.4g}' for k, v in r.terms.items())}), "
              f"{r.iterations} iterations, {time.perf_counter() - t:.1f} s")

    # One yardstick: both outputs scored by the float network with the float run's targets.
    float_settings = runs["float32"]
    from vidstyle.engine import resolve

    fs, _ = resolve(float_settings)
    net = load_network(fs, needed_layers(fs))
    hw = tuple(results["float32"].image.shape[-2:])
    objective = Objective(net, stylize_terms(net, fs, content, [style], hw))
    with torch.no_grad():
        scored = {name: float(objective(r.image)[0]) for name, r in results.items()}
    a, b = results["bundled 8-bit"].image, results["float32"].image
    report = {
        "size": list(hw), "iterations": args.iterations,
        "final_loss": {k: r.loss for k, r in results.items()},
        "final_loss_rel_diff": abs(results["bundled 8-bit"].loss - results["float32"].loss) / results["float32"].loss,
        "loss_under_float_network": scored,
        "loss_under_float_network_rel_diff": abs(scored["bundled 8-bit"] - scored["float32"]) / scored["float32"],
        "psnr_db": psnr(a, b),
        "mean_abs_diff": float((a - b).abs().mean()),
    }
    print(json.dumps(report, indent=1))
    sheet = np.concatenate([to_uint8(a), np.full((hw[0], 4, 3), 255, np.uint8), to_uint8(b)], axis=1)
    save_image(sheet, args.out)
    print(f"wrote {args.out} (left: bundled 8-bit, right: float32)")


if __name__ == "__main__":
    main()
