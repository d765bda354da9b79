"""Flow backends behind one interface (:class:`FlowBackend`) and a name registry."""

from __future__ import annotations

import inspect

from flow.backends.base import FlowBackend
from flow.backends.opencv import DIS_PRESETS, DeepFlowBackend, DISBackend
from flow.backends.raft import RaftBackend
from flow.backends.spynet import SpyNet, SpyNetBackend, load_spynet_state
from flow.errors import FlowError

BACKENDS: dict[str, type[FlowBackend]] = {
    "deepflow": DeepFlowBackend,
    "dis": DISBackend,
    "spynet": SpyNetBackend,
    "raft": RaftBackend,
}


def get_backend(name: str, *, device=None, **params) -> FlowBackend:
    """Build backend ``name`` (``deepflow``, ``dis``, ``spynet``, ``raft``) with
    its keyword ``params`` (e.g. ``preset="fast"`` for dis, ``weights=...`` for
    spynet) on ``device`` (default CPU; OpenCV backends compute on the CPU and
    return tensors on ``device``). Unknown names or parameters raise :class:`FlowError`."""
    try:
        cls = BACKENDS[name]
    except (KeyError, TypeError):
        raise FlowError(f"unknown flow method {name!r}: expected one of {', '.join(BACKENDS)}") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "device"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) or "none"
        raise FlowError(f"flow method {name!r} has no parameter {unknown[0]!r} (it takes: {takes})")
    return cls(device=device, **params)


__all__ = ["BACKENDS", "DIS_PRESETS", "DISBackend", "DeepFlowBackend", "FlowBackend", "RaftBackend", "SpyNet",
           "SpyNetBackend", "get_backend", "load_spynet_state"]
