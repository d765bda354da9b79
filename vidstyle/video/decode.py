"""Reading videos with PyAV: :func:`probe` for facts, :func:`iter_frames` for a stream of RGB frames.

Frames come out as ``HxWx3`` ``uint8`` RGB arrays (the format encoders and the
lossless work directory take); ``vidstyle.imageio.from_uint8`` turns one into the
library's ``(1, 3, H, W)`` float32 [0, 1] tensor.

Every frame carries its source timestamp, so variable-frame-rate sources keep
their timing. Rotation metadata (the display matrix) is applied, 8- and 10-bit
sources are converted to 8-bit RGB, and decoding streams: memory does not grow
with the length of the video.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidstyle.errors import VidstyleError

# Formats FFmpeg opens that hold one still picture, not a video.
_STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe")
_VFR_SCAN_PACKETS = 240  # probe looks at this many packet timestamps to tell variable frame rate


class DecodeError(VidstyleError):
    """The video stopped decoding part-way; ``frames_ok`` frames were delivered before it."""

    def __init__(self, message: str, frames_ok: int):
        super().__init__(message)
        self.frames_ok = frames_ok


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video's first video stream.

    ``width``/``height`` are the display size (after rotation and non-square
    pixels). ``frames`` is the container's count when it states one (MP4 does,
    Matroska does not). ``fps`` is the average rate (None if unknown).
    ``time_base`` is the stream's tick in seconds (``Frame.pts * time_base``).
    ``rotation`` is counter-clockwise degrees (0, 90, 180, 270) applied for
    display, FFmpeg's display-matrix convention. ``vfr`` is True when the
    first packets' timestamp intervals differ, None when there are too few.
    """

    path: Path
    width: int
    height: int
    frames: int | None
    fps: Fraction | None
    time_base: Fraction
    duration: float | None
    codec: str
    pix_fmt: str
    rotation: int
    bit_depth: int
    audio_streams: int
    vfr: bool | None


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``index`` counts delivered frames from 0; ``pts`` is the source timestamp in
    ``VideoInfo.time_base`` ticks (None if the file has none); ``time`` is
    seconds since the start of the video stream; ``image`` is ``HxWx3`` uint8 RGB.
    """

    index: int
    pts: int | None
    time: float
    image: np.ndarray


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """The working frame size for a requested long side ``size``: never larger than the source, both
    dimensions even (at least 2).

    The one size rule of every command that decodes a video (``vidstyle video``,
    ``vidstyle flow``, ``vidstyle evaluate``, parallel runs): the same source and
    ``size`` give the same frames, so flows cached by one are found by the others.
    ``size=None`` or a ``size`` at or above the source's long side keeps the
    source size (rounded to even): upscaling adds no detail, only cost. An odd
    ``size`` is rounded to an even long side as well.
    """
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if size is None:
        scale = 1.0
    else:
        if int(size) < 2:
            raise VidstyleError(f"size must be at least 2 pixels, got {size}")
        scale = min(1.0, int(size) / max(width, height))  # never upscale

    def even(x: float) -> int:
        return max(2, int(math.floor(x / 2 + 0.5)) * 2)

    return even(width * scale), even(height * scale)


def _check_input(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise VidstyleError(f"video {path}: no such file")
    if path.is_dir():
        raise VidstyleError(f"video {path} is a folder, not a video file")
    if not os.access(path, os.R_OK):
        raise VidstyleError(f"video {path} is not readable (permission denied)")
    return path


def _open(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` and pick its first real video stream, or raise a one-line error."""
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VidstyleError(f"{path} is not a video FFmpeg can read ({_reason(exc)})") from None
    except OSError as exc:
        raise VidstyleError(f"could not read {path}: {exc.strerror or exc}") from None
    try:
        if container.format.name.split(",")[0] in _STILL_FORMATS:
            raise VidstyleError(f"{path} is a still image, not a video (use `vidstyle image`)")
        videos = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not videos:
            if container.streams.audio:
                raise VidstyleError(f"{path} has no video stream (audio only)")
            raise VidstyleError(f"{path} has no video stream")
        stream = videos[0]
        stream.thread_type = "AUTO"
        return container, stream
    except BaseException:
        container.close()
        raise


def _reason(exc: BaseException) -> str:
    """FFmpeg's words for an error, without PyAV's errno prefix and function name."""
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.rstrip(".")


def _rotation(frame: av.VideoFrame) -> int:
    try:
        angle = int(round(frame.rotation))
    except Exception:  # noqa: BLE001 - a malformed display matrix means "not rotated"
        return 0
    return rotation_from_degrees(angle)


def rotation_from_degrees(angle: float) -> int:
    """Snap a display-matrix angle (counter-clockwise, any sign) to 0, 90, 180 or 270."""
    return int(round(angle / 90.0)) % 4 * 90


