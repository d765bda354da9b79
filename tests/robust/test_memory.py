"""The memory estimate (vidstyle/memory.py) and the guard that refuses runs that cannot fit."""

from __future__ import annotations

import re
import subprocess
import sys

import torch

from tests.robust.helpers import ENV, ROOT, assert_one_line_error, run_cli
from vidstyle import defaults, memory
from vidstyle.cli.guard import out_of_memory

FULL = list(defaults.STYLE_LAYERS) + list(defaults.CONTENT_LAYERS)


def test_weights_follow_the_vgg19_shapes():
    # conv1_1..conv5_1 of VGG-19 (Simonyan and Zisserman 2015, configuration E): 12,944,960 parameters.
    assert memory.weight_bytes("relu5_1") == 12_944_960 * 4
    assert memory.weight_bytes("relu1_1") == (3 * 64 * 9 + 64) * 4
    # conv3_1..conv5_1 run by Winograd's F(2x2, 3x3): 16 transformed values per channel pair, float32
    pairs = 128 * 256 + 3 * 256 * 256 + 256 * 512 + 3 * 512 * 512 + 512 * 512
    assert memory.winograd_kernel_bytes("relu5_1") == 16 * pairs * 4
    assert memory.winograd_kernel_bytes("relu2_2") == 0
    assert memory.estimate((180, 256), FULL).weights == 2 * memory.weight_bytes("relu5_1") + 16 * pairs * 4


def test_estimate_grows_with_the_image_and_the_history():
    small = memory.estimate((180, 256), FULL)
    big = memory.estimate((360, 512), FULL)
    # four times the pixels: every part but the weights about four times as large
    assert 3.5 < (big.total - big.weights) / (small.total - small.weights) < 4.5
    lbfgs, adam = memory.estimate((360, 512), FULL), memory.estimate((360, 512), FULL, optimizer="adam")
    assert lbfgs.optimizer - adam.optimizer == (2 * defaults.LBFGS_HISTORY + 8 - 5) * 3 * 360 * 512 * 4
    assert memory.estimate((360, 512), FULL, video=True).total > lbfgs.total


def test_largest_size_is_the_boundary():
    assert memory.largest_size(lambda n: n <= 777, 16, 100_000) == 777
    assert memory.largest_size(lambda n: False, 16, 100_000) is None


def test_available_memory_is_known_here():
    free, where = memory.available_bytes("cpu")
    assert free is not None and free > 0 and where


def _named_size(line: str) -> int:
    m = re.search(r"largest --size that fits is (\d+)", line)
    assert m, line
    return int(m.group(1))


def test_image_of_100000_px_is_refused_from_the_header(tmp_path, vgg_weights):
    res = run_cli("image", ROOT / "samples" / "content-landscape.png", ROOT / "samples" / "style-mosaic.png",
                  "-o", tmp_path / "o.png", "--size", "100000", "--model", "caffe", "--weights", vgg_weights,
                  "--device", "cpu", timeout=60)
    line = assert_one_line_error(res, "--size 100000", "needs about", "available RAM")
    assert 16 <= _named_size(line) < 100000
    assert not (tmp_path / "o.png").exists()


def test_texture_of_100000x100000_is_refused(tmp_path, vgg_weights):
    res = run_cli("texture", ROOT / "samples" / "style-mosaic.png", "-o", tmp_path / "o.png", "--size",
                  "100000x100000", "--model", "caffe", "--weights", vgg_weights, "--device", "cpu", timeout=60)
    line = assert_one_line_error(res, "--size 100000", "needs about")
    assert 16 <= _named_size(line) < 100000


# A real allocation failure: the run's address space is capped (RLIMIT_AS) a little above what the process
# holds after its imports, so the first large feature map cannot be allocated; the guard (which reads the
# machine's free RAM) lets the run start.
_CAPPED = r"""
import resource, sys
import torch  # noqa: F401
import vidstyle.controls, vidstyle.engine, vidstyle.imageio  # noqa: F401
from vidstyle.cli import main
vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, vm + 300 * 2**20))
sys.argv = ["vidstyle", *sys.argv[1:]]
main()
"""


def test_out_of_memory_during_a_run_is_one_line(tmp_path, vgg_weights):
    res = subprocess.run([sys.executable, "-c", _CAPPED, "image", ROOT / "samples" / "content-landscape.png",
                          ROOT / "samples" / "style-mosaic.png", "-o", tmp_path / "o.png", "--size", "2500",
                          "--scales", "none", "--model", "caffe", "--weights", vgg_weights, "--device", "cpu", "-q"],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert_one_line_error(res, "out of memory during the run", "try a smaller --size")
    assert not (tmp_path / "o.png").exists()


def test_out_of_memory_messages():
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8 GiB total)")
    assert out_of_memory(cuda).startswith("out of memory during the run (CUDA out of memory. Tried")
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: 9 bytes")
    assert "(DefaultCPUAllocator: can't allocate memory" in out_of_memory(cpu)
    assert out_of_memory(ValueError("bad value")) is None


def test_sweep_of_50000_px_is_refused_before_any_image_is_decoded(tmp_path):
    from typer.testing import CliRunner

    from vidstyle.cli import app

    res = CliRunner().invoke(app, ["sweep", "--over", "seeds", "-o", str(tmp_path / "sweep"),
                                   str(ROOT / "samples" / "content-landscape.png"),
                                   str(ROOT / "samples" / "style-mosaic.png"), "--size", "50000", "--device", "cpu"])
    assert 16 <= _named_size(assert_one_line_error(res, "--size 50000", "needs about")) < 50000
    assert not (tmp_path / "sweep").exists()
