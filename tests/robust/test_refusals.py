"""Bad command lines: one shared validator, one line, exit code 2, before torch/OpenCV/PyAV are imported."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.robust.helpers import ENV, ROOT, assert_one_line_error, run_cli

# Each case: a command line and a fragment of its one-line error. Files named here exist (see _SCRIPT),
# so every refusal is the one under test.
CASES = [
    (["image", "{c}", "{s}", "-o", "{d}/o.png", "--optimizer", "adam", "--lr", "nan"], "--lr"),
    (["image", "{c}", "{s}", "-o", "{d}/o.png", "--size", "0"], "--size must be > 0"),
    (["image", "{c}", "{s}", "-o", "{d}/o.png", "--tol", "inf"], "--tol"),
    (["image", "{c}", "{s}", "-o", "{d}/o.png", "--style-scale", "-1"], "--style-scale"),
    (["image", "{c}", "{s}", "-o", "{d}/o.txt"], "'.txt'"),
    (["image", "{c}", "{s}", "-o", "{d}/o.png", "--log", "{d}/log.txt"], "--log"),
    (["image", "{d}/missing.png", "{s}", "-o", "{d}/o.png"], "no such file"),
    (["reconstruct", "{c}", "-o", "{d}/o.png", "--tv-weight", "nan"], "--tv-weight"),
    (["texture", "{s}", "-o", "{d}/o.png", "--size", "0x5"], "--size"),
    (["video", "{v}", "{s}", "--start", "nan"], "--start"),
    (["video", "{v}", "{s}", "--crf", "99"], "--crf must be between 0 and 51"),
    (["video", "{v}", "{s}", "--duration", "0"], "--duration"),
    (["video", "{v}", "{s}", "--temporal-weight", "nan"], "--temporal-weight"),
    (["video", "{v}", "{s}", "--shot-threshold", "2"], "--shot-threshold"),
    (["video", "{v}", "{s}", "--size", "100000"], "16384"),
    (["video", "{v}", "{s}", "-o", "{d}/o.avi"], "unsupported video extension"),
    (["video", "{v}", "{s}", "--log", "{d}/log.txt"], "--log"),
    (["flow", "{v}", "--visualize", "{d}/out.txt"], "--visualize"),
    (["flow", "{v}", "--masks", "{d}/m.png"], "--masks"),
    (["flow", "{v}", "--save-flo", "{d}/f.flo"], "--save-flo"),
    (["flow", "{v}", "--size", "8"], "--size"),
    (["evaluate", "{v}", "--source", "{v}", "--start", "nan"], "--start"),
    (["sweep", "--over", "seeds", "-o", "{d}/sweep", "{c}", "{s}", "--lr", "nan"], "--lr"),
]

# Runs every case in ONE fresh interpreter through the typer app and reports what it imported.
_SCRIPT = r"""
import json, sys
from typer.testing import CliRunner
from vidstyle.cli import app
cases, fill = json.loads(sys.argv[1]), json.loads(sys.argv[2])
runner = CliRunner()
out = []
for args, _ in cases:
    res = runner.invoke(app, [a.format(**fill) for a in args])
    out.append({"code": res.exit_code, "output": res.output})
heavy = sorted(m for m in ("torch", "cv2", "av") if m in sys.modules)
print(json.dumps({"results": out, "heavy": heavy}))
"""


def test_every_bad_number_and_extension_refused_before_heavy_imports(tmp_path):
    fill = {"c": str(ROOT / "samples" / "content-landscape.png"), "s": str(ROOT / "samples" / "style-mosaic.png"),
            "v": str(ROOT / "samples" / "clip.mp4"), "d": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(CASES), json.dumps(fill)], capture_output=True,
                          text=True, timeout=120, env=ENV, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for (args, fragment), res in zip(CASES, report["results"]):
        assert res["code"] == 2, (args, res["output"])
        assert "Traceback" not in res["output"], res["output"]
        lines = [ln for ln in res["output"].strip().splitlines() if ln.strip()]
        assert lines[-1].startswith("error:") and fragment in " ".join(lines), (args, res["output"])
    assert report["heavy"] == [], f"refusals imported {report['heavy']}"
    assert list(tmp_path.iterdir()) == [], "a refused command left files behind"


def test_usage_errors_are_one_line_from_the_console_script(tmp_path):
    res = run_cli("flow", ROOT / "samples" / "clip.mp4", "--size", "nan", cwd=tmp_path)
    assert_one_line_error(res, "--size", "vidstyle flow --help")
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_cli("image", "missing.png", ROOT / "samples" / "style-mosaic.png", "-o", "o.png", cwd=tmp_path)
    assert_one_line_error(res, "missing.png", "no such file")


def test_brackets_in_a_message_are_text(tmp_path):
    # rich would read "[ray]" as markup and drop it: the one line must say what the error says
    missing = tmp_path / "clip[ray].png"
    res = run_cli("image", missing, ROOT / "samples" / "style-mosaic.png", "-o", tmp_path / "o.png")
    assert_one_line_error(res, "clip[ray].png", "no such file")
