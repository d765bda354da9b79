"""Helpers of the robustness tests: the CLI as a real subprocess and the one-line error check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The console script's entry point, as `vidstyle` runs it; one torch thread as in the in-process tests.
CLI = [sys.executable, "-c", "import sys; from vidstyle.cli import main; sys.argv[0] = 'vidstyle'; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_cli(*args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV, **kw)


def popen_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def assert_one_line_error(res, *fragments: str) -> str:
    """Exit code 2, the last line an ``error:`` line holding every fragment, no traceback.
    ``res``: a subprocess result or a typer ``CliRunner`` result."""
    if hasattr(res, "exit_code"):
        code, out = res.exit_code, res.output
    else:
        code, out = res.returncode, (res.stderr or "") + (res.stdout or "")
    assert code == 2, out
    assert "Traceback" not in out, out
    line = out.strip().splitlines()[-1]
    assert line.startswith("error:"), out
    for f in fragments:
        assert f in line, line
    return line
