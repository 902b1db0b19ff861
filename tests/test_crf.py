"""Tests for fgkf_core.crf.CRF against pytorch-crf (torchcrf) and brute force."""

from __future__ import annotations

import copy
import itertools
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import fgkf_core.crf_partition as crf_module  # noqa: E402
from fgkf_core.crf import CRF  # noqa: E402
from fgkf_core.crf_partition import _LogPartition  # noqa: E402

import torchcrf  # noqa: E402  (pinned in requirements.txt: the reference the CRF is checked against)


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny tensors: one intra-op thread keeps the tests fast and stable on a
    busy machine (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_pair(num_tags: int, seed: int = 0, use_start_end: bool = True):
    """A torchcrf CRF and our CRF with identical (non-trivial) parameters."""
    torch.manual_seed(seed)
    ref = torchcrf.CRF(num_tags, batch_first=True)
    with torch.no_grad():  # larger than the default init to make tests sharper
        for p in ref.parameters():
            p.uniform_(-1.0, 1.0)
        if not use_start_end:
            ref.start_transitions.zero_()
            ref.end_transitions.zero_()
    ours = CRF(num_tags, use_start_end=use_start_end)
    with torch.no_grad():
        ours.transitions.copy_(ref.transitions)
        ours.start_transitions.copy_(ref.start_transitions)
        ours.end_transitions.copy_(ref.end_transitions)
    return ref, ours


def random_batch(batch: int, seq: int, num_tags: int, seed: int, min_len: int = 1):
    """Random right-padded batch; first sentence always full length, one of length min_len."""
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, seq, num_tags, generator=g) * 2
    tags = torch.randint(num_tags, (batch, seq), generator=g)
    lengths = torch.randint(min_len, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    lengths[-1] = min_len
    mask = torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)
    return emissions, tags, mask


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reduction", ["sum", "mean", "none", "token_mean"])
def test_nll_matches_torchcrf(seed: int, reduction: str) -> None:
    ref, ours = make_pair(5, seed)
    emissions, tags, mask = random_batch(9, 11, 5, seed)
    expected = -ref(emissions, tags, mask, reduction=reduction)
    got = ours.nll(emissions, tags, mask, reduction=reduction)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # forward() is an alias of nll()
    torch.testing.assert_close(ours(emissions, tags, mask, reduction), got)


def test_nll_default_reduction_and_no_mask() -> None:
    ref, ours = make_pair(4, 1)
    emissions, tags, _ = random_batch(3, 6, 4, 1)
    full = torch.ones(3, 6, dtype=torch.bool)
    torch.testing.assert_close(ours.nll(emissions, tags), -ref(emissions, tags, full, reduction="mean"))


@pytest.mark.parametrize("seed", range(5))
def test_decode_matches_torchcrf(seed: int) -> None:
    ref, ours = make_pair(6, seed)
    emissions, tags, mask = random_batch(16, 13, 6, seed)
    expected = ref.decode(emissions, mask)
    got = ours.decode(emissions, mask)
    assert got == expected
    assert [len(p) for p in got] == mask.sum(1).tolist()
    assert len(got[-1]) == 1  # a length-1 sentence is included
    t = ours.decode_tensor(emissions, mask)
    assert t.dtype == torch.long and t.shape == mask.shape
    assert (t[~mask] == 0).all()
    for row, path in zip(t.tolist(), expected):
        assert row[: len(path)] == path


def test_decode_single_timestep_and_no_mask() -> None:
    ref, ours = make_pair(3, 2)
    emissions = torch.randn(4, 1, 3)
    assert ours.decode(emissions) == ref.decode(emissions, torch.ones(4, 1, dtype=torch.bool))
    emissions = torch.randn(4, 7, 3)
    assert ours.decode(emissions) == ref.decode(emissions, torch.ones(4, 7, dtype=torch.bool))


