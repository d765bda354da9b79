"""Video input and output with PyAV.

- :mod:`vidstyle.video.decode`: :func:`probe` -> :class:`VideoInfo`, :func:`iter_frames` -> :class:`Frame`
  (streaming ``HxWx3`` uint8 RGB, source timestamps, rotation applied, 8/10-bit sources),
  :func:`output_size`, :class:`DecodeError` (carries ``frames_ok``).
- :mod:`vidstyle.video.encode`: :class:`VideoWriter` (H.264 / H.265 / FFV1 / PNG sequence, source
  timestamps kept, audio copied, atomic), :func:`check_output_path`, :data:`SUPPORTED_EXTENSIONS`.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names the lazy table below serves, for type checkers (no import at run time)
    from vidstyle.video.decode import DecodeError, Frame, VideoInfo, iter_frames, output_size, probe
    from vidstyle.video.encode import VideoWriter
    from vidstyle.video.outputs import CODECS, SUPPORTED_EXTENSIONS, check_output_path, is_sequence_path

# Imported on first use (PEP 562): the CLI's light modules import vidstyle.video.outputs and must not
# pay for PyAV and torch.
_EXPORTS = {
    "DecodeError": "vidstyle.video.decode", "Frame": "vidstyle.video.decode", "VideoInfo": "vidstyle.video.decode",
    "iter_frames": "vidstyle.video.decode", "output_size": "vidstyle.video.decode", "probe": "vidstyle.video.decode",
    "CODECS": "vidstyle.video.outputs", "SUPPORTED_EXTENSIONS": "vidstyle.video.outputs",
    "VideoWriter": "vidstyle.video.encode", "check_output_path": "vidstyle.video.outputs",
    "is_sequence_path": "vidstyle.video.outputs",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vidstyle.video' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CODECS", "DecodeError", "Frame", "SUPPORTED_EXTENSIONS", "VideoInfo", "VideoWriter", "check_output_path",
    "is_sequence_path", "iter_frames", "output_size", "probe",
]
