"""Still-image engine vs a plain textbook loop, measured in the same run.

    python benchmarks/bench_engine.py                     # full depth, bundled original VGG-19, 256 and 512 px
    python benchmarks/bench_engine.py --sizes 256 --ref-iterations 100   # a quick look
    python benchmarks/bench_engine.py --model caffe --weights ../shared/weights/vgg19-caffe-conv1_1-conv3_4.pth

Both sides optimize the same objective (the default layers: style relu1_1..relu5_1,
content relu4_2, or the shallow set for a partial --weights file; TV; the default
caffe-convention weights) from the content image. The reference is written here on
purpose without any of the engine's code: every convolution in the weights runs on
every step (to conv5_4), in float32, Grams by matmul, torch.optim.LBFGS (strong
Wolfe line search: without it the loop diverges on these losses, see vidstyle/lbfgs.py).

Reported per size:
  (a) seconds per loss+gradient evaluation, ours (--precision, default auto) / reference,
      and ours in fp32 / reference                                  (target <= 0.5)
  (b) wall seconds for ours to reach the loss the reference has after N iterations
      (default 300), divided by the reference's wall seconds for those N iterations
                                                                    (target <= 0.1)
  (c) with --compare: ours run to its early stop in fp32 and in bf16, the final
      losses (both images scored by the same float32 objective) and the two images
      side by side in benchmarks/precision-<size>.png               (target within 3 %)
"""

from __future__ import annotations

import argparse
import dataclasses
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
from vidstyle.engine import Objective, Settings, load_network, needed_layers, resolve, stylize_terms
from vidstyle.imageio import save_image
from vidstyle.optimize import OptimizerSettings
from vidstyle.weights import WeightsSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STYLE = SHARED / "data" / "styles" / "starry_night.jpg"
CONTENT = ROOT / "samples" / "content-landscape.png"

