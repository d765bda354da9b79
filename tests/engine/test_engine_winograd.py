"""Winograd's F(2x2, 3x3) convolutions (vidstyle.winograd): exact in float64, bf16 within its own rounding,
taken only where the gate says, and the network's features and image gradient the same either way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidstyle import defaults
from vidstyle.engine import Objective, Settings, load_network, needed_layers, resolve, stylize_terms
from vidstyle.precision import autocast
from vidstyle.winograd import Conv2d, _Conv3x3, transform_kernels


def _winograd(x, weight, bias):
    return _Conv3x3.apply(x, transform_kernels(weight).to(x.dtype), bias)


@pytest.mark.parametrize("shape", [(2, 5, 7, 9, 11), (1, 4, 3, 8, 6), (1, 3, 2, 1, 1), (1, 6, 4, 1, 5)],
                         ids=["odd", "even", "one-pixel", "one-row"])
def test_float64_equals_the_direct_convolution_and_its_input_gradient(shape):
    n, c, k, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(k, c, 3, 3, dtype=torch.float64, generator=gen)
    bias = torch.randn(k, dtype=torch.float64, generator=gen)
    grad_out = torch.randn(n, k, h, w, dtype=torch.float64, generator=gen)
    ref = F.conv2d(x, weight, bias, padding=1)
    ours = _winograd(x, weight, bias)
    assert ours.shape == ref.shape and ours.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    (g_ref,) = torch.autograd.grad(ref, x, grad_out)
    (g_ours,) = torch.autograd.grad(ours, x, grad_out)
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-12)


def _relative(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a.detach().double() - ref.detach()).norm() / ref.detach().norm())


def test_bf16_error_is_a_small_multiple_of_the_direct_bf16_convolutions():
    # The tiles' transforms add a few bf16 roundings to the direct convolution's: measured 2.6x its
    # relative error on a 256-channel layer (6.0e-3 against 2.3e-3), both far below the image's scale.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 256, 13, 22, generator=gen).relu().bfloat16().to(memory_format=torch.channels_last)
    weight = torch.randn(256, 256, 3, 3, generator=gen) / 48
    bias = torch.randn(256, generator=gen) / 10
    grad_out = torch.randn(1, 256, 13, 22, generator=gen).bfloat16()
    x64 = x.double().requires_grad_(True)
    ref = F.conv2d(x64, weight.double(), bias.double(), padding=1)
    (g_ref,) = torch.autograd.grad(ref, x64, grad_out.double())

    def run(fn):
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        (g,) = torch.autograd.grad(y, xi, grad_out)
        assert y.dtype == g.dtype == torch.bfloat16
        return _relative(y, ref), _relative(g, g_ref)

    direct = run(lambda xi: F.conv2d(xi, weight.bfloat16(), bias.bfloat16(), padding=1))
    ours = run(lambda xi: _winograd(xi, weight, bias.bfloat16()))
    for d, o in zip(direct, ours):
        assert o < 4 * d and o < 1e-2


def test_the_gate():
    conv = Conv2d(8, 16, winograd=True).requires_grad_(False)
    x = torch.ones(1, 8, 4, 4)
    assert conv.uses_winograd(x.bfloat16()) and conv.uses_winograd(x)
    assert not conv.uses_winograd(x.half())  # fp16 runs only on GPUs here: not measured on the CPU
    assert not conv.uses_winograd(x.double())
    assert not conv.uses_winograd(x.to("meta"))  # any other device keeps its own library's convolution
    assert not Conv2d(8, 16, winograd=False).requires_grad_(False).uses_winograd(x)
    assert not Conv2d(8, 16, winograd=True).uses_winograd(x)  # weights that want a gradient: direct


def test_the_network_switches_it_on_from_conv3_1():
    net = load_network(resolve(Settings())[0], ["relu5_1"])
    on = [m.out_channels >= defaults.WINOGRAD_MIN_OUT_CHANNELS for m in net.layers if isinstance(m, Conv2d)]
    assert [m.winograd for m in net.layers if isinstance(m, Conv2d)] == on
    assert on == [False] * 4 + [True] * 9  # conv1_1..conv2_2 direct, conv3_1..conv5_1 Winograd


def test_edited_weights_are_transformed_again():
    gen = torch.Generator().manual_seed(2)
    conv = Conv2d(4, 4, winograd=True).requires_grad_(False)
    x = torch.randn(1, 4, 6, 6, generator=gen)
    first = conv(x)
    with torch.no_grad():
        conv.weight.mul_(2.0)
        conv.bias.zero_()
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(first, conv(x))
    kernels = conv._kernels[0]
    conv(x)
    assert conv._kernels[0] is kernels  # unchanged weights, same dtype: not transformed again
    conv(x.bfloat16())
    assert conv._kernels[0].dtype == torch.bfloat16  # one set, for the dtype last used


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_full_depth_losses_and_gradient_match_the_direct_network(precision):
    # The bundled VGG-19 at full depth, the still-image objective: the Winograd layers move the losses and
    # the image's gradient by no more than the arithmetic's own rounding does (bf16 against float32).
    gen = torch.Generator().manual_seed(3)
    content = torch.rand(1, 3, 40, 56, generator=gen)
    style = torch.rand(1, 3, 48, 48, generator=gen)
    settings = resolve(Settings(size=56, precision=precision))[0]
    net = load_network(settings, needed_layers(settings))
    convs = [m for m in net.layers if isinstance(m, Conv2d) and m.winograd]
    terms = stylize_terms(net, settings, content, [style], (40, 56))
    x = (0.7 * content + 0.3 * torch.rand(1, 3, 40, 56, generator=gen)).requires_grad_(True)

    def run(prec, winograd):
        for m in convs:
            m.winograd = winograd
        total, parts = Objective(net, terms, precision=prec)(x)
        (grad,) = torch.autograd.grad(total, x)
        return {k: float(v.detach()) for k, v in parts.items()}, grad

    exact_parts, exact_grad = run("fp32", False)
    direct_parts, direct_grad = run(precision, False)
    ours_parts, ours_grad = run(precision, True)
    if precision == "fp32":
        for k in exact_parts:
            assert ours_parts[k] == pytest.approx(exact_parts[k], rel=1e-5)
        assert _relative(ours_grad, exact_grad.double()) < 1e-5
        return
    for k in ("content", "style"):
        assert abs(ours_parts[k] / exact_parts[k] - 1) < max(3 * abs(direct_parts[k] / exact_parts[k] - 1), 5e-3)
    assert _relative(ours_grad, exact_grad.double()) < 1.5 * _relative(direct_grad, exact_grad.double())


def test_features_under_bf16_autocast_take_the_winograd_path(monkeypatch):
    calls = []
    original = _Conv3x3.forward

    def counting(ctx, *args):
        calls.append(args[0].shape[1])
        return original(ctx, *args)

    monkeypatch.setattr(_Conv3x3, "forward", staticmethod(counting))
    net = load_network(resolve(Settings())[0], ["relu5_1"])
    x = torch.rand(1, 3, 32, 32)
    with autocast("bf16", x.device):
        feats = net(x, ["relu5_1"])
    assert feats["relu5_1"].dtype == torch.bfloat16
    assert calls == [128, 256, 256, 256, 256, 512, 512, 512, 512]  # conv3_1..conv5_1's input channels
