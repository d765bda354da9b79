"""Video decode/encode (vidstyle.video): real Sintel clip, generated clips, round trips, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
import types
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.video import (
    DecodeError,
    VideoWriter,
    check_output_path,
    iter_frames,
    output_size,
    probe,
)
from vidstyle.video.decode import rotate_image

ROOT = Path(__file__).resolve().parents[2]


def _audio_packets(path: Path) -> list[list[bytes]]:
    """Payload bytes of every audio packet, per audio stream."""
    with av.open(str(path)) as c:
        out = []
        for s in c.streams.audio:
            out.append([bytes(p) for p in c.demux(s) if p.size])
            c.seek(0)
        return out


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---------------------------------------------------------------------------------------------- decode


def test_probe_sintel(sintel_video):
    info = probe(sintel_video)
    assert (info.width, info.height) == (1024, 436)
    assert info.frames == 50 and info.fps == Fraction(10)
    assert info.codec == "mpeg4" and info.bit_depth == 8 and info.rotation == 0
    assert info.audio_streams == 0 and info.vfr is False
    assert info.duration == pytest.approx(5.0)


def test_decode_sintel_count_timestamps_size(sintel_video):
    frames = iter_frames(sintel_video, size=256)
    assert isinstance(frames, types.GeneratorType)  # streamed, not a list
    got = [(f.index, f.pts, f.time, f.image.shape, f.image.dtype) for f in frames]
    assert len(got) == 50
    assert [g[0] for g in got] == list(range(50))
    assert [g[2] for g in got] == pytest.approx([i / 10 for i in range(50)], abs=1e-9)
    assert all(b[1] > a[1] for a, b in zip(got, got[1:]))
    # 1024x436 at long side 256: 436/4 = 109 -> rounded to the even 110.
    assert {g[3] for g in got} == {(110, 256, 3)} and {g[4] for g in got} == {np.dtype(np.uint8)}


def test_output_size_rounds_to_even():
    assert output_size(1024, 436, 256) == (256, 110)
    assert output_size(436, 1024, 256) == (110, 256)
    assert output_size(1024, 436, None) == (1024, 436)
    assert output_size(321, 181, None) == (322, 182)
    assert output_size(320, 180, 255) == (256, 144)  # an odd long side becomes even too
    assert output_size(320, 180, 640) == (320, 180)  # never upscaled: the source size
    assert output_size(320, 180, 448) == (320, 180)
    assert output_size(192, 128, 448) == (192, 128)
    assert output_size(1000, 2, 100) == (100, 2)  # never below 2
    with pytest.raises(VidstyleError):
        output_size(320, 180, 1)


def test_start_duration_max_frames_land_on_the_right_frames(sintel_video):
    everything = [f for f in iter_frames(sintel_video, size=128)]
    window = list(iter_frames(sintel_video, size=128, start=1.25, duration=1.0))
    assert [f.time for f in window] == pytest.approx([1.3 + i / 10 for i in range(10)])
    assert [f.index for f in window] == list(range(10))
    for f in window:  # seek + skip gives exactly the frames a decode from the top gives
        assert np.array_equal(f.image, everything[round(f.time * 10)].image)
    assert [f.time for f in iter_frames(sintel_video, size=128, start=2.0, max_frames=2)] == pytest.approx([2.0, 2.1])
    assert len(list(iter_frames(sintel_video, size=128, max_frames=3))) == 3
    assert list(iter_frames(sintel_video, size=128, start=60.0)) == []
    for bad in (dict(start=-1.0), dict(duration=0.0), dict(max_frames=0)):
        with pytest.raises(VidstyleError):
            iter_frames(sintel_video, **bad)


def test_decoding_streams_in_constant_memory(sintel_video):
    """Holding all 50 full-size frames would take 50 x 1.3 MB; streaming keeps a few."""
    frame_bytes = 1024 * 436 * 3
    tracemalloc.start()
    try:
        count = 0
        for _ in iter_frames(sintel_video):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50
    assert peak < 8 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames"


def test_rotation_metadata_is_applied(clipgen, clip_dir):
    path = clipgen.make_clip(clip_dir / "rot90.mp4", frames=3, width=96, height=64, audio=None, rotation=90)
    info = probe(path)
    assert info.rotation == 90 and (info.width, info.height) == (64, 96)
    frame = next(iter_frames(path))
    assert frame.image.shape == (96, 64, 3)
    source = clipgen.render_frame(0.0, 96, 64)
    # Counter-clockwise by 90 degrees, as the display matrix says; the other way round is far off.
    assert _mean_abs(frame.image, np.rot90(source, 1)) < 8
    assert _mean_abs(frame.image, np.rot90(source, -1)) > 20
    assert next(iter_frames(path, size=48)).image.shape == (48, 32, 3)


def test_rotate_image_turns_counter_clockwise():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert rotate_image(img, 90)[:, :, 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert np.array_equal(rotate_image(img, 180), img[::-1, ::-1])
    assert rotate_image(img, 0) is img


@pytest.mark.parametrize("codec", ["libx265", "ffv1"])
def test_ten_bit_source_decodes_to_8bit_rgb(clipgen, clip_dir, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV's FFmpeg has no {codec} encoder")
    path = clipgen.make_clip(clip_dir / f"ten_{codec}.mkv", frames=2, width=96, height=64, audio=None,
                             codec=codec, pix_fmt="yuv420p10le")
    info = probe(path)
    assert info.bit_depth == 10 and info.pix_fmt == "yuv420p10le"
    frame = next(iter_frames(path))
    assert frame.image.dtype == np.uint8 and frame.image.shape == (64, 96, 3)
    assert _mean_abs(frame.image, clipgen.render_frame(0.0, 96, 64)) < 8  # right colours, not a scaled-down 10-bit


# ------------------------------------------------------------------------------------- timing, audio


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_variable_frame_rate_survives_decode_and_encode(clipgen, clip_dir, tmp_path, ext):
    times = clipgen.vfr_times(10)
    src = clipgen.make_clip(clip_dir / f"vfr{ext}", times=times, width=96, height=64, audio=None)
    info = probe(src)
    assert info.vfr is True
    frames = list(iter_frames(src))
    assert [f.time for f in frames] == pytest.approx(times, abs=1e-6)
    out = tmp_path / f"out{ext}"
    with VideoWriter(out, width=96, height=64, fps=info.fps, time_base=info.time_base) as w:
        for f in frames:
            w.write(f.image, pts=f.pts)
    assert [f.time for f in iter_frames(out)] == pytest.approx(times, abs=1e-6)
    assert probe(out).vfr is True
    # Seconds work as well as ticks.
    out2 = tmp_path / f"out2{ext}"
    with VideoWriter(out2, width=96, height=64, fps=10, time_base=Fraction(1, 1000)) as w:
        for f in frames:
            w.write(f.image, time=f.time)
    assert [f.time for f in iter_frames(out2)] == pytest.approx(times, abs=1e-6)


def test_constant_rate_output_keeps_rate_and_count(sample_clip, tmp_path):
    info = probe(sample_clip)
    out = tmp_path / "cfr.mp4"
    with VideoWriter(out, width=160, height=90, fps=info.fps) as w:  # no timestamps: 1/fps apart
        for f in iter_frames(sample_clip, size=160):
            w.write(f.image)
    got = probe(out)
    assert got.frames == 30 and got.fps == Fraction(10) and got.vfr is False
    assert [f.time for f in iter_frames(out)] == pytest.approx([i / 10 for i in range(30)])


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_audio_is_copied_bit_identical(sample_clip, tmp_path, ext):
    info = probe(sample_clip)
    assert info.audio_streams == 1
    out = tmp_path / f"with_audio{ext}"
    with VideoWriter(out, width=320, height=180, fps=info.fps, time_base=info.time_base, audio_from=sample_clip) as w:
        for f in iter_frames(sample_clip):
            w.write(f.image, pts=f.pts)
    assert w.audio_reencoded == []
    source, copied = _audio_packets(sample_clip), _audio_packets(out)
    assert len(copied) == 1 and len(copied[0]) == len(source[0]) > 100
    assert copied[0] == source[0]
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"


def test_audio_the_container_cannot_hold_becomes_aac(clipgen, clip_dir, tmp_path):
    wav = clipgen.write_tone(clip_dir / "tone_u8.wav", 1.0, codec="pcm_u8")  # MP4 cannot hold 8-bit PCM
    out = tmp_path / "reencoded.mp4"
    with VideoWriter(out, width=64, height=48, fps=10, audio_from=wav) as w:
        for i in range(10):
            w.write(np.full((48, 64, 3), i * 20, np.uint8))
    assert w.audio_reencoded == [0]
    with av.open(str(out)) as c:
        stream = c.streams.audio[0]
        assert stream.codec_context.name == "aac"
        samples = sum(frame.samples for frame in c.decode(stream))
    assert samples == pytest.approx(44100, abs=2048)  # the whole second of tone, within a frame or two


def test_audio_trimmed_to_a_window(sample_clip, tmp_path):
    out = tmp_path / "window.mkv"
    with VideoWriter(out, width=160, height=90, fps=10, audio_from=sample_clip, audio_start=1.0, audio_end=2.0) as w:
        for f in iter_frames(sample_clip, size=160, start=1.0, duration=1.0):
            w.write(f.image, time=f.time - 1.0)
    with av.open(str(out)) as c:
        packets = [p for p in c.demux(c.streams.audio[0]) if p.size]
        times = [float(p.pts * p.time_base) for p in packets]
    assert min(times) >= -0.001 and max(times) < 1.0
    assert len(packets) == pytest.approx(44100 / 1024, abs=2)


# ----------------------------------------------------------------------------------- lossless outputs


def test_ffv1_round_trip_is_exact(sample_clip, tmp_path):
    src = list(iter_frames(sample_clip, max_frames=6))
    out = tmp_path / "lossless.mkv"
    with VideoWriter(out, width=320, height=180, fps=10, codec="ffv1") as w:
        for f in src:
            w.write(f.image)
    back = list(iter_frames(out))
    assert len(back) == 6
    assert all(np.array_equal(a.image, b.image) for a, b in zip(src, back))


def test_tensor_frames_are_accepted(tmp_path):
    import torch

    img = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    out = tmp_path / "tensor.mkv"
    with VideoWriter(out, width=48, height=32, fps=5, codec="ffv1") as w:
        w.write(img)
    expected = img[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(next(iter_frames(out)).image, expected)


@pytest.mark.parametrize("target", ["folder/", "pattern/%03d.png"])
def test_png_sequence(sample_clip, tmp_path, target):
    src = [f.image for f in iter_frames(sample_clip, size=96, max_frames=4)]
    path = f"{tmp_path}/{target}"  # a str: pathlib would drop the trailing slash
    with VideoWriter(path, width=96, height=54, fps=10) as w:
        for img in src:
            w.write(img)
    folder = tmp_path / target.split("/")[0]
    names = sorted(os.listdir(folder))
    width = 3 if "%" in target else 6
    assert names == [f"{i:0{width}d}.png" for i in range(1, 5)]
    for name, img in zip(names, src):
        assert np.array_equal(np.asarray(Image.open(folder / name)), img)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left


# ------------------------------------------------------------------------------------ safety, errors


def test_output_appears_only_when_complete(tmp_path):
    out = tmp_path / "atomic.mp4"
    w = VideoWriter(out, width=64, height=48, fps=10)
    w.write(np.zeros((48, 64, 3), np.uint8))
    assert not out.exists()
    assert w.close() == out and out.exists()
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "interrupted.mp4", width=64, height=48, fps=10) as w2:
            w2.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.mp4"]  # abort removed the temporary file


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(VidstyleError, match="already exists"):
        VideoWriter(out, width=64, height=48, fps=10)
    with VideoWriter(out, width=64, height=48, fps=10, overwrite=True) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert probe(out).frames == 1


def test_check_output_path_errors(tmp_path):
    assert check_output_path(tmp_path / "ok.mkv", codec="ffv1") == tmp_path / "ok.mkv"
    cases = {
        tmp_path / "out.gif": "unsupported video extension",
        tmp_path / "noext": "unsupported video extension",
        tmp_path / "out.mp4": "needs a .mkv",  # ffv1 in mp4
        tmp_path / "missing" / "out.mp4": "does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(VidstyleError, match=message):
            check_output_path(path, codec="ffv1" if path.name == "out.mp4" and path.parent == tmp_path else "libx264")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(VidstyleError, match="not a folder"):
        check_output_path(tmp_path / "afile" / "out.mp4")
    with pytest.raises(VidstyleError, match="unknown codec"):
        check_output_path(tmp_path / "out.mp4", codec="vp9")
    with pytest.raises(VidstyleError, match="odd|even"):
        VideoWriter(tmp_path / "odd.mp4", width=63, height=48, fps=10)


def test_unwritable_folder(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: let the permission check see what a user would
        import vidstyle.video.encode as encode

        monkeypatch.setattr(encode.os, "access", lambda path, mode: Path(path) != ro)
    with pytest.raises(VidstyleError, match="not writable"):
        check_output_path(ro / "out.mp4")


def test_audio_source_without_audio_is_fine(sintel_video, tmp_path):
    out = tmp_path / "silent.mp4"
    with VideoWriter(out, width=128, height=54, fps=10, audio_from=sintel_video) as w:
        for f in iter_frames(sintel_video, size=128, max_frames=3):
            w.write(f.image, pts=None)
    assert probe(out).audio_streams == 0 and probe(out).frames == 3


def test_bad_inputs_give_one_line_errors(clipgen, clip_dir, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    still = tmp_path / "still.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(still)
    audio_only = clipgen.write_tone(clip_dir / "tone.m4a", 0.5)
    empty = tmp_path / "empty.mp4"  # a video stream with zero frames
    with av.open(str(empty), "w") as c:
        stream = c.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        c.start_encoding()
    cases = {
        text: "not a video",
        empty: "no video",
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "folder",
        still: "still image",
        audio_only: "audio only",
    }
    for path, message in cases.items():
        with pytest.raises(VidstyleError, match=message) as err:
            probe(path)
        assert "\n" not in str(err.value)
        with pytest.raises(VidstyleError, match=message):
            iter_frames(path)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_file_corrupt_part_way_reports_frames_ok(clipgen, clip_dir, ext):
    path = clip_dir / f"truncated{ext}"
    # faststart puts the MP4 index first, so the front of a cut file still opens.
    options = {"movflags": "+faststart"} if ext == ".mp4" else None
    clipgen.make_clip(path, frames=20, width=96, height=64, options=options)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    delivered = 0
    with pytest.raises(DecodeError) as err:
        for _ in iter_frames(path):
            delivered += 1
    assert 0 < delivered < 20
    assert err.value.frames_ok == delivered
    assert isinstance(err.value, VidstyleError) and "\n" not in str(err.value)


def test_disk_full_is_a_clear_error(tmp_path):
    """A file-size limit makes writes fail the way a full disk does (EFBIG instead of ENOSPC)."""
    code = textwrap.dedent(
        """
        import resource, signal, sys
        import numpy as np
        from vidstyle.errors import VidstyleError
        from vidstyle.video.encode import VideoWriter
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        rng = np.random.default_rng(0)
        try:
            with VideoWriter(sys.argv[1], width=160, height=120, fps=10, codec="ffv1") as w:
                for i in range(40):
                    w.write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
        except VidstyleError as exc:
            print(exc)
            sys.exit(2)
        """
    )
    out = tmp_path / "big.mkv"
    result = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "disk full while writing" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the partial temporary file was removed
