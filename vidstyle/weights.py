"""Where VGG-19 weights come from: torchvision's, the original Caffe set, or a local file.

Downloads go into the torch hub cache (``<hub dir>/checkpoints``) under the
file name torch hub itself uses, so torchvision finds them too; a download is
streamed to a temporary file, checked against the hash prefix in its name,
and renamed into place, so an interrupted download never leaves a bad file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from vidstyle.errors import LayerError, WeightsError
from vidstyle.vgg import CONV_NAMES, LAYER_NAMES, LAYERS, VGGFeatures, layer_index


@dataclass(frozen=True)
class WeightSource:
    model: str  # input convention: "torchvision" or "caffe"
    url: str
    filename: str


def torchvision_source() -> WeightSource:
    # The address comes from torchvision's weights API, so it follows torchvision.
    from torchvision.models import VGG19_Weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    return WeightSource("torchvision", url, url.rsplit("/", 1)[-1])


# The original Oxford VGG-19 converted for PyTorch, as neural-style ports use it
# (BGR, 0..255, mean-subtracted input); published with jcjohnson/pytorch-vgg.
CAFFE_SOURCE = WeightSource(
    "caffe",
    "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
    "vgg19-d01eb7cb.pth",
)


def source_for(model: str) -> WeightSource:
    if model == "torchvision":
        return torchvision_source()
    if model == "caffe":
        return CAFFE_SOURCE
    raise WeightsError(f"unknown --model {model!r}: expected torchvision or caffe")


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


ProgressHook = Callable[[int, int | None], None]  # (bytes so far, total or None)


def download(url: str, dest: Path, *, progress: ProgressHook | None = None, timeout: float = 30.0) -> Path:
    """Stream ``url`` to ``dest`` atomically; verify a ``name-<sha256 prefix>.ext`` name.

    Raises :class:`WeightsError` on network failure or a hash mismatch.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    sha = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total else None
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        expected = _hash_prefix(dest.name)
        if expected and not sha.hexdigest().startswith(expected):
            raise WeightsError(f"downloaded {url} but its sha256 does not start with {expected}: corrupt download, try again")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"could not download {url}: {reason}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    if "-" in stem:
        tail = stem.rsplit("-", 1)[1]
        if len(tail) >= 6 and all(c in "0123456789abcdef" for c in tail):
            return tail
    return None


def fetch(source: WeightSource, *, cache_dir: Path | None = None, progress: ProgressHook | None = None,
          allow_download: bool = True) -> Path:
    """Path to the cached weights of ``source``, downloading them once if needed."""
    cache_dir = Path(cache_dir) if cache_dir else hub_checkpoint_dir()
    path = cache_dir / source.filename
    if path.exists():
        return path
    if not allow_download:
        raise WeightsError(_offline_message(source, path))
    try:
        return download(source.url, path, progress=progress)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; {_offline_message(source, path)}") from None


def _offline_message(source: WeightSource, path: Path) -> str:
    return (
        f"VGG-19 weights {source.filename} ({source.model}) are not cached at {path}; "
        f"connect to the internet once, or download {source.url} yourself and pass --weights FILE"
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a VGG-19 state dict and name its tensors ``features.<index>.<weight|bias>``.

    Accepts torchvision/Caffe-port files (``features.N.*``), bare ``N.*`` keys
    and a ``module.`` prefix; classifier tensors are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a non-checkpoint file
        raise WeightsError(f"{path} is not a readable PyTorch state dict ({type(exc).__name__})") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise WeightsError(f"{path} holds a {type(raw).__name__}, not a state dict")
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        k = key.removeprefix("module.")
        if k.startswith("features."):
            state[k] = value
        elif k.split(".", 1)[0].isdigit():
            state["features." + k] = value
    if not state:
        raise WeightsError(f"{path} has no VGG feature weights (no keys like features.0.weight)")
    return state


def covered_layers(state: dict[str, torch.Tensor], *, origin: str) -> str:
    """Deepest layer a state dict can serve (every conv before it present, shapes right).

    Raises :class:`WeightsError` when a tensor's shape does not fit VGG-19.
    """
    last = None
    for name, kind, c_in, c_out in LAYERS:
        if kind == "conv":
            idx = layer_index(name)
            w, b = state.get(f"features.{idx}.weight"), state.get(f"features.{idx}.bias")
            if w is None or b is None:
                break
            if tuple(w.shape) != (c_out, c_in, 3, 3) or tuple(b.shape) != (c_out,):
                raise WeightsError(
                    f"{origin}: features.{idx} ({name}) has weight {tuple(w.shape)} / bias {tuple(b.shape)}, "
                    f"VGG-19 needs {(c_out, c_in, 3, 3)} / {(c_out,)}"
                )
        last = name
    if last is None or last == "conv1_1":
        raise WeightsError(f"{origin} does not contain conv1_1 (features.0): not VGG-19 weights")
    return last


@dataclass(frozen=True)
class WeightsSpec:
    """Which weights to use: a convention plus an optional local file."""

    model: str = "torchvision"
    path: Path | None = None


def build_features(spec: WeightsSpec, layers: list[str], *, pooling: str = "max", device=None, dtype=None,
                   progress: ProgressHook | None = None, cache_dir: Path | None = None,
                   allow_download: bool = True) -> VGGFeatures:
    """A frozen :class:`VGGFeatures` covering ``layers``, on ``device``/``dtype``."""
    for name in layers:
        layer_index(name)
    source = source_for(spec.model)
    path = Path(spec.path) if spec.path else fetch(source, cache_dir=cache_dir, progress=progress,
                                                   allow_download=allow_download)
    state = load_state_dict(path)
    deepest_have = covered_layers(state, origin=str(path))
    wanted = max(layers, key=layer_index)
    if layer_index(wanted) > layer_index(deepest_have):
        raise LayerError(
            f"layer {wanted} is not in {path}: the file's deepest layer is {deepest_have}"
        )
    net = VGGFeatures(state, model=spec.model, last_layer=wanted, pooling=pooling)
    return net.to(device=device, dtype=dtype)


def deepest_available(spec: WeightsSpec) -> str | None:
    """Deepest layer a local weights file covers (None for a full download source)."""
    if spec.path is None:
        return None
    return covered_layers(load_state_dict(Path(spec.path)), origin=str(spec.path))


__all__ = [
    "CAFFE_SOURCE", "CONV_NAMES", "LAYER_NAMES", "WeightSource", "WeightsSpec", "build_features",
    "covered_layers", "deepest_available", "download", "fetch", "hub_checkpoint_dir", "load_state_dict",
    "source_for", "torchvision_source",
]
