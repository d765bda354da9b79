"""Generate the sample clip ``samples/clip.mp4``: moving textured shapes with a tone.

A textured disc and a textured square glide over a slowly panning textured
gradient (smooth, small motions that optical flow can follow), with a sine-tone
AAC audio track. Deterministic: the same command writes the same pictures and
sound. Run ``python samples/make_clip.py`` (options: ``--help``).

The functions here are also the tests' clip factory: :func:`make_clip` can
write variable frame rate timing, a rotation tag, 10-bit pixels, other codecs,
and no audio; :func:`write_tone` writes an audio-only file.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, FPS, FRAMES = 320, 180, 10, 30
TONE_HZ, SAMPLE_RATE = 440.0, 44100


def _noise(shape: tuple[int, int], seed: int, blur: int) -> np.ndarray:
    """Smooth noise in [-1, 1] (box-blurred white noise, wrapped so it tiles)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    for axis in (0, 1):
        x = sum(np.roll(x, s, axis=axis) for s in range(-blur, blur + 1))
    return x / np.abs(x).max()


def _background(width: int, height: int) -> np.ndarray:
    """A colour gradient with ripples and blotches, 64 px wider and taller than the frame (room to pan)."""
    h, w = height + 64, width + 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([0.25 + 0.5 * xx / w, 0.35 + 0.15 * np.sin(yy / h * np.pi), 0.75 - 0.5 * yy / h], axis=-1)
    ripple = 0.08 * np.sin(xx / 7.0 + np.sin(yy / 11.0) * 2.0) * np.cos(yy / 9.0)
    blotch = 0.12 * _noise((h, w), seed=1, blur=4)
    return np.clip(base + (ripple + blotch)[..., None], 0, 1)


def _disc_texture(r: np.ndarray, a: np.ndarray) -> np.ndarray:
    rings = 0.5 + 0.5 * np.sin(r / 3.0)
    spokes = 0.5 + 0.5 * np.sin(a * 6.0)
    return np.stack([0.9 * rings, 0.3 + 0.5 * spokes * rings, 0.2 + 0.2 * spokes], axis=-1)


def _square_texture(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    checker = ((np.floor(u / 6) + np.floor(v / 6)) % 2).astype(np.float64)
    stripes = 0.5 + 0.5 * np.sin((u + v) / 2.5)
    return np.stack([0.15 + 0.3 * stripes, 0.55 + 0.35 * checker, 0.85 - 0.4 * checker * stripes], axis=-1)


def render_frame(t: float, width: int = WIDTH, height: int = HEIGHT, length: float = 3.0) -> np.ndarray:
    """The picture at time ``t`` seconds as ``height x width x 3`` uint8 RGB (motion is continuous in t)."""
    bg = _background(width, height)
    ox, oy = int(round(24 * t / length * 2)), int(round(8 * t / length * 2))  # background pans 16 px/s, 5 px/s
    img = bg[oy:oy + height, ox:ox + width].copy()
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    s = min(width, height) / 180.0  # shapes scale with the frame
    # Disc: left to right on a gentle wave, textured in its own coordinates so the texture moves with it.
    cx = width * (0.2 + 0.5 * t / length)
    cy = height * (0.45 + 0.12 * np.sin(2 * np.pi * t / length))
    dx, dy = xx - cx, yy - cy
    r = np.hypot(dx, dy)
    inside = np.clip(34 * s - r + 0.5, 0, 1)[..., None]  # one-pixel soft edge
    img = img * (1 - inside) + _disc_texture(r / s, np.arctan2(dy, dx)) * inside
    # Square: right to left, lower half.
    qx, qy = width * (0.8 - 0.35 * t / length), height * (0.72 - 0.08 * t / length)
    u, v = xx - qx, yy - qy
    half = 24 * s
    inside = (np.clip(half - np.abs(u) + 0.5, 0, 1) * np.clip(half - np.abs(v) + 0.5, 0, 1))[..., None]
    img = img * (1 - inside) + _square_texture(u / s + 100, v / s + 100) * inside
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def tone(seconds: float, rate: int = SAMPLE_RATE, hz: float = TONE_HZ) -> np.ndarray:
    """A mono sine tone with 20 ms fades, float32 in [-0.3, 0.3]."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    fade = np.clip(np.minimum(t, seconds - t) / 0.02, 0, 1)
    return (0.3 * np.sin(2 * np.pi * hz * t) * fade).astype(np.float32)


def _add_audio(container, codec: str, rate: int):
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono"
    return stream


def _encode_audio(container, stream, samples: np.ndarray, rate: int) -> None:
    """Feed float samples in 1024-sample frames; PyAV converts them to the codec's sample format."""
    for i in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, i:i + 1024]), format="fltp",
                                           layout="mono")
        frame.sample_rate = rate
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_tone(path: str | Path, seconds: float = 2.0, *, codec: str = "aac", rate: int = SAMPLE_RATE) -> Path:
    """An audio-only file holding :func:`tone` (e.g. ``.m4a`` AAC, ``.wav`` with codec ``pcm_u8``)."""
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        _encode_audio(container, _add_audio(container, codec, rate), tone(seconds, rate), rate)
    return path


