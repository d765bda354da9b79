"""--precision: what each device may run, the cached auto decision, loss scaling, and bf16 against fp32."""

from __future__ import annotations

import json

import pytest
import torch

from vidstyle import defaults, precision
from vidstyle.engine import Objective, Settings, stylize_image
from vidstyle.errors import VidstyleError
from vidstyle.optimize import OptimizerSettings, optimize
from vidstyle.precision import Choice, LossScaler, candidate, choose, refusal


@pytest.mark.parametrize("device, bf16, allowed", [
    ("cpu", True, {"auto", "fp32", "bf16"}),
    ("cpu", False, {"auto", "fp32"}),
    ("cuda", True, {"auto", "fp32", "bf16", "fp16"}),
    ("cuda", False, {"auto", "fp32", "fp16"}),
    ("mps", True, {"auto", "fp32"}),
])
def test_what_each_device_may_run(device, bf16, allowed):
    for p in defaults.PRECISIONS:
        reason = refusal(p, device, bf16=bf16)
        assert (reason is None) == (p in allowed), (p, reason)
        if reason is not None:
            assert reason.startswith(f"--precision {p}") and "\n" not in reason
    assert "expected one of" in refusal("fp8", "cpu", bf16=True)


@pytest.mark.parametrize("device, bf16, half", [
    ("cpu", True, "bf16"), ("cpu", False, None), ("cuda", True, "bf16"), ("cuda", False, "fp16"), ("mps", True, None),
])
def test_auto_tries_bf16_first_and_fp16_only_on_cuda(device, bf16, half):
    assert candidate(device, bf16=bf16) == half


def test_explicit_choices_on_this_cpu(monkeypatch):
    cpu = torch.device("cpu")
    assert choose("fp32", cpu) == Choice("fp32", "fp32")
    with pytest.raises(VidstyleError, match="fp16 is for CUDA"):
        choose("fp16", cpu)
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    with pytest.raises(VidstyleError, match="AVX512-BF16"):
        choose("bf16", cpu)
    assert choose("auto", cpu).precision == "fp32"  # nothing to try: no measurement
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert choose("bf16", cpu).precision == "bf16"