# (name, in channels, out channels, downsampling before it) of VGG-19's convolutions
CONVS = [(f"conv{b}_{k}", (3 if (b, k) == (1, 1) else cin if k == 1 else cout), cout, 2 ** (b - 1))
         for b, (n, cin, cout) in enumerate([(2, 3, 64), (2, 64, 128), (4, 128, 256), (4, 256, 512), (4, 512, 512)],
                                            start=1) for k in range(1, n + 1)]
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
    """Every convolution in the weights, run in full on every call (Caffe convention)."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        layers, names = [], []
        idx = 0
        for block, n_convs in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]:
            if f"features.{idx + (1 if layers else 0)}.weight" not in state:
                break  # a partial file stops here
            if layers:
                layers.append(nn.MaxPool2d(2, 2))
                names.append(f"pool{block - 1}")
                idx += 1
            for k in range(1, n_convs + 1):
                w, b = state[f"features.{idx}.weight"], state[f"features.{idx}.bias"]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                layers += [conv, nn.ReLU()]
                names += [f"conv{block}_{k}", f"relu{block}_{k}"]
                idx += 2
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


def textbook_loss(net: TextbookVGG, x, content_t, style_t, weights, layers) -> torch.Tensor:
    style_layers, content_layer = layers
    feats = net(x)
    loss = weights.content * F.mse_loss(feats[content_layer], content_t)
    style = 0.0
    for name in style_layers:
        f = feats[name]
        _, c, h, w = f.shape
        m = f.reshape(c, h * w)
        style = style + F.mse_loss(m @ m.t() / (c * h * w), style_t[name]) / len(style_layers)
    loss = loss + weights.style * style
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return loss + weights.tv * (dx.pow(2).mean() + dy.pow(2).mean())


def run_reference(net, content, style, weights, iterations: int, layers) -> dict:
    with torch.no_grad():
        content_t = net(content)[layers[1]]
        sf = net(style)
        style_t = {}
        for name in layers[0]:
            _, c, h, w = sf[name].shape
            m = sf[name].reshape(c, h * w)
            style_t[name] = m @ m.t() / (c * h * w)
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=iterations * 3, history_size=100,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        loss = textbook_loss(net, x, content_t, style_t, weights, layers)
        loss.backward()
        return loss

    start = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - start
    n_iter = opt.state[opt._params[0]]["n_iter"]
    with torch.no_grad():
        final = x.detach().clamp(0, 1)
        loss = float(textbook_loss(net, final, content_t, style_t, weights, layers))
    return {"seconds": seconds, "iterations": n_iter, "evaluations": evals, "loss": loss,
            "s_per_eval": seconds / evals, "content_t": content_t, "style_t": style_t}


# ------------------------------------------------------------------ ours


def engine_settings(args, size: int, precision: str, max_iterations: int) -> Settings:
    settings = Settings(size=size, model=args.model, weights=args.weights, init="content", scales="auto",
                        precision=precision, optim=OptimizerSettings(iterations=max_iterations))
    return resolve(settings)[0]


def run_ours(args, content, style, size: int, target: float | None, max_iterations: int, precision: str,
             net=None) -> dict:
    """Our engine from the content image; with ``target``, stopped once the final scale reaches that loss."""
    settings = engine_settings(args, size, precision, max_iterations)
    net = net or load_network(settings, needed_layers(settings))
    reached = {"seconds": None, "iteration": None}

    def callback(info):
        if target is not None and reached["seconds"] is None and info.scale == info.scales - 1 and info.loss <= target:
            reached.update(seconds=info.seconds, iteration=info.iteration)

    def should_stop():
        return reached["seconds"] is not None

    result = vidstyle.stylize_image(content, [style], settings=settings, net=net, callback=callback,
                                    should_stop=should_stop)
    return {"seconds": result.seconds, "iterations": result.iterations, "evaluations": result.evaluations,
            "loss": result.loss, "reached_seconds": reached["seconds"], "reached_iteration": reached["iteration"],
            "scales": [sc["size"] for sc in result.scales], "net": net, "settings": settings,
            "precision": result.precision, "image": result.image}


def per_eval_times(net, settings, ref_net, content, style, ref, weights, layers, rounds: int) -> dict[str, float]:
    """Seconds per loss+gradient evaluation at the final size (no optimizer): ours at the run's
    precision, ours in fp32, and the reference.

    They are timed in alternating rounds and the fastest round of each is kept,
    so a busy machine slows all alike instead of whichever ran last.
    """
    terms = stylize_terms(net, settings, content, [style], tuple(content.shape[-2:]))
    x = content.clone().requires_grad_(True)
    fns = {}
    for p in dict.fromkeys([settings.precision, "fp32"]):
        objective = Objective(net, terms, precision=p)
        fns[f"ours_{p}"] = lambda o=objective: torch.autograd.grad(o(x)[0], x)
    fns["reference"] = lambda: torch.autograd.grad(
        textbook_loss(ref_net, x, ref["content_t"], ref["style_t"], weights, layers), x)
    best = {k: float("inf") for k in fns}
    for fn in fns.values():  # warm-up
        fn(), fn()
    for _ in range(rounds):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def side_by_side(images: list[torch.Tensor], path: Path) -> None:
    gap = torch.ones(1, 3, images[0].shape[-2], 8)
    save_image(torch.cat([images[0], gap, images[1]], dim=-1), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--ref-iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds timed for (a)")
    parser.add_argument("--model", default=defaults.MODEL)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compare", default="256", help="sizes of (c), bf16 against fp32 ('' for none)")
    parser.add_argument("--compare-iterations", type=int, default=500)
    parser.add_argument("--skip-b", action="store_true", help="no reference run to N iterations (only (a), (c))")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    state, origin = load_spec(WeightsSpec(args.model, args.weights))
    ref_net = TextbookVGG(state)
    weights = defaults.loss_weights(args.model)
    probe = engine_settings(args, 64, "fp32", 1)
    layers = (tuple(probe.style_layers), probe.content_layers[0])
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, "
          f"weights {origin}, style {','.join(layers[0])}, content {layers[1]}, reference to {ref_net.names[-1]}")
    rows = []
    for size in (int(v) for v in args.sizes.split(",")):
        content, style = load_rgb(CONTENT, size), load_rgb(STYLE, size)
        h, w = content.shape[-2:]
        row = {"size": f"{w}x{h}"}
        settings = engine_settings(args, size, args.precision, 1)
        net = load_network(settings, needed_layers(settings))
        if args.skip_b:
            ref = run_reference(ref_net, content, style, weights, 1, layers)
        else:
            ref = run_reference(ref_net, content, style, weights, args.ref_iterations, layers)
            ours = run_ours(args, content, style, size, ref["loss"], max(500, 2 * args.ref_iterations),
                            args.precision, net)
            settings = ours["settings"]
            row.update({"ref_iterations": ref["iterations"], "ref_evaluations": ref["evaluations"],
                        "ref_seconds": ref["seconds"], "ref_loss": ref["loss"], "ours_scales": ours["scales"],
                        "ours_reached_seconds": ours["reached_seconds"],
                        "ours_reached_iteration": ours["reached_iteration"], "ours_evaluations": ours["evaluations"],
                        "ours_precision": ours["precision"],
                        "ratio_b": (ours["reached_seconds"] / ref["seconds"]) if ours["reached_seconds"] else None})
        from vidstyle.precision import choose

        chosen = choose(settings.precision, torch.device("cpu")).precision
        settings = dataclasses.replace(settings, precision=chosen)
        # Same objective on both sides: check on the content image.
        terms = stylize_terms(net, settings, content, [style], (h, w))
        with torch.no_grad():
            ours_at_content = float(Objective(net, terms)(content)[0])
            ref_at_content = float(textbook_loss(ref_net, content, ref["content_t"], ref["style_t"], weights, layers))
        t = per_eval_times(net, settings, ref_net, content, style, ref, weights, layers, args.rounds)
        t_ours = t[f"ours_{settings.precision}"]
        row.update({"objective_agreement": ours_at_content / ref_at_content, "precision": settings.precision,
                    "ref_s_per_eval": t["reference"], "ours_s_per_eval": t_ours, "ours_fp32_s_per_eval": t["ours_fp32"],
                    "ratio_a": t_ours / t["reference"], "ratio_a_fp32": t["ours_fp32"] / t["reference"],
                    "ref_gflops": 2 * conv_gflops(h, w, ref_net.names[-2]) / t["reference"]})
        if str(size) in args.compare.split(","):
            runs = {p: run_ours(args, content, style, size, None, args.compare_iterations, p, net)
                    for p in ("fp32", "bf16")}
            fp32_terms = stylize_terms(net, runs["fp32"]["settings"], content, [style], (h, w))
            with torch.no_grad():
                scored = {p: float(Objective(net, fp32_terms)(r["image"])[0]) for p, r in runs.items()}
            png = ROOT / "benchmarks" / f"precision-{size}.png"
            side_by_side([runs["fp32"]["image"], runs["bf16"]["image"]], png)
            row.update({"compare_fp32_loss": scored["fp32"], "compare_bf16_loss": scored["bf16"],
                        "compare_loss_ratio": scored["bf16"] / scored["fp32"],
                        "compare_fp32_seconds": runs["fp32"]["seconds"],
                        "compare_bf16_seconds": runs["bf16"]["seconds"],
                        "compare_fp32_evaluations": runs["fp32"]["evaluations"],
                        "compare_bf16_evaluations": runs["bf16"]["evaluations"],
                        "compare_max_pixel_diff": float((runs["fp32"]["image"] - runs["bf16"]["image"]).abs().max()),
                        "compare_png": str(png.relative_to(ROOT))})
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    print("\n| size | precision | s/eval ref (fp32) | s/eval ours | **(a) ours/ref** | ours fp32/ref | ref loss @N "
          "| ref s | ours s to that loss | **(b) ratio** |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = f"{r['ratio_b']:.3f}" if r.get("ratio_b") is not None else ("not reached" if "ratio_b" in r else "-")
        reached = f"{r['ours_reached_seconds']:.1f}" if r.get("ours_reached_seconds") else "-"
        print(f"| {r['size']} | {r['precision']} | {r['ref_s_per_eval']:.3f} | {r['ours_s_per_eval']:.3f} "
              f"| {r['ratio_a']:.2f} | {r['ratio_a_fp32']:.2f} | {r.get('ref_loss', float('nan')):.4g} "
              f"| {r.get('ref_seconds', float('nan')):.1f} | {reached} | {b} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
