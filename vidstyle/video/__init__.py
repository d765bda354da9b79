"""Video input and output with PyAV.

- :mod:`vidstyle.video.decode`: :func:`probe` -> :class:`VideoInfo`, :func:`iter_frames` -> :class:`Frame`
  (streaming ``HxWx3`` uint8 RGB, source timestamps, rotation applied, 8/10-bit sources),
  :func:`output_size`, :class:`DecodeError` (carries ``frames_ok``).
- :mod:`vidstyle.video.encode`: :class:`VideoWriter` (H.264 / H.265 / FFV1 / PNG sequence, source
  timestamps kept, audio copied, atomic), :func:`check_output_path`, :data:`SUPPORTED_EXTENSIONS`.
"""

from vidstyle.video.decode import DecodeError, Frame, VideoInfo, iter_frames, output_size, probe
from vidstyle.video.encode import CODECS, SUPPORTED_EXTENSIONS, VideoWriter, check_output_path, is_sequence_path

__all__ = [
    "CODECS", "DecodeError", "Frame", "SUPPORTED_EXTENSIONS", "VideoInfo", "VideoWriter", "check_output_path",
    "is_sequence_path", "iter_frames", "output_size", "probe",
]
