"""SPyNet: shapes at odd sizes, both key spellings of the public weight files,
the download path run for real against a local HTTP server, and (when
VIDSTYLE_SPYNET_WEIGHTS names a file) accuracy with the real weights."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

from flow import FlowError, fetch_spynet_weights, get_backend
from flow.backends.spynet import SpyNet, SpyNetBackend, load_spynet_state


def _port_state(net: SpyNet, prefix: str) -> dict[str, torch.Tensor]:
    """A state dict spelled like the public files: {prefix}.{k}.{prefix}.{j}.{weight,bias}."""
    out = {}
    for key, value in net.state_dict().items():
        _, k, _, j, kind = key.split(".")  # levels.k.body.j.kind
        out[f"{prefix}.{k}.{prefix}.{j}.{kind}"] = value.clone()
    return out


@pytest.mark.parametrize("h,w", [(37, 53), (64, 64), (17, 101)])
def test_shapes_at_odd_sizes(h, w):
    backend = SpyNetBackend(weights="random", seed=1)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)
    flow = backend.estimate(a, b)
    assert flow.shape == (2, 2, h, w) and flow.dtype == torch.float32 and torch.isfinite(flow).all()
    assert flow.abs().max() > 0  # random filters still move something


def test_pyramid_levels():
    net = SpyNet()
    # 1024x448 (Sintel padded to multiples of 32): 6 levels down to 32x14
    assert [p.shape[-1] for p in net.pyramid(torch.zeros(1, 3, 448, 1024), 6)] == [1024, 512, 256, 128, 64, 32]
    # small inputs stop once the longer side is <= 32
    assert [p.shape[-2:] for p in net.pyramid(torch.zeros(1, 3, 64, 32), 6)] == [(64, 32), (32, 16)]


@pytest.mark.parametrize("prefix", ["netBasic", "moduleBasic"])
def test_loads_both_key_spellings(tmp_path, prefix):
    torch.manual_seed(5)
    src = SpyNet()
    path = tmp_path / f"network-{prefix}.pytorch"
    torch.save(_port_state(src, prefix), path)
    backend = SpyNetBackend(weights=path)
    for k, v in src.state_dict().items():
        assert torch.equal(backend.net.state_dict()[k], v)
    assert backend.params["weights"] == path.name and len(backend.params["sha256"]) == 64


def test_rejects_files_that_are_not_spynet(tmp_path):
    bad = tmp_path / "bad.pytorch"
    torch.save({"netBasic.0.netBasic.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(FlowError, match="not SPyNet weights"):
        load_spynet_state(bad)
    text = tmp_path / "text.pytorch"
    text.write_text("hello")
    with pytest.raises(FlowError, match="not a readable PyTorch weights file"):
        load_spynet_state(text)
    with pytest.raises(FlowError, match="no such file"):
        SpyNetBackend(weights=tmp_path / "missing.pytorch")


@pytest.fixture()
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields (root dir, base url, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            log.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()


def test_download_from_local_server(tmp_path, http_root):
    root, base, log = http_root
    torch.manual_seed(7)
    src = SpyNet()
    torch.save(_port_state(src, "netBasic"), root / "network-sintel-final.pytorch")
    cache = tmp_path / "cache"
    seen: list[tuple[int, int | None]] = []
    path = fetch_spynet_weights("sintel-final", cache_dir=cache, url=f"{base}/network-sintel-final.pytorch",
                                progress=lambda done, total: seen.append((done, total)))
    assert path == cache / "network-sintel-final.pytorch"
    assert path.read_bytes() == (root / "network-sintel-final.pytorch").read_bytes()
    assert seen and seen[-1][0] == seen[-1][1] == path.stat().st_size
    assert list(cache.iterdir()) == [path]  # no temporary files left
    # second call: served from the cache, no request
    n = len(log)
    assert fetch_spynet_weights("sintel-final", cache_dir=cache, url=f"{base}/nothing-here") == path
    assert len(log) == n
    backend = get_backend("spynet", weights="sintel-final", cache_dir=cache, download=False)
    assert torch.equal(backend.net.levels[3].body[4].weight, src.levels[3].body[4].weight)


def test_download_failures_leave_nothing(tmp_path, http_root):
    root, base, _ = http_root
    cache = tmp_path / "cache"
    with pytest.raises(FlowError, match="could not download .*404.*weights=FILE"):
        fetch_spynet_weights("kitti-final", cache_dir=cache, url=f"{base}/missing.pytorch")
    (root / "junk.pytorch").write_bytes(b"\x00" * 1000)
    with pytest.raises(FlowError, match="not a readable PyTorch weights file"):
        fetch_spynet_weights("kitti-final", cache_dir=cache, url=f"{base}/junk.pytorch")
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(FlowError, match="not cached at .*weights=FILE"):
        fetch_spynet_weights("chairs-clean", cache_dir=cache, download=False)
    with pytest.raises(FlowError, match="expected one of"):
        fetch_spynet_weights("things", cache_dir=cache)


REAL = os.environ.get("VIDSTYLE_SPYNET_WEIGHTS")


@pytest.mark.skipif(not (REAL and Path(REAL).is_file()),
                    reason="set VIDSTYLE_SPYNET_WEIGHTS to a network-*.pytorch file to run (weights: non-commercial research only)")
def test_real_weights_accuracy(synth, epe_fn):
    backend = SpyNetBackend(weights=REAL)
    for scene, bound in {"translation": 0.5, "rotation_zoom": 1.0}.items():  # not measured here: no weights offline
        s = synth[scene]
        assert epe_fn(backend.estimate(s["img0"], s["img1"]), s["fw"], s["valid0"]) < bound


def test_the_one_downloader_checks_sha256_and_clears_killed_parts(tmp_path, http_root):
    """flow.fetch: the downloader flow and vidstyle.weights share (callback progress, hash, stale parts)."""
    import hashlib

    from flow import fetch

    root, base, _ = http_root
    body = os.urandom(3000)
    (root / "blob.bin").write_bytes(body)
    dest = tmp_path / "dl" / "blob.bin"
    dest.parent.mkdir()
    stale = dest.parent / "blob.bin.dead1.part"  # a killed download's file: no live process holds it
    stale.write_bytes(b"half")
    seen: list[tuple[int, int | None]] = []
    digest = hashlib.sha256(body).hexdigest()
    assert fetch(f"{base}/blob.bin", dest, sha256=digest, progress=lambda d, t: seen.append((d, t))) == dest
    assert dest.read_bytes() == body and seen[-1] == (3000, 3000) and not stale.exists()
    with pytest.raises(FlowError, match="sha256 does not start with 0000"):
        fetch(f"{base}/blob.bin", tmp_path / "dl" / "other.bin", sha256="0000")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]
