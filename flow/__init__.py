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
    fetch_spynet_weights(model, *, cache_dir=None, url=None, download=True, progress=False) -> Path
"""

from flow.backends import BACKENDS, FlowBackend, get_backend
from flow.cache import CacheStats, FlowCache, frame_digest
from flow.download import SPYNET_LICENCE, SPYNET_MODELS, SPYNET_URL, download_file, fetch_spynet_weights
from flow.errors import FlowError
from flow.flo import flo_to_tensor, read_flo, write_flo
from flow.masks import ConsistencyParts, combine_long_term_masks, consistency_parts, reliability_mask
from flow.sequence import FlowEngine, PairFlow, iter_flows, pair_flows
from flow.visualize import FlowVideoWriter, flow_to_color, save_flow_png
from flow.warp import Warp, warp

__all__ = [
    "BACKENDS", "CacheStats", "ConsistencyParts", "FlowBackend", "FlowCache", "FlowEngine", "FlowError",
    "FlowVideoWriter", "PairFlow", "SPYNET_LICENCE", "SPYNET_MODELS", "SPYNET_URL", "Warp",
    "combine_long_term_masks", "consistency_parts", "download_file", "fetch_spynet_weights", "flo_to_tensor",
    "flow_to_color", "frame_digest", "get_backend", "iter_flows", "pair_flows", "read_flo", "reliability_mask",
    "save_flow_png", "warp", "write_flo",
]