@pytest.mark.parametrize("seed", range(3))
def test_gradients_match_torchcrf(seed: int) -> None:
    ref, ours = make_pair(5, seed)
    emissions, tags, mask = random_batch(8, 10, 5, seed)
    em_ref = emissions.clone().requires_grad_()
    em_ours = emissions.clone().requires_grad_()
    weights = torch.rand(8)  # non-uniform upstream gradient per sentence
    (-(ref(em_ref, tags, mask, reduction="none") * weights).sum()).backward()
    (ours.nll(em_ours, tags, mask, reduction="none") * weights).sum().backward()
    torch.testing.assert_close(em_ours.grad, em_ref.grad, atol=1e-5, rtol=1e-4)
    for name in ("transitions", "start_transitions", "end_transitions"):
        torch.testing.assert_close(
            getattr(ours, name).grad, getattr(ref, name).grad, atol=1e-5, rtol=1e-4, msg=name
        )


def test_log_partition_gradcheck() -> None:
    torch.manual_seed(0)
    b, t, c = 3, 4, 3
    em = torch.randn(b, t, c, dtype=torch.double, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    start = torch.randn(c, dtype=torch.double, requires_grad=True)
    end = torch.randn(c, dtype=torch.double, requires_grad=True)
    trans = torch.randn(c, c, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: _LogPartition.apply(a[0], mask, *a[1:]), (em, start, end, trans)
    )


@pytest.mark.parametrize("force_logsumexp", [False, True])
def test_log_partition_gradcheck_both_paths(force_logsumexp: bool, monkeypatch) -> None:
    if force_logsumexp:
        monkeypatch.setattr(crf_module, "_MATMUL_MAX_SPREAD", -1.0)
    torch.manual_seed(1)
    em = torch.randn(3, 5, 4, dtype=torch.double, requires_grad=True)
    mask = torch.tensor([[1] * 5, [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    params = [torch.randn(*shape, dtype=torch.double, requires_grad=True) for shape in ((4,), (4,), (4, 4))]
    assert torch.autograd.gradcheck(lambda e, *p: _LogPartition.apply(e, mask, *p), (em, *params))


def _check_against_float64(ref, ours, emissions, tags, mask) -> None:
    """Compare our float32 nll/gradients with torchcrf run in float64 (ground
    truth); for large emissions float32 round-off differs between the two
    implementations, so both are held to the float64 answer instead."""
    ref64 = copy.deepcopy(ref).double()
    em64 = emissions.double().requires_grad_()
    expected = -ref64(em64, tags, mask, reduction="none")
    expected.sum().backward()
    em = emissions.clone().requires_grad_()
    got = ours.nll(em, tags, mask, reduction="none")
    got.sum().backward()
    torch.testing.assert_close(got.double(), expected.detach(), atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(em.grad.double(), em64.grad, atol=5e-5, rtol=0)
    torch.testing.assert_close(ours.transitions.grad.double(), ref64.transitions.grad, atol=5e-4, rtol=1e-4)
    assert ours.decode(emissions, mask) == ref.decode(emissions, mask)


def test_hard_constraints_use_exact_path() -> None:
    """Transitions with a huge spread (e.g. -1e4 for forbidden moves) take the
    logsumexp path, which must still be accurate."""
    ref, ours = make_pair(5, 11)
    with torch.no_grad():
        ref.transitions[0, 1] = ref.transitions[2, 3] = ref.transitions[4, 4] = -1e4
        ours.transitions.copy_(ref.transitions)
    assert not crf_module._matmul_ok(ours.transitions)[0]
    emissions, tags, mask = random_batch(8, 12, 5, 11)
    _check_against_float64(ref, ours, emissions * 20, tags, mask)


def test_large_emissions_matmul_path() -> None:
    """Emissions with a large dynamic range (differences of hundreds between
    tags) on the matmul path."""
    ref, ours = make_pair(6, 12)
    assert crf_module._matmul_ok(ours.transitions)[0]
    emissions, tags, mask = random_batch(8, 15, 6, 12)
    _check_against_float64(ref, ours, emissions * 50, tags, mask)


def test_mixed_dtypes() -> None:
    """float64 / float16 emissions with a float32 module."""
    ref, ours = make_pair(4, 13)
    emissions, tags, mask = random_batch(5, 7, 4, 13)
    expected = -ref(emissions, tags, mask, reduction="none")
    em64 = emissions.double().requires_grad_()
    got = ours.nll(em64, tags, mask, reduction="none")
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected.double(), atol=1e-5, rtol=1e-5)
    got.sum().backward()
    assert em64.grad.dtype == torch.float64
    assert ours.decode(em64, mask) == ref.decode(emissions, mask)
    em16 = emissions.half().requires_grad_()
    got16 = ours.nll(em16, tags, mask, reduction="none")
    assert got16.dtype == torch.float32
    got16.sum().backward()
    assert em16.grad.dtype == torch.float16


def test_padding_invariance() -> None:
    _, ours = make_pair(5, 3)
    emissions, tags, mask = random_batch(7, 9, 5, 3)
    extra = 6
    g = torch.Generator().manual_seed(123)
    # garbage emissions and garbage (even invalid) tags at new and old padding
    emissions2 = torch.cat([emissions, 100 * torch.randn(7, extra, 5, generator=g)], dim=1)
    emissions2[:, :9][~mask] = 100 * torch.randn(int((~mask).sum()), 5, generator=g)
    tags2 = torch.cat([tags, torch.full((7, extra), -100)], dim=1)
    tags2[:, :9][~mask] = -100
    mask2 = torch.cat([mask, torch.zeros(7, extra, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(
        ours.nll(emissions2, tags2, mask2, reduction="none"),
        ours.nll(emissions, tags, mask, reduction="none"),
    )
    assert ours.decode(emissions2, mask2) == ours.decode(emissions, mask)
    # padding emissions receive zero gradient; parameter gradients unchanged
    em = emissions2.clone().requires_grad_()
    ours.nll(em, tags2, mask2, reduction="sum").backward()
    assert (em.grad[~mask2] == 0).all()
    grads_padded = [p.grad.clone() for p in ours.parameters()]
    ours.zero_grad()
    em_short = emissions.clone().requires_grad_()
    ours.nll(em_short, tags, mask, reduction="sum").backward()
    torch.testing.assert_close(em.grad[:, :9], em_short.grad)
    for gp, p in zip(grads_padded, ours.parameters()):
        torch.testing.assert_close(gp, p.grad)


@pytest.mark.parametrize("pad_value", [float("-inf"), float("inf"), float("nan")])
def test_non_finite_padding(pad_value: float) -> None:
    """inf/nan emissions at padding positions do not leak into results or gradients."""
    _, ours = make_pair(5, 4)
    emissions, tags, mask = random_batch(6, 8, 5, 4)
    expected = ours.nll(emissions, tags, mask, reduction="none")
    ours.zero_grad()
    expected.sum().backward()
    expected_grads = [p.grad.clone() for p in ours.parameters()]
    ours.zero_grad()
    em = emissions.masked_fill(~mask.unsqueeze(2), pad_value).requires_grad_()
    got = ours.nll(em, tags, mask, reduction="none")
    torch.testing.assert_close(got, expected.detach())
    got.sum().backward()
    assert torch.isfinite(em.grad).all() and (em.grad[~mask] == 0).all()
    for ge, p in zip(expected_grads, ours.parameters()):
        torch.testing.assert_close(p.grad, ge)
    assert ours.decode(em, mask) == ours.decode(emissions, mask)


def test_use_start_end_false() -> None:
    ref, ours = make_pair(4, 5, use_start_end=False)
    names = {n for n, _ in ours.named_parameters()}
    assert names == {"transitions"}
    assert "start_transitions" in dict(ours.named_buffers())
    assert "end_transitions" in dict(ours.named_buffers())
    assert (ours.start_transitions == 0).all() and (ours.end_transitions == 0).all()
    # fresh module too
    fresh = CRF(4, use_start_end=False)
    assert (fresh.start_transitions == 0).all() and (fresh.end_transitions == 0).all()
    assert len(list(fresh.parameters())) == 1
    emissions, tags, mask = random_batch(6, 8, 4, 5)
    torch.testing.assert_close(
        ours.nll(emissions, tags, mask, reduction="sum"), -ref(emissions, tags, mask, reduction="sum")
    )
    assert ours.decode(emissions, mask) == ref.decode(emissions, mask)
    em = emissions.clone().requires_grad_()
    ours.nll(em, tags, mask).backward()  # buffers need no grad
    assert em.grad is not None and ours.transitions.grad is not None


def test_default_init_like_torchcrf() -> None:
    """uniform(-0.1, 0.1), as torchcrf draws it: bounded, of both signs, not constant."""
    torch.manual_seed(0)
    crf = CRF(7)
    for p in (crf.start_transitions, crf.end_transitions, crf.transitions):
        assert isinstance(p, torch.nn.Parameter)
        assert p.abs().max() <= 0.1 and p.std() > 0.01
    assert crf.transitions.min() < 0 < crf.transitions.max()
    assert crf.transitions.shape == (7, 7) and crf.start_transitions.shape == (7,)


def test_brute_force_tiny() -> None:
    c, t = 3, 3
    _, ours = make_pair(c, 7)
    ours.double()
    torch.manual_seed(7)
    emissions = torch.randn(1, t, c, dtype=torch.double)
    tags = torch.tensor([[2, 0, 1]])
    mask = torch.ones(1, t, dtype=torch.bool)

    def path_score(path) -> torch.Tensor:
        s = ours.start_transitions[path[0]] + ours.end_transitions[path[-1]]
        s = s + sum(emissions[0, i, y] for i, y in enumerate(path))
        s = s + sum(ours.transitions[a, b] for a, b in zip(path[:-1], path[1:]))
        return s

    with torch.no_grad():
        paths = list(itertools.product(range(c), repeat=t))
        assert len(paths) == 27
        scores = torch.stack([path_score(p) for p in paths])
        expected = torch.logsumexp(scores, 0) - path_score(tags[0].tolist())
        got = ours.nll(emissions, tags, mask, reduction="sum")
        torch.testing.assert_close(got, expected)
        assert ours.decode(emissions, mask) == [list(paths[int(scores.argmax())])]


def test_value_errors() -> None:
    crf = CRF(4)
    em = torch.randn(2, 5, 4)
    tags = torch.zeros(2, 5, dtype=torch.long)
    mask = torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="bool"):
        crf.nll(em, tags, mask.long())
    with pytest.raises(ValueError, match="bool"):
        crf.decode(em, mask.to(torch.uint8))
    bad_first = mask.clone()
    bad_first[1, 0] = False
    with pytest.raises(ValueError, match="first timestep"):
        crf.nll(em, tags, bad_first)
    with pytest.raises(ValueError, match="first timestep"):
        crf.decode(em, bad_first)
    with pytest.raises(ValueError, match="mask must match"):
        crf.nll(em, tags, mask[:, :4])
    with pytest.raises(ValueError, match="tags must match"):
        crf.nll(em, tags[:, :4], mask)
    with pytest.raises(ValueError, match="dimension of 3"):
        crf.decode(em[0], mask[0])
    with pytest.raises(ValueError, match="last dimension"):
        crf.nll(torch.randn(2, 5, 3), tags, mask)
    with pytest.raises(ValueError, match="torch.long"):
        crf.nll(em, tags.int(), mask)
    with pytest.raises(ValueError, match="floating point"):
        crf.decode(em.long(), mask)
    with pytest.raises(ValueError, match="invalid reduction"):
        crf.nll(em, tags, mask, reduction="avg")
