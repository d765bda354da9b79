"""Losses: hand-computed Gram, float64 gradchecks, module/function agreement."""

from __future__ import annotations

import pytest
import torch

from vidstyle.losses import (
    ContentLoss,
    StyleLoss,
    TVLoss,
    _rounded_once,
    blend_grams,
    content_loss,
    gram_matrix,
    style_loss,
    tv_loss,
)


def test_gram_on_a_hand_computed_case():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    raw = torch.tensor([[5.0, 11.0], [11.0, 25.0]])
    assert torch.allclose(gram_matrix(f, "none")[0], raw)
    assert torch.allclose(gram_matrix(f, "hw")[0], raw / 2)
    assert torch.allclose(gram_matrix(f, "chw")[0], raw / 4)
    with pytest.raises(ValueError, match="gram norm"):
        gram_matrix(f, "bogus")


def test_blend_is_a_normalised_weighted_sum():
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.allclose(blend_grams([a, b], [0.7, 0.3]), 0.7 * a)
    assert torch.allclose(blend_grams([a, b], [7, 3]), 0.7 * a)


def test_tv_on_a_hand_computed_case():
    img = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # horizontal diffs: (1, 0) -> mean 0.5; vertical diffs: (0, -1) -> mean 0.5
    assert torch.isclose(tv_loss(img), torch.tensor(1.0))


@pytest.mark.parametrize("norm", ["chw", "hw", "none"])
def test_style_loss_gradcheck(norm):
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 3, 4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    target = gram_matrix(torch.randn(1, 3, 4, 5, dtype=torch.float64, generator=gen), norm)
    assert torch.autograd.gradcheck(lambda f: style_loss(f, target, norm), (feats,))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_gradient_in_either_layout(layout):
    # The Gram's own backward (one product of the symmetrised gradient) against float64 finite
    # differences, on plain and on channels-last features (the network's output layout).
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(1, 4, 3, 5, dtype=torch.float64, generator=gen).to(memory_format=layout)
    feats.requires_grad_(True)
    weights = torch.randn(1, 4, 4, dtype=torch.float64, generator=gen)  # not symmetric: both halves of G' count
    assert torch.autograd.gradcheck(lambda f: (gram_matrix(f, "chw") * weights).sum(), (feats,))
    flat = feats.detach().reshape(4, 15)
    torch.testing.assert_close(gram_matrix(feats, "none")[0], flat @ flat.t())


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gram_of_half_precision_features_is_float32(layout, dtype):
    # The network's bf16/fp16 features: the Gram accumulates in float32 and comes back in float32. For fp16
    # it is the Gram of the widened features to the last bit; for bf16 the float32 sums rounded to bf16 once
    # (within half a bf16 step of the exact Gram, where summing in bf16 would be far off). Its gradient comes
    # back in the features' dtype and layout. For bf16 the backward product runs in bf16 (within bf16
    # rounding of the float32 one), for fp16 in float32 (the float32 gradient rounded once).
    gen = torch.Generator().manual_seed(5)
    feats = torch.randn(1, 8, 6, 7, generator=gen).to(dtype).to(memory_format=layout).requires_grad_(True)
    weights = torch.randn(1, 8, 8, generator=gen)
    wide = feats.detach().float().requires_grad_(True)
    gram, gram32 = gram_matrix(feats, "none"), gram_matrix(wide, "none")
    assert gram.dtype == torch.float32
    if dtype == torch.float16:
        assert torch.equal(gram, gram32)
    else:
        exact = gram_matrix(feats.detach().double(), "none").float()
        assert torch.equal(gram, gram.to(dtype).float())  # a bf16 value, widened
        assert ((gram - exact).abs() <= exact.abs() * 2.0 ** -8 + 1e-6 * exact.abs().max()).all()  # half a bf16 step
    (grad,) = torch.autograd.grad((gram * weights).sum(), feats)
    (grad32,) = torch.autograd.grad((gram32 * weights).sum(), wide)
    assert grad.dtype == dtype and grad.is_contiguous(memory_format=layout)
    if dtype == torch.float16:
        assert torch.equal(grad, grad32.to(dtype))
    else:
        torch.testing.assert_close(grad.float(), grad32, rtol=2e-2, atol=2e-2 * grad32.abs().max().item())
        assert not torch.equal(grad, grad32.to(dtype))  # really the bf16 product, not a rounded float32 one


def test_losses_of_half_precision_features_are_float32():
    gen = torch.Generator().manual_seed(6)
    feats = torch.randn(2, 4, 3, 5, generator=gen)
    target = torch.randn(1, 4, 3, 5, generator=gen)
    for dtype in (torch.bfloat16, torch.float16):
        narrow = feats.to(dtype)
        assert content_loss(narrow, target).dtype == torch.float32
        torch.testing.assert_close(content_loss(narrow, target), content_loss(narrow.float(), target))
    # The batched path: fp16 as the widened features, bf16 rounded once (the same as one image at a time).
    assert torch.equal(gram_matrix(feats.to(torch.float16)), gram_matrix(feats.to(torch.float16).float()))
    narrow = feats.to(torch.bfloat16)
    assert gram_matrix(narrow).dtype == torch.float32
    assert torch.equal(gram_matrix(narrow), torch.cat([gram_matrix(narrow[i:i + 1]) for i in range(2)]))


def test_only_the_cpu_rounds_a_bf16_gram_once():
    # cuBLAS may sum a split bf16 product in bf16, so another device keeps the float32 product.
    feats = torch.ones(1, 4, 3, 5, dtype=torch.bfloat16)
    assert _rounded_once(feats) and not _rounded_once(feats.half()) and not _rounded_once(feats.float())
    assert not _rounded_once(feats.to("meta"))
    assert gram_matrix(feats.to("meta")).dtype == torch.float32


def test_content_and_tv_gradcheck():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 5, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    t = torch.randn(1, 3, 5, 4, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda f: content_loss(f, t), (x,))
    assert torch.autograd.gradcheck(tv_loss, (x,))


def test_modules_equal_functions_and_zero_at_target():
    gen = torch.Generator().manual_seed(2)
    f = torch.randn(1, 4, 6, 6, generator=gen)
    g = torch.randn(1, 4, 6, 6, generator=gen)
    assert torch.equal(ContentLoss(g)(f), content_loss(f, g))
    assert torch.equal(StyleLoss(gram_matrix(g))(f), style_loss(f, gram_matrix(g)))
    assert torch.equal(TVLoss()(f), tv_loss(f))
    assert ContentLoss(f)(f) == 0 and StyleLoss(gram_matrix(f))(f) == 0
    assert style_loss(f, gram_matrix(g)) > 0
