"""Writing videos with PyAV: :class:`VideoWriter` (atomic, source timestamps, audio copied).

Outputs
- ``.mp4`` / ``.m4v`` / ``.mov`` / ``.mkv`` file: ``libx264`` (yuv420p, ``crf``; the default),
  ``libx265`` (yuv420p, ``crf``) or ``ffv1`` (lossless planar RGB, ``.mkv`` only).
- a PNG sequence (codec ``png``, lossless, no audio, no timestamps) when the path ends with
  ``/``, is an existing folder, or its name holds a printf pattern such as ``frames/%05d.png``;
  a folder gets ``000001.png``, ``000002.png``, ...

The output appears only when complete: frames go to a hidden temporary file (or
folder) beside the target, which :meth:`VideoWriter.close` renames into place.
Audio: every audio stream of ``audio_from`` is copied packet by packet without
re-encoding, interleaved with the video as it is written; a stream the output
container cannot hold is re-encoded to AAC.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidstyle import defaults
from vidstyle.atomic import hold, user_file_mode
from vidstyle.errors import VidstyleError
from vidstyle.video.outputs import (
    _sequence_parts,
    check_output_path,
    is_sequence_path,
    remove_stale_partials,
)

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_PIX_FMTS = {"libx264": "yuv420p", "libx265": "yuv420p", "ffv1": "bgr0"}  # bgr0: RGB kept bit-exact
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 8: "7.1"}
_AUDIO_LEAD = 0.5  # seconds of audio muxed ahead of the video written so far


def _write_error(path: Path, exc: BaseException) -> VidstyleError:
    code = getattr(exc, "errno", None)
    if code in _FULL_ERRNOS:
        return VidstyleError(f"disk full while writing {path} (no space left); free some space and run again")
    reason = getattr(exc, "strerror", None) or str(exc)
    return VidstyleError(f"could not write {path}: {reason}")


def _as_fraction(value, name: str) -> Fraction:
    try:
        frac = Fraction(value).limit_denominator(1_000_000) if isinstance(value, float) else Fraction(value)
    except (TypeError, ValueError):
        raise VidstyleError(f"{name} must be a positive number, got {value!r}") from None
    if frac <= 0:
        raise VidstyleError(f"{name} must be positive, got {value!r}")
    return frac


class _AudioCopier:
    """Streams the audio of a source file into an output container, in step with the video.

    Packets are copied as they are (timestamps shifted by ``start``); a codec the
    output cannot hold is decoded and re-encoded to AAC.
    """

    def __init__(self, source: Path, output: av.container.OutputContainer, fmt: str,
                 start: float, end: float | None):
        try:
            self.input = av.open(str(source))
        except (av.error.FFmpegError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise VidstyleError(f"audio source {source} cannot be read ({reason})") from None
        self.start, self.end = start, end
        streams = list(self.input.streams.audio)
        # Times are on the source's video clock (Frame.time), so audio and frames stay in step.
        self.origin = 0.0
        for v in self.input.streams.video:
            if v.start_time is not None and v.time_base is not None:
                self.origin = float(v.start_time * v.time_base)
                break
        self.routes: dict[int, tuple] = {}
        self.reencoded: list[int] = []
        for s in streams:
            if _can_copy(s, fmt):
                out = output.add_stream_from_template(s)
                self.routes[s.index] = ("copy", out)
            else:
                out = output.add_stream("aac", rate=s.codec_context.sample_rate or 48000)
                channels = s.codec_context.layout.nb_channels if s.codec_context.layout is not None else 2
                out.layout = _AAC_LAYOUTS.get(channels, "stereo")  # other counts are downmixed to stereo
                self.routes[s.index] = ("aac", out)
                self.reencoded.append(s.index)
        self.output = output
        self.packets = self.input.demux(*streams) if streams else iter(())
        self.pending: av.Packet | None = None
        self.done = not streams

    def _time(self, packet) -> float | None:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None:
            return None
        return float(ts * packet.time_base) - self.origin - self.start

    def pump(self, until: float | None) -> None:
        """Mux audio up to output time ``until`` seconds (everything when None)."""
        while not self.done:
            packet = self.pending
            self.pending = None
            if packet is None:
                try:
                    packet = next(self.packets)
                except StopIteration:
                    self._flush()
                    self.done = True
                    return
            if packet.size == 0 and packet.dts is None:
                continue  # demuxer's end-of-stream marker
            t = self._time(packet)
            if t is not None and until is not None and t > until:
                self.pending = packet
                return
            self._route(packet, t)

    def _route(self, packet, t: float | None) -> None:
        if t is not None and self.start > 0 and t < 0:
            return  # before the requested start
        if t is not None and self.end is not None and t >= self.end - self.start:
            return
        kind, out = self.routes[packet.stream.index]
        shift = int(round((self.origin + self.start) / packet.time_base)) if (self.origin or self.start) else 0
        if kind == "copy":
            if shift:
                if packet.pts is not None:
                    packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
            packet.stream = out
            self.output.mux(packet)
            return
        for frame in packet.decode():
            if frame.pts is not None and shift:
                frame.pts -= shift
            for p in out.encode(frame):
                self.output.mux(p)

    def _flush(self) -> None:
        for kind, out in self.routes.values():
            if kind == "aac":
                for p in out.encode(None):
                    self.output.mux(p)

    def close(self) -> None:
        self.input.close()


def _can_copy(stream, fmt: str) -> bool:
    """Whether container format ``fmt`` accepts ``stream``'s codec as is (a dry run in memory)."""
    probe = av.open(io.BytesIO(), mode="w", format=fmt)
    try:
        probe.add_stream_from_template(stream)
        probe.start_encoding()
        return True
    except (av.error.FFmpegError, ValueError, TypeError):
        return False
    finally:
        try:
            probe.close()
        except Exception:  # noqa: BLE001 - a half-opened dry run may fail to close; nothing was written
            pass


