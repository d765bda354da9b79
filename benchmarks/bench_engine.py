"""Still-image engine vs a plain textbook loop, measured in the same run.

    python benchmarks/bench_engine.py                       # 256 and 512 px, ../shared weights
    python benchmarks/bench_engine.py --sizes 256 --ref-iterations 100   # a quick look

Both sides optimize the same objective (style relu1_1, relu2_1, relu3_1; content
relu3_2; TV; the caffe defaults of vidstyle.defaults) from the content image, on
the real partial VGG-19 in ../shared/weights. The reference is written here on
purpose without any of the engine's code: the whole network in the file runs on
every step (to relu3_4), Grams by matmul, torch.optim.LBFGS (strong Wolfe line
search: without it the loop diverges on these losses, see vidstyle/lbfgs.py).

Reported per size:
  (a) seconds per loss+gradient evaluation, ours / reference   (target <= 0.9)
  (b) wall seconds for ours to reach the loss the reference has after N
      iterations (default 300), divided by the reference's wall seconds for those
      N iterations                                                (target <= 0.5)
  and the convolution GFLOP/s each side achieves.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import vidstyle
from vidstyle import defaults
from vidstyle.engine import Objective, Settings, load_network, stylize_terms
from vidstyle.optimize import OptimizerSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "vgg19-caffe-conv1_1-conv3_4.pth"
STYLE = SHARED / "data" / "styles" / "starry_night.jpg"
CONTENT = ROOT / "samples" / "content-landscape.png"

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
CONTENT_LAYERS = ("relu3_2",)
# (name, in channels, out channels, downsampling before it) of the convs in the file
CONVS = [("conv1_1", 3, 64, 1), ("conv1_2", 64, 64, 1), ("conv2_1", 64, 128, 2), ("conv2_2", 128, 128, 2),
         ("conv3_1", 128, 256, 4), ("conv3_2", 256, 256, 4), ("conv3_3", 256, 256, 4), ("conv3_4", 256, 256, 4)]
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def load_rgb(path: Path, long_side: int) -> torch.Tensor:
    img = Image.open(path).convert("RGB")
    k = long_side / max(img.size)
    img = img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))), Image.LANCZOS)
    return torch.from_numpy(__import__("numpy").asarray(img).copy()).permute(2, 0, 1)[None].float().contiguous() / 255


def conv_gflops(h: int, w: int, last: str) -> float:
    """Forward conv FLOPs (2 per multiply-add) up to and including conv ``last``, in GFLOP."""
    total = 0.0
    for name, cin, cout, down in CONVS:
        total += 2 * cin * cout * 9 * (h // down) * (w // down)
        if name == last:
            break
    return total / 1e9


# ------------------------------------------------------------------ reference


class TextbookVGG(nn.Module):
    """Every layer in the weight file, run in full on every call."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        layers, names = [], []
        idx = 0
        for block, n_convs in ((1, 2), (2, 2), (3, 4)):
            for k in range(1, n_convs + 1):
                w, b = state[f"features.{idx}.weight"], state[f"features.{idx}.bias"]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                layers += [conv, nn.ReLU()]
                names += [f"conv{block}_{k}", f"relu{block}_{k}"]
                idx += 2
            if block < 3:
                layers.append(nn.MaxPool2d(2, 2))
                names.append(f"pool{block}")
                idx += 1
        self.layers = nn.ModuleList(layers)
        self.names = names
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))

    def forward(self, rgb01: torch.Tensor) -> dict[str, torch.Tensor]:
        h = rgb01.flip(1) * 255 - self.mean
        out = {}
        for name, layer in zip(self.names, self.layers):
            h = layer(h)
            out[name] = h
        return out


def textbook_loss(net: TextbookVGG, x, content_t, style_t, weights) -> torch.Tensor:
    feats = net(x)
    loss = weights.content * F.mse_loss(feats["relu3_2"], content_t)
    style = 0.0
    for name in STYLE_LAYERS:
        f = feats[name]
        _, c, h, w = f.shape
        m = f.view(c, h * w)
        style = style + F.mse_loss(m @ m.t() / (c * h * w), style_t[name]) / len(STYLE_LAYERS)
    loss = loss + weights.style * style
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return loss + weights.tv * (dx.pow(2).mean() + dy.pow(2).mean())


def run_reference(net, content, style, weights, iterations: int) -> dict:
    with torch.no_grad():
        content_t = net(content)["relu3_2"]
        sf = net(style)
        style_t = {}
        for name in STYLE_LAYERS:
            _, c, h, w = sf[name].shape
            m = sf[name].view(c, h * w)
            style_t[name] = m @ m.t() / (c * h * w)
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=iterations * 3, history_size=100,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        loss = textbook_loss(net, x, content_t, style_t, weights)
        loss.backward()
        return loss

    start = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - start
    n_iter = opt.state[opt._params[0]]["n_iter"]
    with torch.no_grad():
        final = x.detach().clamp(0, 1)
        loss = float(textbook_loss(net, final, content_t, style_t, weights))
    return {"seconds": seconds, "iterations": n_iter, "evaluations": evals, "loss": loss,
            "s_per_eval": seconds / evals, "content_t": content_t, "style_t": style_t}


# ------------------------------------------------------------------ ours


