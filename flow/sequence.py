"""Flows and masks for a stream of frames, through the flow cache.

For each frame t >= 1 :func:`iter_flows` yields a :class:`PairFlow` with the
forward flow of frame t-1, the backward flow of frame t and the reliability
mask of frame t. :class:`FlowEngine.pair` does the same for any two frames
(t and t-k for long-term consistency). Only the previous frame is kept, so
memory stays flat however long the video is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from flow._checks import check_same_size, to_image_tensor
from flow.backends.base import FlowBackend
from flow.cache import FlowCache, frame_digest
from flow.masks import BLUR_SIGMA, MASK_VERSION, reliability_mask


@dataclass(frozen=True)
class PairFlow:
    """Flows and mask between an earlier frame ``prev`` and a later frame ``cur``.

    Attributes:
        index: index of ``cur`` (frame t) when known, else -1.
        flow_fw: ``(1, 2, H, W)`` prev -> cur, lives on prev (``flow_fw[t-1]``).
        flow_bw: ``(1, 2, H, W)`` cur -> prev, lives on cur (``flow_bw[t]``).
        mask: ``(1, 1, H, W)`` reliability of cur's pixels w.r.t. prev, in [0, 1].
        cached: all three came from the cache.
        hits: how many of the three came from the cache (0..3).
    """

    index: int
    flow_fw: torch.Tensor
    flow_bw: torch.Tensor
    mask: torch.Tensor
    cached: bool
    hits: int


class FlowEngine:
    """Computes :class:`PairFlow` s with ``backend``, reading and filling ``cache`` (optional).

    Frames are ``(1, 3, H, W)`` float RGB tensors in [0, 1] or ``HxWx3`` uint8
    RGB arrays; results are on the backend's device.
    """

    def __init__(self, backend: FlowBackend, cache: FlowCache | None = None, *, blur_sigma: float = BLUR_SIGMA) -> None:
        self.backend = backend
        self.cache = cache
        self.blur_sigma = float(blur_sigma)

    def pair(self, prev, cur, *, index: int = -1, prev_digest: str | None = None,
             cur_digest: str | None = None) -> PairFlow:
        """Flows and mask between ``prev`` (earlier) and ``cur`` (later); digests may be passed to save hashing."""
        prev = to_image_tensor(prev, "prev frame")
        cur = to_image_tensor(cur, "frame" if index < 0 else f"frame {index}")
        check_same_size(prev, cur, "previous frame", "frame" if index < 0 else f"frame {index}")
        dev = self.backend.device
        size = (int(cur.shape[-2]), int(cur.shape[-1]))
        keys: dict[str, str] = {}
        got: dict[str, torch.Tensor | None] = {"fw": None, "bw": None, "mask": None}
        if self.cache is not None:
            prev_digest = prev_digest or frame_digest(prev)
            cur_digest = cur_digest or frame_digest(cur)
            keys["fw"] = self.cache.flow_key(self.backend, prev_digest, cur_digest, size=size, direction="fw")
            keys["bw"] = self.cache.flow_key(self.backend, cur_digest, prev_digest, size=size, direction="bw")
            keys["mask"] = self.cache.mask_key(keys["bw"], keys["fw"],
                                               {"blur_sigma": self.blur_sigma, "version": MASK_VERSION})
            for what, key in keys.items():
                t = self.cache.get(key)
                got[what] = t.to(dev) if t is not None else None
        fresh: dict[str, torch.Tensor] = {}
        if got["fw"] is None and got["bw"] is None:
            # One batched call for both directions (backends that batch run them together).
            both = self.backend.estimate(torch.cat([prev, cur]), torch.cat([cur, prev]))
            fresh["fw"], fresh["bw"] = both[:1], both[1:]
        elif got["fw"] is None:
            fresh["fw"] = self.backend.estimate(prev, cur)
        elif got["bw"] is None:
            fresh["bw"] = self.backend.estimate(cur, prev)
        fw = fresh.get("fw", got["fw"])
        bw = fresh.get("bw", got["bw"])
        # Every branch above leaves both directions set (from the cache or just estimated).
        assert fw is not None and bw is not None
        mask = got["mask"]
        if mask is None or fresh:
            # A recomputed flow invalidates nothing in the cache (keys are content
            # addresses) but the mask must match the flows actually returned.
            mask = fresh["mask"] = reliability_mask(bw, fw, blur_sigma=self.blur_sigma)
        hits = 3 - len(fresh) if self.cache is not None else 0
        if self.cache is not None:
            for what, tensor in fresh.items():
                self.cache.put(keys[what], tensor)
        return PairFlow(index=index, flow_fw=fw, flow_bw=bw, mask=mask, cached=hits == 3, hits=hits)


def pair_flows(prev, cur, backend: FlowBackend, cache: FlowCache | None = None, *,
               blur_sigma: float = BLUR_SIGMA) -> PairFlow:
    """One :class:`PairFlow` between two arbitrary frames (e.g. t-k and t)."""
    return FlowEngine(backend, cache, blur_sigma=blur_sigma).pair(prev, cur)


def iter_flows(frames: Iterable, backend: FlowBackend, cache: FlowCache | None = None, *,
               blur_sigma: float = BLUR_SIGMA) -> Iterator[PairFlow]:
    """For frames 0, 1, 2, ... yield the :class:`PairFlow` of each t >= 1 (t-1 -> t).

    ``frames``: ``(1, 3, H, W)`` float tensors in [0, 1] or ``HxWx3`` uint8 RGB
    arrays, all the same size. Streams: only the previous frame is held.
    """
    engine = FlowEngine(backend, cache, blur_sigma=blur_sigma)
    prev = prev_digest = None
    for t, frame in enumerate(frames):
        img = to_image_tensor(frame, f"frame {t}")
        digest = frame_digest(img) if cache is not None else None
        if prev is not None:
            yield engine.pair(prev, img, index=t, prev_digest=prev_digest, cur_digest=digest)
        prev, prev_digest = img, digest
