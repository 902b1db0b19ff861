"""The fused CPU routing kernel equals the eager capsule routing: values and gradients (float64 to round-off,
float32 at paper-like sizes), its tanh's accuracy, its refusals, and CapsuleRouting's use of it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from fgkf_core import cext
from fgkf_core.fused_routing import Workspace, extension, fused_capsules
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


def _batch(B, T, H, seed):
    torch.manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,))  # [B]
    return torch.randn(B, T, H, requires_grad=True), torch.arange(T)[None, :] < lengths[:, None]  # [B, T, H], [B, T]


def test_a_reused_workspace_gives_bitwise_the_numbers_of_fresh_buffers():
    lin = torch.nn.Linear(20, 6 * 16)
    ws = Workspace()
    for B, T, seed in ((8, 12, 0), (5, 7, 1), (8, 12, 2)):  # grows, then reuses a larger buffer for a smaller batch
        h, mask = _batch(B, T, 20, seed)
        outs = []
        for workspace in (ws, None):  # None: a fresh buffer, as every call before the workspace existed
            out = fused_capsules(h, lin.weight, lin.bias, mask, 6, 3, workspace)
            outs.append((out, *torch.autograd.grad((out * out).sum(), (h, lin.weight, lin.bias))))
        assert all(torch.equal(a, b) for a, b in zip(*outs))
    assert ws.buffers[torch.float32].numel() == 8 * 12 * 6 * 16


def test_a_later_forward_of_the_same_layer_invalidates_the_earlier_backward():
    lin, ws = torch.nn.Linear(4, 6), Workspace()
    h, mask = _batch(2, 3, 4, 0)
    first = fused_capsules(h, lin.weight, lin.bias, mask, 2, 3, ws)
    fused_capsules(h, lin.weight, lin.bias, mask, 2, 3, ws)  # overwrites the buffer `first` saved
    with pytest.raises(RuntimeError, match="overwritten by a later forward"):
        first.sum().backward()


def _bf16_reference(h, w, b, mask, n, iters):
    """The bf16 path's function in float64: operands rounded to bfloat16, the projection rounded to bfloat16."""
    B, T, _ = h.shape
    pre = F.linear(h.bfloat16().double(), w.bfloat16().double()).bfloat16().double()  # [B, T, N*D]
    return route(torch.tanh(pre + b.double()).view(B, T, n, -1), mask, iters)  # [B, N, D]


def test_bf16_matmuls_match_their_float64_reference_and_stay_near_float32():
    B, T, H, N, D = 8, 12, 40, 6, 16
    h, mask = _batch(B, T, H, 3)
    lin = torch.nn.Linear(H, N * D)
    out = fused_capsules(h, lin.weight, lin.bias, mask, N, 3, Workspace(), bf16=True)
    assert out.dtype == torch.float32 and out.shape == (B, N, D)
    ref = _bf16_reference(h, lin.weight, lin.bias, mask, N, 3)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=2e-6)  # float32 tanh and routing only
    fp32 = fused_capsules(h, lin.weight, lin.bias, mask, N, 3)
    assert 1e-5 < (out - fp32).abs().max() < 2e-2 * fp32.abs().max()  # bf16 moved it, by bf16 round-off
    g = torch.randn_like(out)
    grads = torch.autograd.grad((out * g).sum(), (h, lin.weight, lin.bias))
    ref_grads = torch.autograd.grad((_eager(h, lin.weight, lin.bias, mask, N, 3) * g).sum(), (h, lin.weight, lin.bias))
    for got, want in zip(grads, ref_grads):
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert (got - want).abs().max() < 2e-2 * want.abs().max()  # gradients within bf16 round-off
    assert grads[0][~mask].abs().max() == 0  # padding gets no gradient in bf16 too


def test_capsule_layer_takes_the_bf16_fused_kernel_when_asked():
    torch.manual_seed(2)
    layer = CapsuleRouting(10, 4, 8, 3, compiled=True, dtype="bfloat16")
    h, mask = torch.randn(3, 5, 10), torch.arange(5)[None, :] < torch.tensor([[5], [2], [4]])
    out = layer(h, mask)
    assert out.grad_fn.name() == "FusedCapsulesBackward" and torch.bfloat16 in layer.workspace.buffers


def test_build_folder_is_per_interpreter_flags_and_source(tmp_path, monkeypatch):
    """Two checkouts (two venvs) or two flag sets never share, hence never rebuild over, one build folder."""
    src = tmp_path / "k.cpp"
    src.write_text("int f() { return 1; }\n")
    base = cext.build_dir("k", src, ["-O3"], root=tmp_path)
    assert base.parent == tmp_path / "fgkf" and base.name.startswith("k-")
    assert cext.build_dir("k", src, ["-O3"], root=tmp_path) == base
    assert cext.build_dir("k", src, ["-O2"], root=tmp_path) != base
    monkeypatch.setattr(cext.sys, "prefix", "/another/venv")
    assert cext.build_dir("k", src, ["-O3"], root=tmp_path) != base
    monkeypatch.undo()
    src.write_text("int f() { return 2; }\n")
    assert cext.build_dir("k", src, ["-O3"], root=tmp_path) != base


def _child_holding_the_build_lock(folder, then: str) -> subprocess.Popen:
    """A process that takes the build lock, creates torch's lock file as a build does, then runs `then`; it has
    the lock once its first output line reads "in"."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom fgkf_core.cext import build_lock\n"
            "with build_lock(Path(sys.argv[1])):\n    (Path(sys.argv[1]) / 'lock').touch(); print('in', flush=True); "
            + then)
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "in"
    return child


def test_a_build_killed_midway_leaves_no_lock_that_blocks_the_next(tmp_path):
    """torch waits forever on the lock file a killed build leaves; our flock dies with its process, and whoever
    takes it next clears torch's leftover lock and builds."""
    child = _child_holding_the_build_lock(tmp_path, "time.sleep(60)")
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert (tmp_path / "lock").exists()
    start = time.monotonic()
    with pytest.warns(UserWarning, match="stale build lock"):
        with cext.build_lock(tmp_path):
            assert not (tmp_path / "lock").exists()
    assert time.monotonic() - start < 5


def test_a_live_build_is_waited_for_not_broken_into(tmp_path):
    """While another process holds the build lock (it is compiling), a second one waits until it is done."""
    child = _child_holding_the_build_lock(tmp_path, "time.sleep(1.5); (Path(sys.argv[1]) / 'lock').unlink()")
    start = time.monotonic()
    with cext.build_lock(tmp_path):  # no stale-lock warning: the child removed its lock before letting go
        waited = time.monotonic() - start
    assert child.wait(10) == 0
    assert waited > 1.0