def run_ours(content, style, size: int, target: float, max_iterations: int) -> dict:
    settings = Settings(size=size, model="caffe", weights=WEIGHTS, content_layers=CONTENT_LAYERS,
                        style_layers=STYLE_LAYERS, init="content", scales="auto",
                        optim=OptimizerSettings(iterations=max_iterations))
    settings, _ = vidstyle.engine.resolve(settings)
    net = load_network(settings, list(STYLE_LAYERS + CONTENT_LAYERS))
    evals = {"n": 0}
    forward = net.forward

    def counting_forward(x, layers):
        if torch.is_grad_enabled() and x.requires_grad:
            evals["n"] += 1
        return forward(x, layers)

    net.forward = counting_forward
    reached = {"seconds": None, "iteration": None}
    last = {}

    def callback(info):
        last.update(scale=info.scale, scales=info.scales, iteration=info.iteration, seconds=info.seconds,
                    loss=info.loss)
        if reached["seconds"] is None and info.scale == info.scales - 1 and info.loss <= target:
            reached.update(seconds=info.seconds, iteration=info.iteration)

    def should_stop():
        return reached["seconds"] is not None

    result = vidstyle.stylize_image(content, [style], settings=settings, net=net, callback=callback,
                                    should_stop=should_stop)
    return {"seconds": result.seconds, "iterations": result.iterations, "evaluations": evals["n"],
            "loss": result.loss, "reached_seconds": reached["seconds"], "reached_iteration": reached["iteration"],
            "scales": [s["size"] for s in result.scales], "net": net, "settings": settings}


def per_eval_times(net, settings, ref_net, content, style, ref, weights, rounds: int) -> tuple[float, float]:
    """Seconds per loss+gradient evaluation at the final size (no optimizer), ours and the reference.

    The two are timed in alternating rounds and the fastest round of each is kept,
    so a busy machine slows both alike instead of whichever ran second.
    """
    terms = stylize_terms(net, settings, content, [style], tuple(content.shape[-2:]))
    objective = Objective(net, terms)
    x = content.clone().requires_grad_(True)

    def ours():
        torch.autograd.grad(objective(x)[0], x)

    def reference():
        torch.autograd.grad(textbook_loss(ref_net, x, ref["content_t"], ref["style_t"], weights), x)

    best = {ours: float("inf"), reference: float("inf")}
    for fn in best:  # warm-up
        fn(), fn()
    for _ in range(rounds):
        for fn in best:
            start = time.perf_counter()
            for _ in range(3):
                fn()
            best[fn] = min(best[fn], (time.perf_counter() - start) / 3)
    return best[ours], best[reference]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--ref-iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds of 3 evaluations timed for (a)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not WEIGHTS.exists():
        raise SystemExit(f"{WEIGHTS} not found: this benchmark needs ../shared beside the project")
    torch.manual_seed(0)
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    ref_net = TextbookVGG(state)
    weights = defaults.loss_weights("caffe")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        content, style = load_rgb(CONTENT, size), load_rgb(STYLE, size)
        h, w = content.shape[-2:]
        ref = run_reference(ref_net, content, style, weights, args.ref_iterations)
        ours = run_ours(content, style, size, ref["loss"], max_iterations=max(500, 2 * args.ref_iterations))
        # Same objective on both sides: check on the content image.
        terms = stylize_terms(ours["net"], ours["settings"], content, [style], (h, w))
        with torch.no_grad():
            ours_at_content = float(Objective(ours["net"], terms)(content)[0])
            ref_at_content = float(textbook_loss(ref_net, content, ref["content_t"], ref["style_t"], weights))
        t_ours, t_ref = per_eval_times(ours["net"], ours["settings"], ref_net, content, style, ref, weights,
                                       args.rounds)
        row = {
            "size": f"{w}x{h}",
            "objective_agreement": ours_at_content / ref_at_content,
            "ref_s_per_eval": t_ref, "ours_s_per_eval": t_ours, "ratio_a": t_ours / t_ref,
            "ref_gflops": 2 * conv_gflops(h, w, "conv3_4") / t_ref,
            "ours_gflops": 2 * conv_gflops(h, w, "conv3_2") / t_ours,
            "ref_iterations": ref["iterations"], "ref_evaluations": ref["evaluations"],
            "ref_seconds": ref["seconds"], "ref_loss": ref["loss"],
            "ours_scales": ours["scales"], "ours_reached_seconds": ours["reached_seconds"],
            "ours_reached_iteration": ours["reached_iteration"], "ours_evaluations": ours["evaluations"],
            "ours_final_loss": ours["loss"],
            "ratio_b": (ours["reached_seconds"] / ref["seconds"]) if ours["reached_seconds"] else None,
        }
        rows.append(row)
        print(json.dumps(row, indent=1))
    print("\n| size | s/eval ref | s/eval ours | (a) ours/ref | GFLOP/s ref | GFLOP/s ours | ref loss @N "
          "| ref s | ours s to that loss | (b) ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = f"{r['ratio_b']:.2f}" if r["ratio_b"] is not None else "not reached"
        reached = f"{r['ours_reached_seconds']:.1f}" if r["ours_reached_seconds"] else "-"
        print(f"| {r['size']} | {r['ref_s_per_eval']:.3f} | {r['ours_s_per_eval']:.3f} | {r['ratio_a']:.2f} "
              f"| {r['ref_gflops']:.1f} | {r['ours_gflops']:.1f} | {r['ref_loss']:.4g} | {r['ref_seconds']:.1f} "
              f"| {reached} | {b} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
