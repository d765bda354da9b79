"""Flow backends, reliability masks and the flow cache on the real Sintel clip.

    python benchmarks/bench_flow.py                          # 3 pairs per setting, 1024x436 and 448x192
    python benchmarks/bench_flow.py --pairs 5 --methods dis-fast,dis-medium --sizes 448x192
    python benchmarks/bench_flow.py --fast-motion --sizes 448x190,192x82 --threads 1   # why DIS fine is the default

Reported per backend and size: seconds per frame pair for forward flow +
backward flow + reliability mask (what the video pipeline needs per frame),
without the cache, averaged over --pairs consecutive pairs after one warm-up
pair. SPyNet runs with seeded random weights unless VIDSTYLE_SPYNET_WEIGHTS
names a weights file: its speed does not depend on the weight values.

Plain references measured in the same run:
  mask   ours (torch) vs a plain NumPy + cv2.remap + cv2.GaussianBlur version of
         the same formula, and the share of pixels where the two masks differ by more
         than 0.01 (cv2.remap samples at 1/32 px, which flips threshold decisions on a few pixels);
  cache  seconds to read one pair's three entries (memory-mapped, checksummed)
         vs np.load of the same arrays as .npy files, vs recomputing them with DIS medium.

--fast-motion: per frame pair of Sintel's first 24 frames and per method, the mean
backward flow length, the method's own reliable fraction and its warp error on the
pixels it calls reliable (``sum(c * mean_rgb((I_t - warp(I_t-1, flow_bw))^2)) / sum(c)``):
a flow that misses the motion in both directions passes the forward-backward
check, and only the warp error shows it. Frames 0-12 move slowly, 13-23 fast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flow import FlowCache, FlowEngine, get_backend, reliability_mask  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "sintel-50f.mp4"
METHODS = {
    "deepflow": ("deepflow", {}),
    "dis-ultrafast": ("dis", {"preset": "ultrafast"}),
    "dis-fast": ("dis", {"preset": "fast"}),
    "dis-medium": ("dis", {"preset": "medium"}),
    "dis-fine": ("dis", {"preset": "fine"}),
    "spynet": ("spynet", {}),
}
FAST_MOTION_METHODS = ("deepflow", "dis-medium", "dis-fine")


def load_frames(path: Path, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first n frames, RGB uint8, resized (area) to size = (W, H)."""
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="rgb24")
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            out.append(img)
            if len(out) == n:
                break
    return out


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float().div(255.0).contiguous()


