"""End-to-end video pipeline on real data: Sintel frames, real (partial) VGG-19 weights, DIS flow.

Kept small for a 2-core machine: 6 frames at 128 px, a few L-BFGS iterations, one scale.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from flow import FlowCache, FlowEngine, get_backend
from vidstyle import defaults
from vidstyle.engine import Settings, load_network, needed_layers, resolve
from vidstyle.imageio import load_image
from vidstyle.optimize import OptimizerSettings
from vidstyle.video.decode import iter_frames, probe
from vidstyle.video.evaluate import temporal_errors
from vidstyle.video.pipeline import VideoSettings, measure_temporal, stylize_video
from vidstyle.video.workdir import WorkDir

FRAMES = 6
SIZE = 128


def _settings(weights: Path, **kw) -> VideoSettings:
    engine = Settings(size=SIZE, model="caffe", weights=weights, init="content", scales="none",
                      optim=OptimizerSettings(iterations=kw.pop("iterations", 10), min_iterations=0, tol=0.0))
    return VideoSettings(engine=engine, first_iterations=kw.pop("first_iterations", 20), method="dis",
                         max_frames=kw.pop("max_frames", FRAMES), **kw)


@pytest.fixture(scope="module")
def style(styles_dir):
    return load_image(sorted(styles_dir.glob("*.jpg"))[0])


@pytest.fixture(scope="module")
def net(vgg_weights):
    es, _ = resolve(_settings(vgg_weights).engine)
    return load_network(es, needed_layers(es))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sintel_video, vgg_weights, style, net):
    """The same 6 frames stylized three ways (plus an interrupted-then-resumed temporal run)."""
    root = tmp_path_factory.mktemp("pipeline")
    cache = root / "flowcache"
    out = {}
    temporal = _settings(vgg_weights)
    out["temporal"] = stylize_video(sintel_video, [style], output=root / "temporal.mp4", settings=temporal,
                                    net=net, cache_dir=cache)
    independent = _settings(vgg_weights, init="content", temporal_weight=0.0)
    out["independent"] = stylize_video(sintel_video, [style], output=root / "independent.mp4",
                                       settings=independent, net=net, cache_dir=cache)
    finished = []

    class Stop:  # interrupt once 2 frames are finished (checked between frames and inside the engine)
        def __call__(self):
            return len(WorkDir(root / "resumed.mp4.work", {}).finished(1)) >= 2

    out["interrupted"] = stylize_video(sintel_video, [style], output=root / "resumed.mp4", settings=temporal,
                                       net=net, cache_dir=cache, should_stop=Stop())
    finished.append(WorkDir(root / "resumed.mp4.work", {}).finished(1))
    out["resumed"] = stylize_video(sintel_video, [style], output=root / "resumed.mp4", settings=temporal, net=net,
                                   cache_dir=cache)
    out["finished_when_interrupted"] = finished[0]
    out["root"] = root
    return out


def _source_frames(path, n=FRAMES):
    return list(iter_frames(path, size=SIZE, max_frames=n))


def test_output_keeps_frame_count_rate_and_timestamps(runs, sintel_video):
    r = runs["temporal"]
    assert r.complete and r.output is not None and r.output.exists() and r.frames == FRAMES
    src, out = probe(sintel_video), probe(r.output)
    assert (out.width, out.height) == (128, 54)
    assert out.fps == src.fps
    source_times = [f.time for f in _source_frames(sintel_video)]
    frames = list(iter_frames(r.output))
    assert len(frames) == FRAMES
    assert [f.time for f in frames] == pytest.approx(source_times, abs=1e-3)
    # Frame 0 is a still run with --first-iterations; later frames use --iterations and a temporal term.
    assert r.reports[0].shot_start and r.reports[0].iterations == 20
    assert all(rep.iterations == 10 and "temporal" in rep.terms for rep in r.reports[1:])
    assert r.flow_misses > 0 and r.stylized == FRAMES


def test_temporal_loss_halves_the_temporal_error(runs, sintel_video):
    """E_temp with the temporal loss <= 0.5 x E_temp of independent frames at equal iterations.

    Measured here (6 frames, 128x54, 20/10 iterations, DIS fine): 5.2e-4 vs 8.0e-3, ratio 0.065; the issue's 0.5
    keeps a 5x margin for other machines' float differences.
    """
    # The run's flow: method "dis" with the default preset (what stylize_video opens without flow_params).
    engine = FlowEngine(get_backend("dis", **defaults.flow_params("dis")), FlowCache(runs["root"] / "flowcache"))
    errs = {}
    for name in ("temporal", "independent"):
        work = WorkDir(runs[name].work_dir, {})
        frames = [work.load_frame(1, i) for i in range(FRAMES)]
        errs[name] = temporal_errors(frames, (f.image for f in _source_frames(sintel_video)), engine).e_temp
    assert errs["temporal"] <= 0.5 * errs["independent"], errs
    # The run's own measurement (what --log writes) agrees, and its flows came from the cache.
    report = measure_temporal(runs["temporal"], sintel_video, _settings(Path("unused")), cache_dir=runs["root"] / "flowcache")
    assert report.e_temp == pytest.approx(errs["temporal"], rel=1e-5)
    assert len(report.errors) == FRAMES - 1 and report.flash >= 1.0


def test_resume_after_interruption_gives_identical_frames(runs):
    interrupted = runs["interrupted"]
    assert not interrupted.complete and interrupted.output is None and interrupted.stop_reason == "interrupted"
    assert runs["finished_when_interrupted"] == [0, 1]
    assert not (runs["root"] / "resumed.mp4").exists() or runs["resumed"].output is not None
    resumed = runs["resumed"]
    assert resumed.complete and resumed.resumed == 2 and resumed.stylized == FRAMES - 2
    a, b = WorkDir(runs["temporal"].work_dir, {}), WorkDir(resumed.work_dir, {})
    for i in range(FRAMES):
        assert np.array_equal(a.load_frame_u8(1, i), b.load_frame_u8(1, i)), f"frame {i} differs after resume"


def test_audio_survives_bit_identical(tmp_path, clipgen, vgg_weights, style, net):
    src = clipgen.make_clip(tmp_path / "tone.mp4", frames=3, width=96, height=54)
    r = stylize_video(src, [style], output=tmp_path / "out.mp4", net=net,
                      settings=_settings(vgg_weights, first_iterations=2, iterations=1, max_frames=None))
    assert r.complete and r.frames == 3

    def audio_packets(path):
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            return stream.codec_context.name, [bytes(p) for p in c.demux(stream) if p.size]

    codec_in, packets_in = audio_packets(src)
    codec_out, packets_out = audio_packets(r.output)
    assert codec_in == codec_out == "aac" and len(packets_in) > 3
    assert packets_out == packets_in


def test_vfr_source_keeps_its_timestamps(tmp_path, clipgen, vgg_weights, style, net):
    times = [0.0, 0.1, 0.35, 0.4, 0.9]
    src = clipgen.make_clip(tmp_path / "vfr.mkv", times=times, width=96, height=54, audio=None)
    r = stylize_video(src, [style], output=tmp_path / "out.mkv", net=net,
                      settings=_settings(vgg_weights, first_iterations=2, iterations=1, max_frames=None))
    assert [f.time for f in iter_frames(r.output)] == pytest.approx(times, abs=1e-3)


def test_shot_change_gets_no_warped_init_and_no_temporal_term(tmp_path, sintel_video, vgg_weights, style, net):
    # A threshold of 1.0 makes every frame "a new shot": each is then a still run from the content frame.
    r = stylize_video(sintel_video, [style], output=tmp_path / "shots.mp4", net=net,
                      settings=_settings(vgg_weights, first_iterations=2, iterations=1, max_frames=3,
                                         shot_threshold=1.0))
    assert [rep.shot_start for rep in r.reports] == [True, True, True]
    assert all("temporal" not in rep.terms and rep.iterations == 2 for rep in r.reports)
    # Each frame is a shot start because its reliable fraction is below 1.0 (not because the flow failed):
    # at the default threshold (0.2) none of these Sintel frames would start a shot.
    assert all(rep.reliable is not None and 0.2 < rep.reliable < 1.0 for rep in r.reports[1:]), \
        [rep.reliable for rep in r.reports]


def test_long_term_and_multipass(tmp_path, sintel_video, vgg_weights, style, net):
    s = _settings(vgg_weights, first_iterations=2, iterations=1, max_frames=3, long_term=(1, 2), passes=2)
    r = stylize_video(sintel_video, [style], output=tmp_path / "mp.mp4", net=net, settings=s)
    assert r.complete and r.passes == 2 and r.stylized == 6
    pass1 = [rep for rep in r.reports if rep.pass_ == 1]
    pass2 = [rep for rep in r.reports if rep.pass_ == 2]
    assert [rep.index for rep in pass2] == [2, 1, 0]  # the second pass runs backwards
    assert all("temporal" not in rep.terms for rep in pass1)  # temporal loss from pass 2 on (Ruder 2018)
    assert "temporal" in pass2[1].terms and "temporal2" in pass2[2].terms
    assert "temporal" not in pass2[0].terms
    assert len(list(iter_frames(r.output))) == 3
