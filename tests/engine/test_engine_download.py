"""The real download path, run against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
from pathlib import Path

import pytest
import torch

from vidstyle.errors import WeightsError
from vidstyle.vgg import LAYERS, layer_index
from vidstyle.weights import WeightSource, WeightsSpec, build_features, fetch


def download_source(convention: str, url: str, filename: str) -> WeightSource:
    return WeightSource(name=convention, convention=convention, origin="download", description="test file",
                        licence="test", url=url, filename=filename)


def small_state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    state = {}
    for name, kind, c_in, c_out in LAYERS[: layer_index("relu1_2") + 1]:
        if kind == "conv":
            i = layer_index(name)
            state[f"features.{i}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen)
            state[f"features.{i}.bias"] = torch.randn(c_out, generator=gen)
    return state


@pytest.fixture()
def server():
    """Serves {path: bytes} on 127.0.0.1; records the requests it saw."""
    files: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            body = files.get(self.path)
            if isinstance(body, tuple):  # (announced length, bytes sent before the connection drops)
                self.send_response(200)
                self.send_header("Content-Length", str(body[0]))
                self.end_headers()
                self.wfile.write(body[1])
                self.wfile.flush()
                self.close_connection = True
                return
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files, seen
    httpd.shutdown()
    httpd.server_close()


def serialized(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_download_once_into_the_cache_with_progress(server, tmp_path):
    base, files, seen = server
    body = serialized(small_state())
    name = f"vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth"  # torch hub's hash-prefix naming
    files["/" + name] = body
    source = download_source("caffe", f"{base}/{name}", name)
    calls = []
    path = fetch(source, cache_dir=tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert path == tmp_path / name and path.read_bytes() == body
    assert calls[-1] == (len(body), len(body))
    assert not list(tmp_path.glob("*.part"))
    fetch(source, cache_dir=tmp_path)  # cached: no second request
    assert seen == ["/" + name]
    net = build_features(WeightsSpec("caffe", path), ["relu1_2"])
    assert torch.equal(net.layers[2].weight, small_state()["features.2.weight"])


def test_hash_mismatch_leaves_no_file(server, tmp_path):
    base, files, _ = server
    files["/vgg19-00000000.pth"] = serialized(small_state())
    source = download_source("caffe", f"{base}/vgg19-00000000.pth", "vgg19-00000000.pth")
    with pytest.raises(WeightsError, match="sha256"):
        fetch(source, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_error_names_file_cache_path_and_option(tmp_path):
    source = download_source("torchvision", f"http://127.0.0.1:{free_port()}/vgg19-dcbb9e9d.pth", "vgg19-dcbb9e9d.pth")
    with pytest.raises(WeightsError) as err:
        fetch(source, cache_dir=tmp_path)
    msg = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(tmp_path / "vgg19-dcbb9e9d.pth") in msg and "--weights" in msg
    assert "\n" not in msg
    with pytest.raises(WeightsError, match="not cached"):
        fetch(source, cache_dir=tmp_path, allow_download=False)


def test_404_is_a_clean_error(server, tmp_path):
    base, _, _ = server
    source = download_source("caffe", f"{base}/missing-abcdef12.pth", "missing-abcdef12.pth")
    with pytest.raises(WeightsError, match="could not download"):
        fetch(source, cache_dir=tmp_path)
    assert not Path(tmp_path / "missing-abcdef12.pth").exists()


def test_interrupted_download_keeps_nothing(server, tmp_path):
    base, files, _ = server
    body = serialized(small_state())
    name = f"vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    files["/" + name] = (len(body), body[: len(body) // 2])
    source = download_source("caffe", f"{base}/{name}", name)
    with pytest.raises(WeightsError, match="could not download|stopped after"):
        fetch(source, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    files["/" + name] = body  # the connection is back: the next try completes
    assert fetch(source, cache_dir=tmp_path).read_bytes() == body


def test_next_download_removes_what_a_killed_one_left(server, tmp_path):
    base, files, _ = server
    body = serialized(small_state())
    name = f"vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    files["/" + name] = body
    stale = tmp_path / f"{name}.abc123.part"  # a SIGKILLed download's temporary file holds no lock
    stale.write_bytes(b"half")
    unrelated = tmp_path / "other.pth.x.part"
    unrelated.write_bytes(b"not ours")
    fetch(download_source("caffe", f"{base}/{name}", name), cache_dir=tmp_path)
    assert not stale.exists() and unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, unrelated.name])


def test_a_live_download_is_never_removed(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    live = tmp_path / "vgg19-abcdef12.pth.xyz.part"
    with open(live, "wb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        from vidstyle.weights import remove_stale_parts

        assert remove_stale_parts(tmp_path, "vgg19-abcdef12.pth") == []
        assert live.exists()