def rotate_image(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an ``HxWxC`` image counter-clockwise by ``rotation`` degrees (a multiple of 90)."""
    k = (rotation // 90) % 4
    return image if k == 0 else np.ascontiguousarray(np.rot90(image, k=k))


def _display_size(stream: av.video.stream.VideoStream, coded_w: int, coded_h: int, rotation: int) -> tuple[int, int]:
    sar = stream.sample_aspect_ratio
    w = coded_w
    if sar is not None and sar > 0 and sar != 1:
        w = max(1, int(round(coded_w * sar)))  # non-square pixels: show at the intended width
    return (coded_h, w) if rotation in (90, 270) else (w, coded_h)


def _stream_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Seconds of the video stream, from the stream, a per-track tag, or a single-stream container."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:  # Matroska writes a per-track "HH:MM:SS.nnnnnnnnn" tag
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Facts about ``path``'s first video stream; decodes its first frame to be sure it is a video.

    Raises VidstyleError (one line) for a missing file, a folder, a file that is
    not a video, a still image, an audio-only file, and a video with no frames.
    """
    path = _check_input(path)
    container, stream = _open(path)
    try:
        first = None
        stamps: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    stamps.append(packet.pts)
                if first is None:
                    for decoded in packet.decode():
                        first = decoded
                        break
                if first is not None and len(stamps) >= _VFR_SCAN_PACKETS:
                    break
            if first is None:
                for decoded in stream.decode(None):
                    first = decoded
                    break
        except av.error.FFmpegError as exc:
            if first is None:
                raise VidstyleError(f"{path}: the video could not be decoded ({_reason(exc)})") from None
        if first is None:
            raise VidstyleError(f"{path} has no video frames")
        rotation = _rotation(first)
        width, height = _display_size(stream, first.width, first.height, rotation)
        fmt = first.format
        bit_depth = max((c.bits for c in fmt.components), default=8)
        fps = stream.average_rate or stream.guessed_rate or None
        if stream.time_base is None:  # FFmpeg's demuxers set one; a file without cannot be timed
            raise VidstyleError(f"{path}: the video stream has no time base")
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            frames=stream.frames or None,
            fps=Fraction(fps) if fps else None,
            time_base=Fraction(stream.time_base),
            duration=_stream_duration(container, stream),
            codec=stream.codec_context.name,
            pix_fmt=fmt.name,
            rotation=rotation,
            bit_depth=bit_depth,
            audio_streams=len(container.streams.audio),
            vfr=_is_vfr(stamps),
        )
    finally:
        container.close()


def _is_vfr(stamps: list[int]) -> bool | None:
    """True when presentation intervals differ by more than one tick (rounding)."""
    if len(stamps) < 3:
        return None
    gaps = np.diff(np.unique(np.asarray(stamps, dtype=np.int64)))
    if len(gaps) < 2:
        return None
    return bool(gaps.max() - gaps.min() > 1)


def iter_frames(
    path: str | os.PathLike,
    *,
    size: int | None = None,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Yield the frames of ``path`` one at a time as :class:`Frame` (``HxWx3`` uint8 RGB).

    ``size`` is the long side of the output (dimensions rounded to even, see
    :func:`output_size`; None keeps the source size, rounded to even).
    ``start`` and ``duration`` are seconds on the video's own clock (0 = its
    first frame): the decoder seeks to the keyframe before ``start`` and skips
    the frames before it. ``max_frames`` stops after that many frames.

    The file is checked (see :func:`probe`) before the first frame. A file that
    breaks or ends early part-way raises :class:`DecodeError` after the last
    good frame, with ``frames_ok`` = the number of frames delivered.
    """
    if start is None:
        start = 0.0
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start >= 0):
        raise VidstyleError(f"start must be a number of seconds >= 0, got {start!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise VidstyleError(f"duration must be a number of seconds > 0, got {duration!r}")
    if max_frames is not None and int(max_frames) < 1:
        raise VidstyleError(f"max_frames must be at least 1, got {max_frames!r}")
    info = probe(path)
    return _frames(info, size=size, start=float(start), duration=duration, max_frames=max_frames)


def _frames(info: VideoInfo, *, size: int | None, start: float, duration: float | None,
            max_frames: int | None) -> Iterator[Frame]:
    out_w, out_h = output_size(info.width, info.height, size)
    rotation = info.rotation
    # Scale in the coded orientation, then turn: a 90/270 rotation swaps the axes.
    coded_w, coded_h = (out_h, out_w) if rotation in (90, 270) else (out_w, out_h)
    end = None if duration is None else start + duration
    tb = info.time_base
    step = 1.0 / float(info.fps) if info.fps else None

    container, stream = _open(info.path)
    try:
        origin = stream.start_time if stream.start_time is not None else 0
        seeked = False
        if start > 0:
            target = origin + int(math.floor(start / tb))
            try:
                container.seek(target, stream=stream, backward=True, any_frame=False)
                seeked = True
            except av.error.FFmpegError:
                pass  # not seekable: decode from the top and skip
        delivered = 0
        decoded = 0
        last_time = None
        try:
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts is not None:
                    t = float((frame.pts - origin) * tb)
                else:  # no timestamps: count from the last one (or the frame number) at the average rate
                    t = (last_time + step) if (last_time is not None and step) else (decoded - 1) * (step or 0.0)
                last_time = t
                if t < start - 1e-6:
                    continue
                if end is not None and t >= end - 1e-6:
                    return
                rgb = frame.reformat(width=coded_w, height=coded_h, format="rgb24", interpolation="AREA")
                image = rotate_image(rgb.to_ndarray(), rotation)
                yield Frame(index=delivered, pts=frame.pts, time=t, image=image)
                delivered += 1
                if max_frames is not None and delivered >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise DecodeError(
                f"{info.path}: decoding stopped after {delivered} frames ({_reason(exc)})", delivered
            ) from None
        # Natural end of file: did it end where the container said it would? (A frame-count check alone
        # would misfire on MP4 edit lists, which hide counted frames; the stream's duration does not.)
        if info.duration and last_time is not None:
            slack = max(0.5, 2.5 * (step or 0.0))
            if last_time + slack < info.duration:
                counted = f" of {info.frames}" if (info.frames and not seeked and start == 0) else ""
                raise DecodeError(
                    f"{info.path}: the file ends early (truncated or damaged): after {decoded}{counted} frames, "
                    f"at {last_time:.2f}s of {info.duration:.2f}s; {delivered} frames decoded",
                    delivered,
                )
    finally:
        container.close()
