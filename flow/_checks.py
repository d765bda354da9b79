"""Shape checks and conversions shared by the public entry points.

Every public function validates its inputs here so that a wrong shape is a
one-line :class:`~flow.errors.FlowError` naming the offending value, never a
broadcasting accident deep inside torch.
"""

from __future__ import annotations

import numpy as np
import torch

from flow.errors import FlowError


def check_images(img: torch.Tensor, name: str = "image", *, channels: int | None = 3) -> torch.Tensor:
    """Check an image batch ``(N, C, H, W)`` (``C == channels`` unless None)."""
    if not isinstance(img, torch.Tensor):
        raise FlowError(f"{name}: expected a torch.Tensor of shape (N,{channels or 'C'},H,W), got {type(img).__name__}")
    if img.dim() != 4 or img.shape[0] < 1 or (channels is not None and img.shape[1] != channels):
        raise FlowError(f"{name}: expected shape (N,{channels or 'C'},H,W), got {tuple(img.shape)}")
    if img.shape[2] < 2 or img.shape[3] < 2:
        raise FlowError(f"{name}: image of {img.shape[3]}x{img.shape[2]} px is too small (need at least 2x2)")
    if not img.is_floating_point():
        raise FlowError(f"{name}: expected a float tensor with values in [0, 1], got dtype {img.dtype}")
    return img


def check_flow(flow: torch.Tensor, name: str = "flow") -> torch.Tensor:
    """Check a flow batch ``(N, 2, H, W)`` (x then y, pixels)."""
    if not isinstance(flow, torch.Tensor):
        raise FlowError(f"{name}: expected a torch.Tensor of shape (N,2,H,W), got {type(flow).__name__}")
    if flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[0] < 1:
        raise FlowError(f"{name}: expected shape (N,2,H,W), got {tuple(flow.shape)}")
    if flow.shape[2] < 2 or flow.shape[3] < 2:
        raise FlowError(f"{name}: flow of {flow.shape[3]}x{flow.shape[2]} px is too small (need at least 2x2)")
    if not flow.is_floating_point():
        raise FlowError(f"{name}: expected a float tensor, got dtype {flow.dtype}")
    return flow


def check_same_size(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str, *, batch: bool = True) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise FlowError(
            f"{name_a} is {a.shape[-1]}x{a.shape[-2]} px but {name_b} is {b.shape[-1]}x{b.shape[-2]} px: "
            "sizes must match"
        )
    if batch and a.shape[0] != b.shape[0]:
        raise FlowError(f"{name_a} has batch size {a.shape[0]} but {name_b} has {b.shape[0]}: batch sizes must match")


def to_image_tensor(frame, name: str = "frame") -> torch.Tensor:
    """A frame as a ``(1, 3, H, W)`` float32 RGB tensor in [0, 1].

    Accepts an ``HxWx3`` uint8 RGB array (as video decoders give) or a
    ``(1, 3, H, W)`` / ``(3, H, W)`` float tensor already in the convention.
    """
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise FlowError(f"{name}: expected an HxWx3 RGB array, got shape {frame.shape}")
        if frame.dtype == np.uint8:
            t = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div_(255.0)
        elif np.issubdtype(frame.dtype, np.floating):
            t = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).permute(2, 0, 1)
        else:
            raise FlowError(f"{name}: expected a uint8 or float array, got dtype {frame.dtype}")
        return check_images(t.unsqueeze(0).contiguous(), name)
    if isinstance(frame, torch.Tensor) and frame.dim() == 3:
        frame = frame.unsqueeze(0)
    check_images(frame, name)
    if frame.shape[0] != 1:
        raise FlowError(f"{name}: expected a single frame (1,3,H,W), got {tuple(frame.shape)}")
    return frame.float()