def plain_mask(bw: np.ndarray, fw_prev: np.ndarray) -> np.ndarray:
    """The DESIGN.md formula written plainly with NumPy and OpenCV; bw, fw_prev are (H, W, 2)."""
    h, w = bw.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = xs + bw[..., 0], ys + bw[..., 1]
    fw_at = cv2.remap(fw_prev, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    bw_sq = (bw**2).sum(-1)
    disocc = inside & (((bw + fw_at) ** 2).sum(-1) > 0.01 * (bw_sq + (fw_at**2).sum(-1)) + 0.5)
    pad = np.pad(bw, ((1, 1), (1, 1), (0, 0)), mode="edge")
    dx = (pad[1:-1, 2:] - pad[1:-1, :-2]) * 0.5
    dy = (pad[2:, 1:-1] - pad[:-2, 1:-1]) * 0.5
    edge = inside & ~disocc & ((dx**2 + dy**2).sum(-1) > 0.01 * bw_sq + 0.002)
    c = np.where(inside & ~disocc & ~edge, 1.0, 0.0).astype(np.float32) - disocc.astype(np.float32)
    return np.clip(cv2.GaussianBlur(c, (7, 7), 0.8, borderType=cv2.BORDER_REPLICATE), 0, 1)


def bench_backend(name: str, frames: list[torch.Tensor]) -> dict:
    method, params = METHODS[name]
    note = ""
    if method == "spynet":
        real = os.environ.get("VIDSTYLE_SPYNET_WEIGHTS")
        params = {"weights": real} if real and Path(real).is_file() else {"weights": "random"}
        note = "real weights" if "random" not in params.values() else "random weights (speed only)"
    backend = get_backend(method, device="cpu", **params)
    engine = FlowEngine(backend)
    engine.pair(frames[0], frames[1])  # warm-up
    times, mask_times, diffs = [], [], []
    for prev, cur in zip(frames[1:], frames[2:]):
        t0 = time.perf_counter()
        pf = engine.pair(prev, cur)
        times.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        mask = reliability_mask(pf.flow_bw, pf.flow_fw)
        mask_times.append(time.perf_counter() - t1)
        bw = pf.flow_bw[0].permute(1, 2, 0).contiguous().numpy()
        fw = pf.flow_fw[0].permute(1, 2, 0).contiguous().numpy()
        t2 = time.perf_counter()
        ref = plain_mask(bw, fw)
        mask_times[-1] = (mask_times[-1], time.perf_counter() - t2)
        diffs.append(float((np.abs(mask[0, 0].numpy() - ref) > 0.01).mean()))
    return {"method": name, "note": note, "pair_s": float(np.mean(times)),
            "mask_s": float(np.mean([m[0] for m in mask_times])),
            "plain_mask_s": float(np.mean([m[1] for m in mask_times])), "mask_differ_frac": max(diffs)}


def bench_cache(frames: list[torch.Tensor], reps: int = 5) -> dict:
    backend = get_backend("dis", preset="medium")
    with tempfile.TemporaryDirectory() as tmp:
        cache = FlowCache(Path(tmp) / "cache")
        engine = FlowEngine(backend, cache)
        t0 = time.perf_counter()
        pairs = [engine.pair(a, b) for a, b in zip(frames[:-1], frames[1:])]
        compute = (time.perf_counter() - t0) / len(pairs)
        for k, p in enumerate(pairs):
            for what in ("flow_fw", "flow_bw", "mask"):
                np.save(Path(tmp) / f"{k}_{what}.npy", getattr(p, what).numpy())
        reads, plain = [], []
        for _ in range(reps):
            fresh = FlowEngine(backend, FlowCache(Path(tmp) / "cache"))
            t0 = time.perf_counter()
            for a, b in zip(frames[:-1], frames[1:]):
                assert fresh.pair(a, b).cached
            reads.append((time.perf_counter() - t0) / len(pairs))
            t0 = time.perf_counter()
            for k in range(len(pairs)):
                for what in ("flow_fw", "flow_bw", "mask"):
                    torch.from_numpy(np.load(Path(tmp) / f"{k}_{what}.npy"))
            plain.append((time.perf_counter() - t0) / len(pairs))
    return {"cache_read_s": float(np.median(reads)), "npy_read_s": float(np.median(plain)), "compute_s": compute}


def bench_fast_motion(frames: list[torch.Tensor]) -> dict:
    """Flow length, reliable fraction and warp error on reliable pixels, per pair and method (see the doc)."""
    from flow import warp

    out = {}
    for name in FAST_MOTION_METHODS:
        method, params = METHODS[name]
        backend = get_backend(method, device="cpu", **params)
        rows, seconds = [], 0.0
        for prev, cur in zip(frames[:-1], frames[1:]):
            t0 = time.perf_counter()
            bw, fw = backend.estimate(cur, prev), backend.estimate(prev, cur)
            seconds += time.perf_counter() - t0
            c = reliability_mask(bw, fw)
            err = (c * (cur - warp(prev, bw)[0]).pow(2).mean(1, keepdim=True)).sum() / c.sum()
            rows.append({"flow_px": float(bw.norm(dim=1).mean()), "reliable": float(c.mean()),
                         "warp_error": float(err)})
        out[name] = {"pairs": rows, "s_per_pair": seconds / len(rows)}
    return out


def print_fast_motion(size: str, res: dict) -> None:
    print(f"# {size}: per pair t-1 -> t: |flow| px, reliable fraction, warp error on reliable pixels x1e3")
    for t in range(len(next(iter(res.values()))["pairs"])):
        cells = [f"{n} {r['flow_px']:5.2f} {r['reliable']:.2f} {r['warp_error'] * 1e3:5.2f}"
                 for n, v in res.items() for r in [v["pairs"][t]]]
        print(f"{t + 1:>3}  " + " | ".join(cells), flush=True)
    for name, v in res.items():
        slow, fast = v["pairs"][:12], v["pairs"][12:]
        mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
        print(f"{size} {name:<10} warp error x1e3: frames 1-12 {mean(slow, 'warp_error') * 1e3:.3f}, "
              f"13-23 {mean(fast, 'warp_error') * 1e3:.3f}; reliable {mean(v['pairs'], 'reliable'):.3f}; "
              f"|flow| 13-23 {mean(fast, 'flow_px'):.2f} px; {v['s_per_pair']:.3f} s per pair (fw + bw)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--pairs", type=int, default=3, help="timed pairs per setting (after one warm-up pair)")
    ap.add_argument("--sizes", default="1024x436,448x192")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--fast-motion", action="store_true", help="the fast-motion check instead (see above)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch and OpenCV threads (0 = their defaults); 1 avoids OpenMP stalls on a busy shared CPU")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    env = {"python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
           "torch_threads": torch.get_num_threads(), "cv2_threads": cv2.getNumThreads(), "cpu": platform.processor(),
           "cores": os.cpu_count()}
    print(f"# {env}", flush=True)
    if args.fast_motion:
        fm = {}
        for size in sizes:
            name = f"{size[0]}x{size[1]}"
            fm[name] = bench_fast_motion([to_tensor(f) for f in load_frames(args.video, 24, size)])
            print_fast_motion(name, fm[name])
        if args.json:
            args.json.write_text(json.dumps({"environment": env, "fast_motion": fm}, indent=1))
        return
    results = []
    for size in sizes:
        frames = [to_tensor(f) for f in load_frames(args.video, args.pairs + 2, size)]
        for name in args.methods.split(","):
            r = bench_backend(name, frames)
            r["size"] = f"{size[0]}x{size[1]}"
            results.append(r)
            print(f"{r['size']:>9} {name:<14} {r['pair_s']:7.3f} s/pair  mask {r['mask_s'] * 1e3:6.1f} ms "
                  f"(plain numpy/cv2 {r['plain_mask_s'] * 1e3:6.1f} ms, "
                  f"{r['mask_differ_frac'] * 100:.2f}% px differ > 0.01) {r['note']}",
                  flush=True)
        c = bench_cache(frames)
        c["size"] = f"{size[0]}x{size[1]}"
        results.append(c)
        print(f"{c['size']:>9} cache read {c['cache_read_s'] * 1e3:.2f} ms/pair "
              f"(np.load .npy {c['npy_read_s'] * 1e3:.2f} ms,"
              f" recompute with dis-medium {c['compute_s'] * 1e3:.1f} ms)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "results": results}, indent=1))


if __name__ == "__main__":
    main()
