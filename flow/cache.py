"""A content-addressed on-disk store for flows and masks.

An entry's name is the SHA-256 of everything that determines it: the backend
name, its parameters and library versions, the processing size, the
direction, and digests of the two frames exactly as they were fed in (see
:meth:`FlowCache.flow_key`). Entries live at ``<root>/<2 hex>/<key>.vsf``.

File layout: ``MAGIC`` (8 bytes), little-endian uint32 header length, a JSON
header ``{"dtype", "shape", "blake2b"}`` padded with spaces so the raw C-order
data starts at a multiple of 64 bytes. Writes go to a temporary file in the
same folder and are renamed into place, so a killed run never leaves a half
entry under an entry's name. Reads are memory-mapped (copy-on-write) and
checked against the stored size and BLAKE2b digest; a truncated or corrupt
entry is deleted, counted in :attr:`FlowCache.stats` and reported as a miss,
so the caller recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flow.errors import FlowError

MAGIC = b"VSFLOW1\n"
FORMAT_VERSION = 1
_ALIGN = 64
_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


@dataclass
class CacheStats:
    """Counters since the cache was opened; ``healed`` lists ``"path: reason"`` lines."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    healed: list[str] = field(default_factory=list)


def frame_digest(img: torch.Tensor) -> str:
    """Digest of a frame exactly as fed to a backend: its shape, dtype and bytes."""
    t = img.detach().to("cpu").contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def _json_key(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class FlowCache:
    """On-disk cache of flow and mask tensors (see the module docstring).

    ``FlowCache(root)`` creates ``root`` if needed and checks it is writable
    (else :class:`FlowError` naming it). ``get(key)`` returns a CPU tensor backed
    by a memory map, or None; ``put(key, tensor)`` stores atomically.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.stats = CacheStats()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise FlowError(f"flow cache dir {self.root} is not writable: {exc.strerror or exc}") from None

    # -- keys ---------------------------------------------------------------
    @staticmethod
    def flow_key(backend, src_digest: str, dst_digest: str, *, size: tuple[int, int], direction: str) -> str:
        """Key of the flow that ``backend`` estimates from frame ``src`` to ``dst``.

        ``size`` is the processing size ``(H, W)``; ``direction`` is ``"fw"``
        (earlier -> later frame) or ``"bw"`` (later -> earlier).
        """
        if direction not in ("fw", "bw"):
            raise FlowError(f"flow direction {direction!r}: expected fw or bw")
        return _json_key({
            "kind": "flow", "format": FORMAT_VERSION, "backend": backend.name, "params": backend.params,
            "versions": backend.versions, "size": [int(size[0]), int(size[1])], "direction": direction,
            "src": src_digest, "dst": dst_digest,
        })

    @staticmethod
    def mask_key(flow_bw_key: str, flow_fw_key: str, params: dict[str, Any]) -> str:
        """Key of the reliability mask computed from two cached flows with ``params``."""
        return _json_key({"kind": "mask", "format": FORMAT_VERSION, "bw": flow_bw_key, "fw": flow_fw_key,
                          "params": params})

    def path(self, key: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise FlowError(f"flow cache key {key!r} is not a hex digest")
        return self.root / key[:2] / f"{key}.vsf"

    # -- read / write -------------------------------------------------------
    def get(self, key: str) -> torch.Tensor | None:
        """The stored tensor (CPU, memory-mapped copy-on-write) or None on a miss.

        A truncated or corrupt entry is removed and recorded in ``stats.healed``.
        """
        path = self.path(key)
        try:
            arr = self._read(path)
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except (ValueError, OSError, KeyError, json.JSONDecodeError, struct.error) as exc:
            self.stats.healed.append(f"{path}: {exc}")
            self.stats.misses += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.stats.hits += 1
        return torch.from_numpy(arr)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC) + 4)
            if len(head) < len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
                raise ValueError("not a flow-cache entry (bad magic)")
            (hlen,) = struct.unpack("<I", head[len(MAGIC):])
            if hlen > 1 << 16:
                raise ValueError(f"implausible header length {hlen}")
            header = json.loads(f.read(hlen).decode())
            size = os.fstat(f.fileno()).st_size
        dtype = np.dtype(_DTYPES[header["dtype"]])
        shape = tuple(int(s) for s in header["shape"])
        offset = len(MAGIC) + 4 + hlen
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size != offset + nbytes:
            raise ValueError(f"truncated entry: {size} bytes, expected {offset + nbytes}")
        arr = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape)
        if hashlib.blake2b(arr.data.cast("B"), digest_size=16).hexdigest() != header["blake2b"]:
            raise ValueError("corrupt entry: checksum mismatch")
        return arr

    def put(self, key: str, tensor: torch.Tensor) -> Path:
        """Store ``tensor`` (float32/float16/uint8) under ``key``, atomically."""
        arr = np.ascontiguousarray(tensor.detach().to("cpu").numpy())
        dtype_name = arr.dtype.name
        if dtype_name not in _DTYPES:
            raise FlowError(f"flow cache stores float32, float16 or uint8 tensors, not {dtype_name}")
        digest = hashlib.blake2b(arr.data.cast("B"), digest_size=16).hexdigest()
        header = json.dumps({"dtype": dtype_name, "shape": list(arr.shape), "blake2b": digest}).encode()
        pad = (-(len(MAGIC) + 4 + len(header))) % _ALIGN
        header += b" " * pad
        path = self.path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".part", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + struct.pack("<I", len(header)) + header)
                self._write_payload(f, arr)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise FlowError(f"cannot write flow cache entry {path}: {exc.strerror or exc}") from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        self.stats.writes += 1
        return path

    @staticmethod
    def _write_payload(f, arr: np.ndarray) -> None:
        f.write(arr.data.cast("B"))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def clean_partial(self) -> int:
        """Remove leftover ``*.part`` files of killed runs; returns how many."""
        n = 0
        for p in self.root.glob("*/.*.part"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n
