"""The on-disk flow cache: hits and misses, atomic writes (an interrupted or killed
write leaves no entry), corrupt and truncated entries detected, reported and healed,
memory-mapped reads; and FlowEngine / iter_flows streaming through it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from flow import FlowCache, FlowEngine, FlowError, frame_digest, get_backend, iter_flows, reliability_mask

ROOT = Path(__file__).resolve().parents[2]


def _t(seed=0, shape=(1, 2, 12, 16)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_hit_miss_and_mmap(tmp_path):
    cache = FlowCache(tmp_path / "c")
    key = "ab" * 32
    assert cache.get(key) is None and cache.stats.misses == 1
    path = cache.put(key, _t())
    assert path.parent.name == "ab" and path.exists()
    got = cache.get(key)
    assert torch.equal(got, _t()) and cache.stats.hits == 1 and cache.stats.writes == 1
    assert isinstance(FlowCache._read(path), np.memmap)  # reads are memory maps
    got += 1  # copy-on-write: the file is untouched
    assert torch.equal(cache.get(key), _t())
    assert key in cache and ("cd" * 32) not in cache
    with pytest.raises(FlowError, match="hex digest"):
        cache.get("../../etc/passwd")


def test_keys_depend_on_everything_that_changes_the_result():
    fast, medium = get_backend("dis", preset="fast"), get_backend("dis", preset="medium")
    a, b = frame_digest(torch.zeros(1, 3, 4, 4)), frame_digest(torch.ones(1, 3, 4, 4))
    assert a != b and a == frame_digest(torch.zeros(1, 3, 4, 4))
    k = FlowCache.flow_key(fast, a, b, size=(4, 4), direction="fw")
    assert k == FlowCache.flow_key(get_backend("dis", preset="fast"), a, b, size=(4, 4), direction="fw")
    others = {FlowCache.flow_key(medium, a, b, size=(4, 4), direction="fw"),
              FlowCache.flow_key(fast, b, a, size=(4, 4), direction="fw"),
              FlowCache.flow_key(fast, a, b, size=(8, 8), direction="fw"),
              FlowCache.flow_key(fast, a, b, size=(4, 4), direction="bw")}
    assert k not in others and len(others) == 4
    assert FlowCache.mask_key(k, k, {"blur_sigma": 0.8}) != FlowCache.mask_key(k, k, {"blur_sigma": 1.0})


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = FlowCache(tmp_path)
    key = "12" * 32

    def half_then_fail(f, arr):
        f.write(memoryview(arr).cast("B")[: arr.nbytes // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FlowCache, "_write_payload", staticmethod(half_then_fail))
    with pytest.raises(FlowError, match="No space left"):
        cache.put(key, _t())
    assert cache.get(key) is None and not cache.stats.healed
    assert not list(tmp_path.rglob("*.part"))


def test_killed_write_leaves_no_entry(tmp_path):
    """A process SIGKILLed in the middle of a write: no entry under the key, only a
    .part file that is ignored and cleaned up."""
    key = "34" * 32
    code = textwrap.dedent(f"""
        import os, signal, torch
        from flow.cache import FlowCache
        def half_then_die(f, arr):
            f.write(memoryview(arr).cast("B")[: arr.nbytes // 2]); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        FlowCache._write_payload = staticmethod(half_then_die)
        FlowCache({str(tmp_path)!r}).put({key!r}, torch.ones(1, 2, 64, 64))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-500:]
    cache = FlowCache(tmp_path)
    assert len(list(tmp_path.rglob("*.part"))) == 1
    assert cache.get(key) is None and not cache.stats.healed
    assert cache.clean_partial() == 1 and not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupt_entry_is_detected_and_healed(tmp_path, damage):
    cache = FlowCache(tmp_path)
    key = "56" * 32
    path = cache.put(key, _t())
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-7] ^= 0x40
    elif damage == "truncate":
        data = data[:-100]
    else:
        data = bytearray(b"not an entry at all")
    path.write_bytes(bytes(data))
    assert cache.get(key) is None
    assert len(cache.stats.healed) == 1 and str(path) in cache.stats.healed[0]
    assert not path.exists()  # removed, so the caller recomputes and rewrites it
    cache.put(key, _t())
    assert torch.equal(cache.get(key), _t())


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FlowError, match="not writable"):
        FlowCache(blocker / "sub")


def _frames(n=4, h=40, w=56):
    rng = np.random.default_rng(0)
    base = (rng.random((h + 8, w + 8, 3)) * 255).astype(np.uint8)
    return [np.ascontiguousarray(base[k:k + h, 2 * k:2 * k + w]) for k in range(n)]


def test_iter_flows_second_run_is_all_hits(tmp_path):
    backend = get_backend("dis", preset="ultrafast")
    frames = _frames()
    cache = FlowCache(tmp_path)
    first = list(iter_flows(frames, backend, cache))
    assert [p.index for p in first] == [1, 2, 3] and not any(p.cached for p in first)
    assert cache.stats.writes == 9  # fw, bw, mask per pair
    again = FlowCache(tmp_path)
    second = list(iter_flows(iter(frames), backend, again))
    assert all(p.cached and p.hits == 3 for p in second) and again.stats.hits == 9 and again.stats.writes == 0
    for a, b in zip(first, second):
        assert torch.equal(a.flow_fw, b.flow_fw) and torch.equal(a.flow_bw, b.flow_bw) and torch.equal(a.mask, b.mask)
    p = first[0]
    assert p.flow_fw.shape == (1, 2, 40, 56) and p.mask.shape == (1, 1, 40, 56)
    assert torch.allclose(p.mask, reliability_mask(p.flow_bw, p.flow_fw))
    # frame t = frame t-1 moved by (-2, -1) px: the forward flow says so
    assert torch.allclose(p.flow_fw[0, :, 8:-8, 8:-8].mean((1, 2)), torch.tensor([-2.0, -1.0]), atol=0.1)


def test_engine_heals_a_corrupt_flow(tmp_path):
    backend = get_backend("dis", preset="ultrafast")
    f0, f1 = _frames(2)
    cache = FlowCache(tmp_path)
    ref = FlowEngine(backend, cache).pair(f0, f1)
    for entry in tmp_path.rglob("*.vsf"):
        entry.write_bytes(entry.read_bytes()[:-4])  # truncate all three
    healed = FlowCache(tmp_path)
    p = FlowEngine(backend, healed).pair(f0, f1)
    assert len(healed.stats.healed) == 3 and p.hits == 0 and healed.stats.writes == 3
    assert torch.equal(p.flow_fw, ref.flow_fw) and torch.equal(p.mask, ref.mask)
    assert FlowEngine(backend, FlowCache(tmp_path)).pair(f0, f1).cached


def test_engine_without_cache_and_bad_frames():
    backend = get_backend("dis", preset="ultrafast")
    f0, f1 = _frames(2)
    p = FlowEngine(backend).pair(f0, f1, index=1)
    assert p.hits == 0 and not p.cached and p.index == 1
    with pytest.raises(FlowError, match="sizes must match"):
        list(iter_flows([f0, f1[:-2]], backend))
    with pytest.raises(FlowError, match="HxWx3"):
        FlowEngine(backend).pair(f0, f1[..., 0])
