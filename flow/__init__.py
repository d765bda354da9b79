"""Optical flow, warping, reliability masks and the flow cache (knows nothing about style).

Conventions (all public functions):

* images: ``(N, 3, H, W)`` float32 RGB in [0, 1];
* flow: ``(N, 2, H, W)`` float32 in pixels, channel 0 = x (columns), 1 = y (rows);
  ``flow_fw[t]`` lives on frame t and points into t+1, ``flow_bw[t]`` lives on t
  and points into t-1;
* warping is backward, bilinear, ``align_corners=True`` (as ``cv2.remap``);
* masks: ``(N, 1, H, W)`` float in [0, 1], 1 = reliable.

Bad input raises :class:`FlowError` (a ``ValueError``) with a one-line message.

Public API::

    get_backend(name, *, device=None, **params) -> FlowBackend   # BACKENDS: name -> class
    FlowBackend.name / .params / .versions / .licence / .estimate(img0, img1)
    warp(img, flow, *, padding="zeros") -> (warped, valid);  Warp
    reliability_mask(flow_bw, flow_fw_prev, *, blur_sigma=0.8) -> mask
    consistency_parts(flow_bw, flow_fw_prev) -> ConsistencyParts
    combine_long_term_masks(masks_closest_first) -> list of masks
    read_flo(path, *, mmap=False) -> (H, W, 2) array;  write_flo(path, flow);  flo_to_tensor(arr)
    flow_to_color(flow, *, max_flow=None) -> H x W x 3 uint8;  save_flow_png;  FlowVideoWriter (write/close/abort)
    FlowCache(root): flow_key / mask_key / get / put / stats;  frame_digest(img)
    FlowEngine(backend, cache).pair(prev, cur) -> PairFlow;  pair_flows(...);  iter_flows(frames, backend, cache)
    fetch_spynet_weights(model, *, cache_dir=None, url=None, download=True, progress=None) -> Path
    fetch(url, dest, *, sha256=None, progress=None, check=None) -> Path   # the one downloader (callback, no drawing)
    hold(path) / remove_unheld(path) / remove_stale_parts(folder, name)   # temporary files a live process holds
"""

import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names the lazy table below serves, for type checkers (no import at run time)
    from flow.backends import BACKENDS, FlowBackend, get_backend
    from flow.backends.spynet import SPYNET_LICENCE, SPYNET_MODELS, SPYNET_URL, fetch_spynet_weights
    from flow.cache import CacheStats, FlowCache, frame_digest
    from flow.download import fetch
    from flow.errors import FlowError
    from flow.flo import flo_to_tensor, read_flo, write_flo
    from flow.masks import ConsistencyParts, combine_long_term_masks, consistency_parts, reliability_mask
    from flow.partfiles import hold, remove_stale_parts, remove_unheld
    from flow.sequence import FlowEngine, PairFlow, iter_flows, pair_flows
    from flow.visualize import FlowVideoWriter, flow_to_color, save_flow_png
    from flow.warp import Warp, warp

# Imported on first use (PEP 562): ``from flow.errors import FlowError`` and the CLI's argument
# checks must not pay for torch and OpenCV.
_EXPORTS = {
    "BACKENDS": "flow.backends", "CacheStats": "flow.cache", "ConsistencyParts": "flow.masks",
    "FlowBackend": "flow.backends", "FlowCache": "flow.cache", "FlowEngine": "flow.sequence",
    "FlowError": "flow.errors", "FlowVideoWriter": "flow.visualize", "PairFlow": "flow.sequence",
    "SPYNET_LICENCE": "flow.backends.spynet", "SPYNET_MODELS": "flow.backends.spynet",
    "SPYNET_URL": "flow.backends.spynet", "fetch": "flow.download", "hold": "flow.partfiles",
    "remove_stale_parts": "flow.partfiles", "remove_unheld": "flow.partfiles",
    "Warp": "flow.warp", "combine_long_term_masks": "flow.masks", "consistency_parts": "flow.masks",
    "fetch_spynet_weights": "flow.backends.spynet", "flo_to_tensor": "flow.flo",
    "flow_to_color": "flow.visualize", "frame_digest": "flow.cache", "get_backend": "flow.backends",
    "iter_flows": "flow.sequence", "pair_flows": "flow.sequence", "read_flo": "flow.flo",
    "reliability_mask": "flow.masks", "save_flow_png": "flow.visualize", "warp": "flow.warp",
    "write_flo": "flow.flo",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``flow.warp`` the function: importing the submodule ``flow.warp`` would otherwise bind the
    module to the package attribute of the same name (the eager imports used to rebind it afterwards)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType) and _EXPORTS[name] == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "BACKENDS",
    "SPYNET_LICENCE",
    "SPYNET_MODELS",
    "SPYNET_URL",
    "CacheStats",
    "ConsistencyParts",
    "FlowBackend",
    "FlowCache",
    "FlowEngine",
    "FlowError",
    "FlowVideoWriter",
    "PairFlow",
    "Warp",
    "combine_long_term_masks",
    "consistency_parts",
    "fetch",
    "fetch_spynet_weights",
    "flo_to_tensor",
    "flow_to_color",
    "frame_digest",
    "get_backend",
    "hold",
    "iter_flows",
    "pair_flows",
    "read_flo",
    "reliability_mask",
    "remove_stale_parts",
    "remove_unheld",
    "save_flow_png",
    "warp",
    "write_flo",
]
