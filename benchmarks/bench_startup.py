"""Time to refuse a bad command line: `vidstyle image missing.png style.png -o out.png` (a missing file).

Runs the CLI in fresh processes, interleaving the tree under test with an older checkout given by
``--before`` (e.g. ``git archive 70ade33 | tar -x -C /tmp/before``), and reports the median wall
time of each and which heavy modules each imported before answering.

    .venv/bin/python benchmarks/bench_startup.py --before /tmp/before [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = ("import sys; sys.argv = ['vidstyle', 'image', 'missing.png', sys.argv[1], '-o', '/tmp/never.png']\n"
         "import atexit, json\n"
         "atexit.register(lambda: print(json.dumps(sorted(m for m in ('torch', 'cv2', 'av', 'numpy') "
         "if m in sys.modules)), file=sys.stderr))\n"
         "from vidstyle.cli import main; main()")


def once(tree: Path) -> tuple[float, list[str], int]:
    t0 = time.perf_counter()
    # cwd outside both trees: python -c puts the cwd first on sys.path
    p = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "samples" / "style-mosaic.png")], cwd="/",
                       env={"PYTHONPATH": str(tree), "PATH": "/usr/bin"}, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    loaded = json.loads(p.stderr.strip().splitlines()[-1])
    return dt, loaded, p.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    times: dict[str, list[float]] = {"before": [], "after": []}
    mods: dict[str, list[str]] = {}
    for _ in range(args.runs):
        for name, tree in (("before", args.before), ("after", ROOT)):
            dt, loaded, rc = once(tree)
            assert rc == 2, (name, rc)
            times[name].append(dt)
            mods[name] = loaded
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    print("| tree | median wall time (s) | heavy modules imported |")
    print("|---|---|---|")
    for name, med in (("before", b), ("after", a)):
        print(f"| {name} | {med:.2f} | {', '.join(mods[name]) or 'none'} |")
    print(f"\nafter / before: {a / b:.2f} (runs: {args.runs} each, interleaved)")


if __name__ == "__main__":
    main()