class VideoWriter:
    """Write frames to a video file (or PNG folder) atomically; use as a context manager.

    ``width``/``height``: frame size (even for libx264/libx265). ``fps``: nominal rate
    (a Fraction; used for frames written without a timestamp and as the stream's
    rate). ``time_base``: tick of the ``pts`` passed to :meth:`write` (default
    ``1/fps``); pass the source's ``VideoInfo.time_base`` and each ``Frame.pts`` to
    keep variable frame rate timing exactly. ``audio_from``: copy its audio streams;
    ``audio_start``/``audio_end`` (seconds on the source's video clock, i.e.
    ``Frame.time``) trim the audio and place ``audio_start`` at output time 0 -
    use them with frames written at ``time=frame.time - audio_start``.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps, time_base=None,
                 codec: str = defaults.VIDEO_CODEC, crf: int = defaults.VIDEO_CRF,
                 audio_from: str | os.PathLike | None = None, overwrite: bool = False,
                 audio_start: float = 0.0, audio_end: float | None = None, preset: str = "medium"):
        self.sequence = is_sequence_path(path)
        self.path = check_output_path(path, codec=codec, overwrite=overwrite)
        self.codec = "png" if self.sequence else codec
        self.width, self.height = int(width), int(height)
        if self.width < 1 or self.height < 1:
            raise VidstyleError(f"frame size must be positive, got {width}x{height}")
        if self.codec in ("libx264", "libx265") and (self.width % 2 or self.height % 2):
            raise VidstyleError(f"{self.codec} needs even frame dimensions, got {self.width}x{self.height}")
        self.fps = _as_fraction(fps, "fps")
        self.time_base = _as_fraction(time_base, "time_base") if time_base is not None else 1 / self.fps
        if not 0 <= crf <= 51:
            raise VidstyleError(f"crf must be between 0 and 51, got {crf}")
        self.overwrite = overwrite
        self.frames_written = 0
        self.audio_reencoded: list[int] = []  # source stream indices that had to become AAC
        self._last_pts: int | None = None
        self._closed = False
        # Set for a video file (not a PNG sequence) once the temporary output is open.
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: _AudioCopier | None = None
        self._hold: int | None = None
        remove_stale_partials(path)  # of a run killed while encoding; live writers hold theirs
        if self.sequence:
            self._folder, self._pattern = _sequence_parts(path)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self._folder.name}.", suffix=".partial",
                                              dir=self._folder.parent if str(self._folder.parent) else "."))
            self._hold = hold(self._tmp)
            return
        parent = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".partial{self.path.suffix}", dir=parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._hold = hold(self._tmp)
        fmt = _FORMATS[self.path.suffix.lower()]
        try:
            self._container = av.open(str(self._tmp), mode="w", format=fmt)
            stream = self._container.add_stream(self.codec, rate=self.fps)
            assert isinstance(stream, av.VideoStream)  # every codec in CODECS is a video codec
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = _PIX_FMTS[self.codec]
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            if self.codec in ("libx264", "libx265"):
                options = {"crf": str(int(crf)), "preset": preset}
                if self.codec == "libx265":
                    options["x265-params"] = "log-level=error"
                    if fmt in ("mp4", "mov"):
                        stream.codec_context.codec_tag = "hvc1"  # the tag Apple players expect for HEVC
                stream.codec_context.options = options
            self._stream = stream
            if audio_from is not None:
                self._audio = _AudioCopier(Path(audio_from), self._container, fmt, float(audio_start),
                                           None if audio_end is None else float(audio_end))
                self.audio_reencoded = self._audio.reencoded
        except VidstyleError:
            self.abort()
            raise
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise _write_error(self.path, exc) from None

    # -- frames -----------------------------------------------------------------------------------
    def _to_array(self, image) -> np.ndarray:
        if hasattr(image, "detach"):  # a torch tensor (1,3,H,W) or (3,H,W) in [0, 1]
            # The project's one tensor -> uint8 conversion. Imported here: this module does not need
            # torch for arrays, and a tensor means torch is loaded already.
            from vidstyle.imageio import to_uint8

            if image.dim() == 4 and image.shape[0] != 1:
                raise ValueError(f"write takes one frame, got a batch of {image.shape[0]}")
            image = to_uint8(image)
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating):  # float HxWx3 in [0, 1]
                arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
            else:
                raise ValueError(f"image must be uint8 or float in [0, 1], got {arr.dtype}")
        if arr.shape != (self.height, self.width, 3):
            raise ValueError(f"image must be {self.height}x{self.width}x3, got {arr.shape}")
        return np.ascontiguousarray(arr)

    def write(self, image, *, pts: int | None = None, time: float | None = None) -> None:
        """Append a frame: ``HxWx3`` uint8 RGB array (or float in [0, 1]) or a ``(1,3,H,W)`` tensor.

        ``pts`` is in ``time_base`` ticks; else ``time`` (seconds) is converted;
        else the frame follows the previous one at ``fps``. Timestamps must increase.
        """
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        arr = self._to_array(image)
        if pts is None:
            if time is not None:
                pts = int(round(time / self.time_base))
            elif self._last_pts is None:
                pts = 0
            else:
                pts = self._last_pts + max(1, int(round(1 / (self.fps * self.time_base))))
        pts = int(pts)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"frame timestamps must increase: pts {pts} after {self._last_pts}")
        try:
            if self.sequence:
                self._write_png(arr)
            else:
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                frame.pts = pts
                frame.time_base = self.time_base
                container, stream = self._open_output()
                for packet in stream.encode(frame):
                    container.mux(packet)
                if self._audio is not None:
                    self._audio.pump(float(pts * self.time_base) + _AUDIO_LEAD)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise _write_error(self.path, exc) from None
        self._last_pts = pts
        self.frames_written += 1

    def _open_output(self) -> tuple[av.container.OutputContainer, av.video.stream.VideoStream]:
        """The open container and its video stream (a video file's writer has them until closed)."""
        if self._container is None or self._stream is None:
            raise ValueError("the VideoWriter's output is closed")
        return self._container, self._stream

    def _write_png(self, arr: np.ndarray) -> None:
        from PIL import Image

        name = self._pattern % (self.frames_written + 1)
        Image.fromarray(arr).save(self._tmp / name, format="PNG", compress_level=3)

    # -- finishing ---------------------------------------------------------------------------------
    def close(self) -> Path:
        """Flush the encoder, copy the rest of the audio, and move the output into place."""
        if self._closed:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise VidstyleError(f"no frames were written to {self.path}")
        try:
            if not self.sequence:
                container, stream = self._open_output()
                for packet in stream.encode(None):
                    container.mux(packet)
                if self._audio is not None:
                    self._audio.pump(None)
                    self._audio.close()
                    self._audio = None
                container.close()
                self._container = None
                if self.path.exists() and not self.overwrite:
                    raise VidstyleError(f"{self.path} appeared while writing; not replacing it (use -y)")
                user_file_mode(self._tmp)
                os.replace(self._tmp, self.path)
            else:
                self._install_folder()
        except VidstyleError:
            self.abort()
            raise
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise _write_error(self.path, exc) from None
        self._closed = True
        self._release()
        return self.path

    def _install_folder(self) -> None:
        folder = self._folder
        old = None
        if folder.exists() and any(folder.iterdir()):
            if not self.overwrite:
                raise VidstyleError(f"{folder} already holds files (use -y/--overwrite to replace them)")
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.rmdir(old)
            os.rename(folder, old)
        elif folder.exists():
            os.rmdir(folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the frames folder is the user's
        os.rename(self._tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def abort(self) -> None:
        """Stop and remove the temporary output (nothing appears at ``path``)."""
        self._closed = True
        self._release()
        if self._audio is not None:
            try:
                self._audio.close()
            except Exception:  # noqa: BLE001 - closing an input after a failure
                pass
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is deleted next; a failing trailer write is moot
                pass
            self._container = None
        tmp = getattr(self, "_tmp", None)
        if tmp is not None and tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):  # an abandoned writer leaves no temporary file behind
        try:
            if not self._closed:
                self.abort()
        except Exception:  # noqa: BLE001
            pass