def make_clip(path: str | Path, *, frames: int = FRAMES, fps: int = FPS, width: int = WIDTH, height: int = HEIGHT,
              times: list[float] | None = None, audio: str | None = "aac", rotation: int = 0,
              codec: str = "libx264", pix_fmt: str = "yuv420p", crf: int = 20,
              options: dict[str, str] | None = None, render=None) -> Path:
    """Write a clip of :func:`render_frame` pictures; returns ``path``.

    ``times`` (seconds, increasing) gives each frame's timestamp for a variable
    frame rate clip (stored with a 1/1000 s time base); otherwise frames are
    ``1/fps`` apart. ``audio`` is the tone's codec (None: no audio track).
    ``rotation`` is stored as a display matrix (counter-clockwise degrees, the
    way a phone tags a portrait video); ``pix_fmt`` such as ``yuv420p10le``
    gives a 10-bit clip with ``libx265`` or ``ffv1``. ``options`` go to the
    container (e.g. ``{"movflags": "+faststart"}``). ``render(t, width, height)``
    replaces :func:`render_frame` as the picture at ``t`` seconds (tests draw
    scenes with known motion this way).
    """
    path = Path(path)
    if times is None:
        times = [i / fps for i in range(frames)]
        time_base = Fraction(1, fps)
    else:
        time_base = Fraction(1, 1000)
    length = max(times[-1] + 1 / fps, 1e-3)
    with av.open(str(path), mode="w", options=options or {}) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.codec_context.thread_count = 1  # one thread: the same bytes on every machine
        if codec in ("libx264", "libx265"):
            video.codec_context.options = {"crf": str(crf), "preset": "medium"}
            if codec == "libx265":
                video.codec_context.options = {"crf": str(crf), "x265-params": "log-level=error:pools=1"}
        if rotation:
            video.set_display_rotation(rotation)
        if audio:
            astream = _add_audio(container, audio, SAMPLE_RATE)
        for t in times:
            picture = render(t, width, height) if render is not None else render_frame(t, width, height, length=3.0)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = int(round(t / time_base))
            frame.time_base = time_base
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio:
            _encode_audio(container, astream, tone(length), SAMPLE_RATE)
    return path


def vfr_times(frames: int = 20) -> list[float]:
    """Uneven frame times (seconds): gaps cycle through 50, 100 and 150 ms."""
    gaps = [0.05, 0.10, 0.15]
    out, t = [], 0.0
    for i in range(frames):
        out.append(round(t, 3))
        t += gaps[i % 3]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=HERE / "clip.mp4")
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--fps", type=int, default=FPS)
    parser.add_argument("--size", type=str, default=f"{WIDTH}x{HEIGHT}", help="WIDTHxHEIGHT (even)")
    parser.add_argument("--vfr", action="store_true", help="variable frame rate: gaps of 50/100/150 ms")
    parser.add_argument("--no-audio", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    times = vfr_times(args.frames) if args.vfr else None
    path = make_clip(args.output, frames=args.frames, fps=args.fps, width=width, height=height, times=times,
                     audio=None if args.no_audio else "aac")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
