"""The fused CPU routing kernel equals the eager capsule routing: values and gradients (float64 to round-off,
float32 at paper-like sizes), its tanh's accuracy, its refusals, and CapsuleRouting's use of it."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fgkf_core.fused_routing import extension, fused_capsules
from fgkf_core.relevance import CapsuleRouting, route


def _eager(h, w, b, mask, n, iters):
    B, T, _ = h.shape
    return route(torch.tanh(F.linear(h, w, b)).view(B, T, n, -1), mask, iters)  # [B, N, D]


@pytest.mark.parametrize("iters", [1, 2, 3])
def test_values_and_gradients_equal_eager_routing_in_float64(iters):
    torch.manual_seed(iters)
    B, T, H, N, D = 4, 6, 5, 3, 7
    lengths = torch.tensor([6, 3, 1, 4])
    mask = torch.arange(T)[None, :] < lengths[:, None]  # [B, T]
    h = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True)
    w = (0.5 * torch.randn(N * D, H, dtype=torch.float64)).requires_grad_()
    b = torch.randn(N * D, dtype=torch.float64, requires_grad=True)
    before = [x.detach().clone() for x in (h, w, b)]
    ref, out = _eager(h, w, b, mask, N, iters), fused_capsules(h, w, b, mask, N, iters)
    assert out.shape == (B, N, D)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13)
    g = torch.randn_like(ref)
    for a, e in zip(torch.autograd.grad((out * g).sum(), (h, w, b)), torch.autograd.grad((ref * g).sum(), (h, w, b))):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)
    assert all(torch.equal(x, y) for x, y in zip((h, w, b), before))  # in place only in buffers of its own


def test_float32_at_paper_like_size_and_padding_gets_no_gradient():
    torch.manual_seed(0)
    B, T, H, N, D = 8, 12, 20, 6, 16
    lengths = torch.randint(1, T + 1, (B,))
    mask = torch.arange(T)[None, :] < lengths[:, None]
    h = torch.randn(B, T, H, requires_grad=True)
    lin = torch.nn.Linear(H, N * D)
    ref, out = _eager(h, lin.weight, lin.bias, mask, N, 3), fused_capsules(h, lin.weight, lin.bias, mask, N, 3)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)
    (dh,) = torch.autograd.grad(out.sum(), (h,))
    (dh_ref,) = torch.autograd.grad(ref.sum(), (h,))
    torch.testing.assert_close(dh, dh_ref, rtol=1e-3, atol=1e-6)
    assert dh[~mask].abs().max() == 0  # padding casts no vote and gets no gradient


def test_float_tanh_is_within_a_few_ulp():
    x = torch.linspace(-12, 12, 200_001)
    err = (extension().tanh_float(x) - torch.tanh(x.double()).float()).abs()
    assert err.max() < 5e-7 and torch.equal(extension().tanh_float(torch.zeros(3)), torch.zeros(3))


def test_refuses_left_padding_and_a_second_backward():
    h, w, b = torch.randn(2, 3, 4, requires_grad=True), torch.randn(6, 4), torch.zeros(6)
    with pytest.raises(ValueError, match="right-padded"):
        fused_capsules(h, w, b, torch.tensor([[False, True, True], [True, True, True]]), 2, 3)
    out = fused_capsules(h, w, b, torch.ones(2, 3, dtype=torch.bool), 2, 3)
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="consumed by a first backward"):
        out.sum().backward()


def test_capsule_layer_takes_the_fused_kernel_when_compiled_on_cpu():
    torch.manual_seed(1)
    eager, fused = CapsuleRouting(10, 4, 8, 3), CapsuleRouting(10, 4, 8, 3, compiled=True)
    fused.load_state_dict(eager.state_dict())
    h, mask = torch.randn(3, 5, 10), torch.arange(5)[None, :] < torch.tensor([[5], [2], [4]])
    torch.testing.assert_close(fused(h, mask), eager(h, mask), rtol=1e-5, atol=1e-6)
    assert fused(h, mask).grad_fn.name() == "FusedCapsulesBackward"