def test_auto_measures_once_and_caches_the_decision(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    calls = []

    def fast(p, device):
        calls.append(p)
        return 0.6

    cache = tmp_path / "sub" / "precision.json"
    first = choose("auto", torch.device("cpu"), cache_file=cache, measure_fn=fast)
    assert (first.precision, first.ratio, first.cached) == ("bf16", 0.6, False) and calls == ["bf16"]
    data = json.loads(cache.read_text())
    key = precision.machine_key(torch.device("cpu"))
    assert data["version"] == precision.CACHE_VERSION and data["machines"][key]["precision"] == "bf16"
    assert torch.__version__ in key
    again = choose("auto", torch.device("cpu"), cache_file=cache, measure_fn=fast)
    assert again.cached and again.precision == "bf16" and calls == ["bf16"]
    assert "cached decision" in again.note() and "0.60x" in again.note()
    # another machine key (e.g. a new torch) measures again; slower half precision falls back to fp32
    monkeypatch.setattr(precision, "machine_key", lambda device: "other machine")
    slow = choose("auto", torch.device("cpu"), cache_file=cache, measure_fn=lambda p, d: 0.95)
    assert slow.precision == "fp32" and len(json.loads(cache.read_text())["machines"]) == 2
    # a damaged cache is measured again and rewritten, not an error
    cache.write_text("{not json")
    assert choose("auto", torch.device("cpu"), cache_file=cache, measure_fn=fast).precision == "bf16"
    assert len(calls) == 2 and json.loads(cache.read_text())["version"] == precision.CACHE_VERSION


def test_auto_without_a_file_keeps_the_decision_for_the_process(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    monkeypatch.setattr(precision, "machine_key", lambda device: "test-process-cache")
    monkeypatch.setattr(precision, "_PROCESS_CACHE", {})
    calls = []
    measure = lambda p, d: calls.append(p) or 0.5  # noqa: E731
    assert choose("auto", torch.device("cpu"), measure_fn=measure).precision == "bf16"
    assert choose("auto", torch.device("cpu"), measure_fn=measure).precision == "bf16"
    assert calls == ["bf16"]


def test_measure_times_a_real_pass():
    ratio = precision.measure("bf16", torch.device("cpu"), size=32, rounds=1)
    assert 0 < ratio < 100


def test_loss_scaler_backs_off_on_overflow_and_gives_the_plain_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    fn = lambda v: ((v ** 2).sum() * 1e3, {"a": (v ** 2).sum()})  # noqa: E731
    plain = torch.autograd.grad(fn(x)[0], x)[0]
    scaler = LossScaler(scale=1e38, growth_interval=2)  # 1e38 * 6e3 overflows float32, like fp16 would
    total, terms, grad = scaler.gradient(fn, x)
    assert scaler.overflows > 0 and scaler.scale < 1e38 and torch.allclose(grad, plain)
    assert float(total.detach()) == pytest.approx(14e3) and set(terms) == {"a"}
    scale = scaler.scale
    scaler.gradient(fn, x)
    assert scaler.scale == 2 * scale  # grows back after growth_interval good gradients
    # a non-finite loss is not retried forever: it comes back as it is
    bad = LossScaler()
    total, _, _ = bad.gradient(lambda v: (v.sum() * float("inf"), {}), x)
    assert not torch.isfinite(total) and bad.overflows == 0


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimize_with_a_loss_scaler_matches_without(optimizer):
    target = torch.linspace(0.1, 0.9, 12).view(1, 3, 2, 2)
    fn = lambda v: (((v - target) ** 2).sum() * 1e3, {"fit": ((v - target) ** 2).sum()})  # noqa: E731
    s = OptimizerSettings(optimizer=optimizer, iterations=15, tol=0)
    x0 = torch.full_like(target, 0.5)
    a = optimize(fn, x0, s)
    b = optimize(fn, x0, s, scaler=LossScaler(scale=1e38))
    assert torch.allclose(a.image, b.image, atol=1e-6)
    assert b.evaluations > a.evaluations  # the overflow retries are counted


def _native_bf16_or_skip():
    if not precision.native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no AVX512-BF16/AMX: --precision bf16 is refused here (tested above)")


def test_bf16_run_lands_within_a_few_percent_of_fp32(vgg_weights):
    _native_bf16_or_skip()
    g = torch.Generator().manual_seed(3)
    content = torch.rand(1, 3, 48, 64, generator=g)
    style = torch.rand(1, 3, 64, 64, generator=g)
    base = Settings(size=64, model="caffe", weights=vgg_weights, init="content", scales="none",
                    optim=OptimizerSettings(iterations=40, tol=0))
    runs = {p: stylize_image(content, [style], settings=Settings(**{**base.__dict__, "precision": p}))
            for p in ("fp32", "bf16")}
    assert runs["bf16"].precision == "bf16" and runs["bf16"].settings["precision"] == "bf16"
    assert "bf16" in runs["bf16"].summary() and "evaluations" in runs["bf16"].summary()
    assert runs["bf16"].image.dtype == torch.float32
    start = float(runs["fp32"].history[0]["loss"])
    assert runs["fp32"].loss < 0.5 * start  # both runs really optimized
    assert abs(runs["bf16"].loss / runs["fp32"].loss - 1) < 0.05


def test_terms_get_the_networks_features_and_return_float32(vgg_weights):
    # Terms see bf16 features (a Gram's backward can then stay bf16) and widen them; the Objective refuses a
    # term whose loss comes back narrower than float32, so no sum runs in bf16 unnoticed.
    _native_bf16_or_skip()
    from vidstyle.weights import WeightsSpec, build_features

    net = build_features(WeightsSpec("caffe", vgg_weights), ["relu1_1"])
    seen = {}

    class Probe:
        name, weight, layers = "probe", 1.0, ("relu1_1",)

        def __init__(self, wide):
            self.wide = wide

        def __call__(self, x, feats):
            seen["dtype"] = feats["relu1_1"].dtype
            f = feats["relu1_1"]
            return (f.float() if self.wide else f).square().mean()

    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    total, _ = Objective(net, [Probe(wide=True)], precision="bf16")(x)
    (grad,) = torch.autograd.grad(total, x)
    assert seen["dtype"] == torch.bfloat16 and total.dtype == torch.float32 and grad.dtype == torch.float32
    with pytest.raises(TypeError, match="probe"):
        Objective(net, [Probe(wide=False)], precision="bf16")(x)


def test_content_targets_share_the_runs_precision(vgg_weights):
    # The target is computed in the precision the image's features are: the content itself then has a
    # content loss of exactly 0 in bf16 too (a float32 target would leave bf16 rounding as a floor).
    _native_bf16_or_skip()
    from vidstyle.engine import content_term, resolve
    from vidstyle.terms import content_targets
    from vidstyle.weights import WeightsSpec, build_features

    net = build_features(WeightsSpec("caffe", vgg_weights), ["relu3_2"])
    content = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(4))
    settings = resolve(Settings(size=40, model="caffe", weights=vgg_weights, precision="bf16",
                                content_layers=("relu3_2",), style_layers=("relu1_1",)))[0]
    term = content_term(net, settings, content, (32, 40))
    with torch.no_grad():
        assert term(content, net(content, ["relu3_2"])) > 0  # float32 features against the bf16 target
    total, parts = Objective(net, [term], precision="bf16")(content)
    assert parts["content"].item() == 0.0
    fp32 = content_targets(net, content, ["relu3_2"])["relu3_2"]
    assert fp32.dtype == torch.float32 and not torch.equal(fp32, term.targets["relu3_2"])


def test_unknown_precision_is_a_user_error():
    from vidstyle.engine import validate

    with pytest.raises(VidstyleError, match="precision 'fp8'"):
        validate(Settings(precision="fp8"))
