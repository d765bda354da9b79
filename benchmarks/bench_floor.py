"""How close one full-depth evaluation is to what this CPU can do: the floor under issue 9's s/frame.

    .venv/bin/python benchmarks/bench_floor.py --size 448 --height 190 --threads 2 [--layers]

Times, in alternating rounds (fastest of each kept): our loss+gradient evaluation
(bf16 autocast and fp32, the still-image objective: content, style, TV; and in bf16 with
the Gram differentiated by autograd, as before its own backward, with its own backward
in float32, as before that ran in bf16, and with its forward product in float32, as before
that ran in bf16), our
network alone (forward to relu5_1, gradient to the image, no loss terms), a plain
stack of the same 13 convolutions with ReLU and max-pooling written here, and a
2048x2048 matmul in bf16 and fp32 (the plain reference for the arithmetic rate).
GFLOP/s count the forward convolutions up to conv5_1 plus the input-gradient ones
(2x the forward FLOPs, as bench_engine.py; the Winograd layers do 2.25x fewer multiplications
than that count, so their rate is an effective one, and the "direct convolutions" rows run every layer
through oneDNN, as before them). A later video frame's evaluation adds
only the temporal term (a masked mean of squares) to this objective. ``--layers`` times each
convolution alone instead (forward and input gradient, direct against Winograd, bf16 and fp32).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_engine import CONVS, conv_gflops, load_rgb

from vidstyle import losses
from vidstyle.engine import Objective, Settings, load_network, needed_layers, resolve, stylize_terms
from vidstyle.winograd import Conv2d

ROOT = Path(__file__).resolve().parents[1]


def _conv_pass(conv, x, g, winograd):
    """Output and input gradient of one convolution, direct (oneDNN) or by Winograd."""
    conv.winograd = winograd
    xi = x.clone().requires_grad_(True)
    y = conv(xi) if winograd else F.conv2d(xi, conv.weight.to(x.dtype), conv.bias.to(x.dtype), padding=1)
    return y, torch.autograd.grad(y, xi, g)[0]


def _relative(a, ref):
    return float((a.detach().double() - ref.detach()).norm() / ref.detach().norm())


def per_layer(h: int, w: int, rounds: int) -> None:
    """Each convolution of the network at its size for an h x w image: forward plus input gradient, bf16 and
    fp32, oneDNN's direct convolution against Winograd's F(2x2, 3x3), and each one's error against float64."""
    gen = torch.Generator().manual_seed(0)
    print(f"{w}x{h}, fastest of {rounds} alternating rounds; error: relative to float64, output / input gradient")
    for name, cin, cout, down in CONVS[:13]:
        hh, ww = h, w
        for _ in range(down.bit_length() - 1):  # max-pooling floors odd sides, as the network does
            hh, ww = hh // 2, ww // 2
        conv = Conv2d(cin, cout, winograd=True).requires_grad_(False)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / (3 * cin**0.5))
        x0 = torch.randn(1, cin, hh, ww, generator=gen).relu().contiguous(memory_format=torch.channels_last)
        g0 = torch.randn(1, cout, hh, ww, generator=gen).contiguous(memory_format=torch.channels_last)
        x64 = x0.double().requires_grad_(True)
        ref = F.conv2d(x64, conv.weight.double(), conv.bias.double(), padding=1)
        (gref,) = torch.autograd.grad(ref, x64, g0.double())
        row = []
        for dtype in (torch.bfloat16, torch.float32):
            x, g = x0.to(dtype), g0.to(dtype)
            best = {False: float("inf"), True: float("inf")}
            for _ in range(rounds + 1):
                for on in best:
                    t0 = time.perf_counter()
                    _conv_pass(conv, x, g, on)
                    best[on] = min(best[on], time.perf_counter() - t0)
            errors = []
            for on in best:
                y, gx = _conv_pass(conv, x, g, on)
                errors.append(f"{_relative(y, ref):.1e}/{_relative(gx, gref):.1e}")
            row.append(f"{best[False] * 1e3:6.1f} {best[True] * 1e3:6.1f} ms ({best[True] / best[False]:.2f}x), "
                       f"error {errors[0]} {errors[1]}")
        print(f"  {name} {cin:3d}->{cout:3d} {ww:3d}x{hh:3d}  bf16 {row[0]} | fp32 {row[1]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=448, help="width, px")
    ap.add_argument("--height", type=int, default=190, help="height, px (Sintel's 448 px frames: 190)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layers", action="store_true",
                    help="instead: each VGG convolution alone, forward and input gradient, direct against Winograd")
    ap.add_argument("--frame-seconds", type=float, default=8.0, help="issue 9's target per later frame")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h, w = args.height, args.size
    if args.layers:
        per_layer(h, w, args.rounds)
        return

    content = F.interpolate(load_rgb(ROOT / "samples" / "content-landscape.png", w), size=(h, w), mode="bilinear")
    style = load_rgb(ROOT / "samples" / "style-swirls.png", w)
    settings = resolve(Settings(size=w, init="content", precision="bf16"))[0]
    net = load_network(settings, needed_layers(settings))
    terms = stylize_terms(net, settings, content, [style], (h, w))
    x = content.clone().requires_grad_(True)
    layers = sorted(set(settings.style_layers) | set(settings.content_layers))

    # fp32 rows on a network of their own: a Winograd layer keeps the kernels of the dtype it last ran.
    nets = {"bf16": net, "fp32": load_network(settings, needed_layers(settings))}

    def ours(precision):
        objective = Objective(nets[precision], terms, precision=precision)
        return lambda: torch.autograd.grad(objective(x)[0], x)

    def plain_gram(features, norm="chw"):
        # The Gram before its own backward: autograd differentiates A @ A.t() as two float32 products.
        _, c, hh, ww = features.shape
        flat = features.float().reshape(c, hh * ww)
        return losses.normalise_gram((flat @ flat.t()).unsqueeze(0), c, hh * ww, norm)

    class WideBackward(torch.autograd.Function):
        # The Gram as it was before its backward ran in bf16: float32 products both ways, rounded to bf16.
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            wide = a.float()
            return wide @ wide.t()

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return (a.float().t() @ (grad + grad.t())).t().to(a.dtype)

    def wide_backward_gram(features, norm="chw"):
        _, c, hh, ww = features.shape
        rows = features.permute(0, 2, 3, 1).reshape(hh * ww, c).t()  # channels-last features, as ours
        return losses.normalise_gram(WideBackward.apply(rows).unsqueeze(0), c, hh * ww, norm)

    class WideForward(losses._SelfProduct):
        # The Gram's forward as it was before it ran in bf16: one float32 product of the widened features
        # (the backward is today's, bf16).
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            wide = a.float()
            return wide @ wide.t()

    def wide_forward_gram(features, norm="chw"):
        _, c, hh, ww = features.shape
        rows = features.permute(0, 2, 3, 1).reshape(hh * ww, c).t()
        return losses.normalise_gram(WideForward.apply(rows).unsqueeze(0), c, hh * ww, norm)

    def with_gram(gram):
        def run():
            saved, losses.gram_matrix = losses.gram_matrix, gram  # style_loss looks it up when called
            try:
                return ours_bf16()
            finally:
                losses.gram_matrix = saved
        return run

    def network_only():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            feats = net(x, layers)
        return torch.autograd.grad(sum(f.float().mean() for f in feats.values()), x)

    convs = [torch.nn.Conv2d(cin, cout, 3, padding=1).requires_grad_(False).to(memory_format=torch.channels_last)
             for _, cin, cout, _ in CONVS[:13]]  # conv1_1 .. conv5_1

    def plain_stack():
        y = x.contiguous(memory_format=torch.channels_last)
        outs = []
        with torch.autocast("cpu", dtype=torch.bfloat16):
            for (name, *_), conv in zip(CONVS, convs):
                if name.endswith("_1") and name != "conv1_1":
                    y = F.max_pool2d(y, 2)
                y = F.relu(conv(y))
                outs.append(y)
        return torch.autograd.grad(sum(o.float().mean() for o in outs), x)

    winograd = [m for n in nets.values() for m in n.layers if isinstance(m, Conv2d) and m.winograd]

    def direct(fn):
        # The same evaluation with every convolution direct (oneDNN), as before Winograd's layers.
        def run():
            for m in winograd:
                m.winograd = False
            try:
                return fn()
            finally:
                for m in winograd:
                    m.winograd = True
        return run

    n = 2048
    a16, b16 = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a32, b32 = a16.float(), b16.float()
    ours_bf16 = ours("bf16")
    ours_fp32 = ours("fp32")
    fns = {"evaluation, ours, bf16": ours_bf16, "evaluation, ours, fp32": ours_fp32,
           "evaluation, bf16, direct convolutions": direct(ours_bf16),
           "evaluation, fp32, direct convolutions": direct(ours_fp32),
           "evaluation, bf16, Gram by autograd": with_gram(plain_gram),
           "evaluation, bf16, Gram's forward fp32": with_gram(wide_forward_gram),
           "evaluation, bf16, Gram fp32 both ways": with_gram(wide_backward_gram),
           "network only, bf16": network_only,
           "network only, bf16, direct convolutions": direct(network_only),
           "plain conv/ReLU/pool stack, bf16": plain_stack,
           "matmul 2048, bf16": lambda: a16 @ b16, "matmul 2048, fp32": lambda: a32 @ b32}
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn(), fn()
    for _ in range(args.rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)

    gflop = 2 * conv_gflops(h, w, "conv5_1")
    print(f"{w}x{h}, {args.threads} thread(s), {gflop:.1f} GFLOP of convolutions per evaluation")
    rate = {k: (2 * n**3 / 1e9 if k.startswith("matmul") else gflop) / t for k, t in best.items()}
    for k, t in best.items():
        ref = "matmul 2048, bf16" if "bf16" in k else "matmul 2048, fp32"
        print(f"  {k:42s} {t * 1e3:8.1f} ms  {rate[k]:6.0f} GFLOP/s  {rate[k] / rate[ref]:5.2f}x the matmul's rate")
    t = best["evaluation, ours, bf16"]
    print(f"  {args.frame_seconds:.0f} s a later frame buys {args.frame_seconds / t:.1f} evaluations at this rate "
          f"(network alone: {args.frame_seconds / best['network only, bf16']:.1f})")


if __name__ == "__main__":
    main()
