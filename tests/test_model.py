"""Models, relevance and fusion: shapes, padding invariance, alpha ranges, the gradient block, loss splits."""
from __future__ import annotations

import pytest
import torch

from fgkf_core.config import resolve
from fgkf_core.data import Batch
from fgkf_core.fusion import Fusion, kd_cross_entropy, weighted_target_loss
from fgkf_core.methods import BuildContext, get_method
from fgkf_core.models import Tagger, TokenEmbedding
from fgkf_core.relevance import CapsuleRouting, RelevanceModule, masked_softmax, squash

V, C, E, H = 40, 5, 8, 6
LENGTHS = [5, 2, 4, 1]
ATOL = 1e-5


def _mask(lengths: list[int], T: int) -> torch.Tensor:
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # [B, T]


def _ids(lengths: list[int], T: int, seed: int = 0, width: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (len(lengths), T) if width is None else (len(lengths), T, width)
    return torch.randint(2, V, shape, generator=g)


def _pad(x: torch.Tensor, extra: int, fill: int | float | None = None, seed: int = 1) -> torch.Tensor:
    """Append `extra` time steps of garbage (random ids / values) or a fill value along dim 1."""
    shape = (x.shape[0], extra, *x.shape[2:])
    if fill is not None:
        tail = torch.full(shape, fill, dtype=x.dtype)
    elif x.dtype == torch.long:
        tail = torch.randint(2, V, shape, generator=torch.Generator().manual_seed(seed))
    elif x.dtype == torch.bool:
        tail = torch.zeros(shape, dtype=torch.bool)
    else:
        tail = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return torch.cat([x, tail], 1)


def _tagger(width: int = 1, seed: int = 0) -> Tagger:
    torch.manual_seed(seed)
    return Tagger(TokenEmbedding(V, E), E * width, H, C, emb_dropout=0.5).eval()


# ----------------------------------------------------------------------------- Tagger


@pytest.mark.parametrize("width", [1, 5])
def test_tagger_shapes(width):
    tagger = _tagger(width)
    T = max(LENGTHS)
    ids = _ids(LENGTHS, T, width=None if width == 1 else width)
    mask = _mask(LENGTHS, T)
    h, e = tagger(ids, mask)
    assert h.shape == (4, T, 2 * H) and e.shape == (4, T, C)
    assert (h[~mask] == 0).all()  # BiLSTM states are zero at padding
    assert (h[mask].abs().sum(-1) > 0).all()
    pred = tagger.predict(ids, mask)
    assert pred.shape == (4, T) and pred.dtype == torch.long
    assert (pred[~mask] == 0).all() and ((pred >= 0) & (pred < C)).all()
    nll = tagger.nll(e, torch.zeros_like(pred), mask)
    assert nll.dim() == 0 and nll.item() > 0


@pytest.mark.parametrize("width", [1, 5])
def test_tagger_padding_invariance(width):
    tagger = _tagger(width, seed=3)
    with torch.no_grad():  # sharpen the CRF so decoding is non-trivial
        tagger.crf.transitions.uniform_(-2, 2)
    T, extra = max(LENGTHS), 4
    ids = _ids(LENGTHS, T, width=None if width == 1 else width)
    mask = _mask(LENGTHS, T)
    tags = torch.randint(0, C, (4, T), generator=torch.Generator().manual_seed(9))
    ids_p, mask_p = _pad(ids, extra), _pad(mask, extra)
    tags_p = _pad(tags, extra, fill=C - 1)
    assert ids_p.shape[1] == T + extra and mask_p.sum() == mask.sum()
    with torch.no_grad():
        h, e = tagger(ids, mask)
        h_p, e_p = tagger(ids_p, mask_p)
        torch.testing.assert_close(e_p[:, :T][mask], e[mask], atol=ATOL, rtol=0)
        torch.testing.assert_close(h_p[:, :T], h, atol=ATOL, rtol=0)
        nll = tagger.crf.nll(e, tags, mask, reduction="none")
        nll_p = tagger.crf.nll(e_p, tags_p, mask_p, reduction="none")
        assert nll.shape == (4,)
        torch.testing.assert_close(nll_p, nll, atol=ATOL, rtol=0)
        dec, dec_p = tagger.predict(ids, mask), tagger.predict(ids_p, mask_p)
        assert torch.equal(dec_p[:, :T], dec) and (dec_p[:, T:] == 0).all()


def test_tagger_batch_composition_invariance():
    """A sentence's outputs do not depend on the other sentences of its batch."""
    tagger = _tagger(seed=4)
    T = max(LENGTHS)
    ids, mask = _ids(LENGTHS, T), _mask(LENGTHS, T)
    with torch.no_grad():
        _, e = tagger(ids, mask)
        for i, n in enumerate(LENGTHS):
            _, e_i = tagger(ids[i : i + 1, :n], mask[i : i + 1, :n])
            torch.testing.assert_close(e_i[0], e[i, :n], atol=ATOL, rtol=0)


def test_token_embedding_zeros_init_and_concat():
    emb = TokenEmbedding(V, E, init="zeros")
    assert (emb.table.weight == 0).all()
    x = TokenEmbedding(V, E)(torch.zeros(2, 3, 5, dtype=torch.long))
    assert x.shape == (2, 3, 5 * E)
    with pytest.raises(ValueError, match="random"):
        TokenEmbedding(V, E, init="xavier")


# ----------------------------------------------------------------------------- relevance + fusion


def _states(lengths: list[int], T: int, seed: int = 0, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = _mask(lengths, T)
    h = torch.randn(len(lengths), T, 2 * H, generator=g) * scale * mask.unsqueeze(-1)  # zero at padding, as the BiLSTM
    return h, mask


def _rel_fusion(kind="sample_q", elem_map="token", sample_weight="sigmoid", mode="multi", clf="two_class_r", seed=0):
    torch.manual_seed(seed)
    rel = RelevanceModule(2 * H, kind=kind, n_capsules=4, capsule_dim=6, iters=3, mlp_hidden=5,
                          classifier_input=clf).eval()
    with torch.no_grad():  # a larger bilinear map so relevance is far from uniform
        rel.B.normal_(0, 0.5)
        if kind == "sample_q":  # non-zero biases (as after training): zero states at padding are not inert
            rel.capsules.u_hat.bias.normal_(0, 0.5)
    fusion = Fusion(mode, sample_weight, elem_map, "multi_both", tau=1.0, gamma=0.5, max_len=16).eval()
    if elem_map == "positional":
        with torch.no_grad():
            fusion.W_alpha.normal_(0, 0.5)
    return rel, fusion


@pytest.mark.parametrize("elem_map", ["token", "positional"])
@pytest.mark.parametrize("kind, clf", [("sample_q", "two_class_r"), ("domain_q", "two_class_r"), ("sample_q", "one_class_caps")])
def test_relevance_and_fusion_padding_invariance(elem_map, kind, clf):
    rel_mod, fusion = _rel_fusion(kind, elem_map, clf=clf, seed=2)
    T, extra = max(LENGTHS), 5
    h, mask = _states(LENGTHS, T)
    h_p, mask_p = _pad(h, extra, fill=0.0), _pad(mask, extra)
    with torch.no_grad():
        r, r_p = rel_mod(h, mask), rel_mod(h_p, mask_p)
        a, a_p = fusion(r, mask), fusion(r_p, mask_p)
    for name in ("w_elem", "w_norm"):
        x, x_p = getattr(r, name), getattr(r_p, name)
        torch.testing.assert_close(x_p[:, :T][mask], x[mask], atol=ATOL, rtol=0)
        assert (x_p[~mask_p] == 0).all()
    torch.testing.assert_close(r_p.domain_logits, r.domain_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(a_p.samp, a.samp, atol=ATOL, rtol=0)
    for name in ("elem", "seq_weight", "kd_weight"):
        torch.testing.assert_close(getattr(a_p, name)[:, :T][mask], getattr(a, name)[mask], atol=ATOL, rtol=0)
    assert (a_p.elem[~mask_p] == 0).all()
    # the relevance is not trivially uniform (else the test would prove little)
    assert r.w_elem[mask].std() > 1e-3 and a.elem[mask].std() > 1e-4


def test_relevance_batch_composition_invariance():
    rel_mod, fusion = _rel_fusion(seed=5)
    T = max(LENGTHS)
    h, mask = _states(LENGTHS, T, seed=3)
    with torch.no_grad():
        r = rel_mod(h, mask)
        a = fusion(r, mask)
        for i, n in enumerate(LENGTHS):
            r_i = rel_mod(h[i : i + 1, :n], mask[i : i + 1, :n])
            a_i = fusion(r_i, mask[i : i + 1, :n])
            torch.testing.assert_close(r_i.w_elem[0], r.w_elem[i, :n], atol=ATOL, rtol=0)
            torch.testing.assert_close(r_i.domain_logits[0], r.domain_logits[i], atol=ATOL, rtol=0)
            torch.testing.assert_close(a_i.elem[0], a.elem[i, :n], atol=ATOL, rtol=0)


def test_capsule_routing_padding_invariance():
    torch.manual_seed(0)
    caps = CapsuleRouting(2 * H, n_capsules=4, capsule_dim=6, iters=3)
    T = max(LENGTHS)
    h, mask = _states(LENGTHS, T, seed=7)
    h_p = _pad(h, 6)  # garbage (non-zero) states at padding must still be ignored
    h_p[:, :T][~mask] = torch.randn(int((~mask).sum()), 2 * H)
    mask_p = _pad(mask, 6)
    with torch.no_grad():
        v, v_p = caps(h, mask), caps(h_p, mask_p)
    assert v.shape == (4, 4, 6)
    torch.testing.assert_close(v_p, v, atol=ATOL, rtol=0)
    assert (v.norm(dim=-1) < 1).all()  # squashed capsules have length < 1
    with pytest.raises(ValueError):
        CapsuleRouting(4, 2, 2, iters=0)


def test_squash_and_masked_softmax():
    s = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(squash(s), s / 5 * 25 / 26, atol=1e-6, rtol=0)
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    m = torch.tensor([[True, True, False]])
    p = masked_softmax(scores, m)
    assert p[0, 2] == 0 and torch.isclose(p.sum(), torch.tensor(1.0))
    torch.testing.assert_close(p[0, :2], torch.tensor([1.0, 2.0]).softmax(0))


@pytest.mark.parametrize("elem_map", ["token", "positional"])
@pytest.mark.parametrize("mode", ["samp", "elem", "multi"])
@pytest.mark.parametrize("kind", ["sample_q", "domain_q"])
def test_alphas_in_range_sigmoid(elem_map, mode, kind):
    rel_mod, fusion = _rel_fusion(kind, elem_map, "sigmoid", mode, seed=11)
    T = max(LENGTHS)
    h, mask = _states(LENGTHS, T, seed=1, scale=10.0)  # large states push the sigmoids toward 0/1
    with torch.no_grad():
        a = fusion(rel_mod(h, mask), mask)
    for name in ("samp", "elem", "seq_weight", "kd_weight"):
        x = getattr(a, name)
        assert ((x >= 0) & (x <= 1)).all(), (name, x)
    assert a.samp.shape == (4,) and a.elem.shape == (4, T)
    assert (a.elem[~mask] == 0).all()
    if mode == "samp":  # the sample weight is broadcast over the whole row, padding included
        torch.testing.assert_close(a.kd_weight, a.samp[:, None].expand(-1, T), atol=0, rtol=0)
    else:  # alpha_elem and alpha_multi inherit alpha_elem's zeros at padding
        assert (a.kd_weight[~mask] == 0).all()
    assert (a.samp > 0).all() and (a.samp < 1).all()


@pytest.mark.parametrize("sample_weight", ["sigmoid", "exp"])
@pytest.mark.parametrize("mode", ["samp", "elem", "multi", "basic"])
def test_padding_weights_never_reach_the_loss(mode, sample_weight):
    """Whatever the fusion weights are at padding (alpha_samp leaves them non-zero), the target losses and their
    gradients are those of weights that are zero there: the CRF ignores padded emissions, KD is masked."""
    rel_mod, fusion = _rel_fusion("sample_q", "token", sample_weight, mode, seed=13)
    T = max(LENGTHS)
    h, mask = _states(LENGTHS, T, seed=4)
    with torch.no_grad():
        a = fusion(rel_mod(h, mask), mask)
    tagger = _tagger()
    torch.manual_seed(3)
    e = torch.randn(4, T, C, requires_grad=True)  # [B, T, C] target emissions
    p_s = torch.randn(4, T, C).softmax(-1) * mask.unsqueeze(-1)  # [B, T, C] cached teacher, 0 at padding
    tags = torch.randint(0, C, (4, T)) * mask  # [B, T]
    garbage = torch.rand(4, T) * 5 + 1  # [B, T] anything but zero
    results = []
    for seq_w, kd_w in ((a.seq_weight, a.kd_weight), (a.seq_weight * mask, a.kd_weight * mask),
                        (torch.where(mask, a.seq_weight, garbage), torch.where(mask, a.kd_weight, garbage))):
        seq, kd = weighted_target_loss(tagger, e, tags, mask, p_s, seq_w, kd_w)
        grad, = torch.autograd.grad(seq + kd, e)
        results.append((seq.detach(), kd.detach(), grad))
    if mode == "samp":
        assert (a.kd_weight[~mask] != 0).all()  # the case this test is about
    for seq, kd, grad in results[1:]:  # bitwise: padding enters no sum
        assert torch.equal(seq, results[0][0]) and torch.equal(kd, results[0][1]) and torch.equal(grad, results[0][2])
    assert results[0][1] > 0  # KD is not trivially zero


@pytest.mark.parametrize("mode", ["samp", "multi"])
def test_alpha_samp_exp_mode_positive(mode):
    rel_mod, fusion = _rel_fusion("sample_q", "positional", "exp", mode, seed=12)
    h, mask = _states(LENGTHS, max(LENGTHS), seed=2, scale=10.0)
    with torch.no_grad():
        r = rel_mod(h, mask)
        a = fusion(r, mask)
    assert (a.samp > 0).all()
    expected = torch.exp(fusion.tau * (fusion.gamma - r.domain_logits.softmax(-1)[:, 1]))
    torch.testing.assert_close(a.samp, expected)
    if mode == "samp":  # the code's exp weighting leaves the sequence side at 1 - kd_alpha
        assert torch.allclose(a.seq_weight, torch.full_like(a.seq_weight, 1 - fusion.kd_alpha))


def test_alpha_samp_sigmoid_formula():
    fusion = Fusion("samp", "sigmoid", tau=2.0, gamma=-0.5)
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    p_src = logits.softmax(-1)[:, 0]
    torch.testing.assert_close(fusion.alpha_samp(logits), torch.sigmoid(2.0 * p_src - 0.5))


def test_fusion_basic_is_constant():
    rel_mod, _ = _rel_fusion(seed=1)
    fusion = Fusion("basic", kd_alpha=0.3)
    h, mask = _states(LENGTHS, max(LENGTHS), seed=4, scale=5.0)
    with torch.no_grad():
        for rel in (rel_mod(h, mask), None):
            a = fusion(rel, mask)
            assert torch.allclose(a.kd_weight, torch.full_like(a.kd_weight, 0.3))
            assert torch.allclose(a.seq_weight, torch.full_like(a.seq_weight, 0.7))
            assert torch.allclose(a.samp, torch.full((4,), 0.3))


def test_loss_split_elem_seq_vs_multi_both():
    rel_mod, _ = _rel_fusion(seed=6)
    h, mask = _states(LENGTHS, max(LENGTHS), seed=8, scale=3.0)
    with torch.no_grad():
        r = rel_mod(h, mask)
        both = Fusion("multi", "sigmoid", "token", "multi_both")(r, mask)
        split = Fusion("multi", "sigmoid", "token", "elem_seq")(r, mask)
    multi = both.samp[:, None] * both.elem
    torch.testing.assert_close(both.elem, split.elem)
    torch.testing.assert_close(both.kd_weight, multi)
    torch.testing.assert_close(split.kd_weight, multi)
    torch.testing.assert_close(both.seq_weight, 1 - multi)
    torch.testing.assert_close(split.seq_weight, 1 - split.elem)
    assert not torch.allclose(both.seq_weight[mask], split.seq_weight[mask])  # the two really differ
    elem_only = Fusion("elem", "sigmoid", "token")(r, mask)
    torch.testing.assert_close(elem_only.kd_weight, elem_only.elem)
    torch.testing.assert_close(elem_only.seq_weight, 1 - elem_only.elem)


def test_fusion_rejects_unknown_options_and_long_positional():
    for kw in ({"mode": "all"}, {"sample_weight": "tanh"}, {"elem_map": "x"}, {"loss_split": "y"}):
        with pytest.raises(ValueError, match="valid"):
            Fusion(**kw)
    rel_mod, fusion = _rel_fusion(elem_map="positional")
    h, mask = _states([20, 3], 20)
    with pytest.raises(ValueError, match="max_len"):
        fusion(rel_mod(h, mask), mask)


def test_kd_cross_entropy_and_weighted_loss():
    torch.manual_seed(0)
    T = max(LENGTHS)
    mask = _mask(LENGTHS, T)
    e = torch.randn(4, T, C)
    p = torch.randn(4, T, C).softmax(-1)
    kd = kd_cross_entropy(p, e, mask)
    assert kd.shape == (4, T) and (kd[~mask] == 0).all()
    torch.testing.assert_close(kd[0, 0], -(p[0, 0] * e[0, 0].log_softmax(-1)).sum())
    tagger = _tagger()
    tags = torch.randint(0, C, (4, T))
    ones, zeros = torch.ones(4, T), torch.zeros(4, T)
    seq, kd_loss = weighted_target_loss(tagger, e, tags, mask, p, ones, zeros)
    torch.testing.assert_close(seq, tagger.nll(e, tags, mask))
    assert kd_loss.item() == 0
    _, kd_full = weighted_target_loss(tagger, e, tags, mask, p, ones, ones)
    torch.testing.assert_close(kd_full, kd.sum(1).mean())


# ----------------------------------------------------------------------------- gradient block


def _system(method: str, **overrides):
    cfg, _ = resolve("ner_en", "smoke", **overrides)
    m = get_method(method)
    torch.manual_seed(0)
    system = m.build(cfg, BuildContext(vocab_size=V, n_tags=C, features="word", max_len=100))
    return m, system, cfg


def _batch(seed: int = 0) -> Batch:
    T = max(LENGTHS)
    mask = _mask(LENGTHS, T)
    ids = _ids(LENGTHS, T, seed) * mask
    tags = torch.randint(0, C, (4, T), generator=torch.Generator().manual_seed(seed)) * mask
    return Batch(ids, tags, mask, torch.arange(4))


def _source_grads(system) -> dict[str, torch.Tensor | None]:
    out = {}
    for part in ("lstm", "emit", "crf"):
        for name, p in getattr(system.source, part).named_parameters():
            out[f"{part}.{name}"] = p.grad
    return out


@pytest.mark.parametrize("method", ["fgkf", "basic_kd"])
def test_gradient_block_with_cached_teacher(method):
    m, system, cfg = _system(method)
    assert cfg.gradient_block
    system.train()
    batch = _batch()
    with torch.no_grad():  # the cached p^S, as Trainer.refresh_teacher builds it
        _, e_s = system.source(batch.ids, batch.mask)
        p_source = e_s.softmax(-1) * batch.mask.unsqueeze(-1)
    assert not p_source.requires_grad
    loss, logs = m.target_loss(system, batch, p_source, cfg)
    assert torch.isfinite(loss) and "kd" in logs
    loss.backward()
    grads = _source_grads(system)
    assert grads  # source parameters exist
    for name, g in grads.items():
        assert g is None or not g.abs().sum() > 0, f"source {name} received a gradient through the KD loss"
    # while the target side does learn
    assert system.target.emit.weight.grad is not None and system.target.emit.weight.grad.abs().sum() > 0
    assert system.target.lstm.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["fgkf", "basic_kd"])
def test_no_gradient_block_reaches_source(method):
    m, system, cfg = _system(method, gradient_block=False)
    system.train()
    loss, _ = m.target_loss(system, _batch(), None, cfg)
    loss.backward()
    grads = _source_grads(system)
    nonzero = [n for n, g in grads.items() if g is not None and g.abs().sum() > 0]
    assert any(n.startswith("lstm") for n in nonzero) and any(n.startswith("emit") for n in nonzero)
    assert all(not n.startswith("crf") for n in nonzero)  # the teacher is the softmax of emissions, not the CRF


def test_fgkf_basic_alpha_target_loss_matches_basic_kd_weights():
    """fgkf with alpha='basic' uses constant kd_alpha and no relevance module call in the target loss."""
    m, system, cfg = _system("fgkf", alpha="basic", kd_alpha=0.25)
    system.eval()
    batch = _batch(3)
    with torch.no_grad():
        _, e_s = system.source(batch.ids, batch.mask)
        p_source = e_s.softmax(-1) * batch.mask.unsqueeze(-1)
        loss, logs = m.target_loss(system, batch, p_source, cfg)
        _, e = system.target(batch.ids, batch.mask)
        seq = system.target.nll(e * 0.75, batch.tags, batch.mask)
        kd = (0.25 * kd_cross_entropy(p_source, e, batch.mask)).sum(1).mean()
    assert "alpha_samp" not in logs and "domain_tgt" not in logs
    torch.testing.assert_close(loss, seq + kd)


def test_fgkf_target_loss_logs_the_alphas_means_over_real_tokens():
    m, system, cfg = _system("fgkf")
    system.eval()
    batch = _batch(2)
    with torch.no_grad():
        loss, logs = m.target_loss(system, batch, torch.full((4, max(LENGTHS), C), 1.0 / C), cfg)
        rel = m.relevance(system, batch)
    mask = batch.mask
    assert logs["alpha_samp"] == pytest.approx(rel["alpha_samp"].mean().item(), rel=1e-6)  # the logs are the
    assert logs["alpha_elem"] == pytest.approx(rel["alpha_elem"][mask].mean().item(), rel=1e-6)  # alphas' means
    assert logs["alpha_kd"] == pytest.approx(rel["alpha_kd"][mask].mean().item(), rel=1e-6)  # over real tokens
    assert logs["domain_tgt"] > 0 and torch.isfinite(loss)
    assert set(rel) >= {"w_elem", "alpha_elem", "alpha_kd", "alpha_samp"}
    assert rel["alpha_elem"].shape == batch.mask.shape and (rel["alpha_elem"][~batch.mask] == 0).all()


def test_fgkf_code_formulation_builds_separate_source_classifier():
    m, system, cfg = _system("fgkf", domain_clf="one_class_caps", elem_map="positional", sample_weight="exp")
    assert hasattr(system, "source_relevance") and system.source_relevance is not system.relevance
    system.train()
    batch = _batch(1)
    loss, logs = m.source_loss(system, batch, cfg)
    loss.backward()
    assert "domain_src" in logs
    # the code's source-side classifier only touches the source tagger, never the target relevance module
    assert system.relevance.B.grad is None
    assert system.source_relevance.mlp[0].weight.grad.abs().sum() > 0


def test_bfloat16_routing_is_close_to_float32_and_returns_float32():
    torch.manual_seed(0)
    h = torch.randn(4, 9, 12)  # [B, T, H]
    mask = torch.arange(9)[None, :] < torch.tensor([9, 5, 3, 7])[:, None]  # [B, T]
    a = CapsuleRouting(12, 5, 8, 3)
    b = CapsuleRouting(12, 5, 8, 3, dtype="bfloat16")
    b.load_state_dict(a.state_dict())
    va, vb = a(h, mask), b(h, mask)  # [B, N, D]
    assert vb.dtype == torch.float32 and not torch.equal(va, vb)
    assert ((va - vb).norm() / va.norm()).item() < 0.02
    with pytest.raises(ValueError, match="expected 'float32' or 'bfloat16'"):
        CapsuleRouting(12, 5, 8, 3, dtype="fp16")


def test_flush_denormals_sets_and_restores_the_thread_mode():
    from fgkf_core.denormals import flush_denormals, flushing

    tiny = torch.tensor([1e-39])  # a float32 denormal
    assert not flushing() and (tiny * 2).item() > 0  # torch's default keeps denormals
    with flush_denormals(True):
        assert flushing() and (tiny * 2).item() == 0.0  # read as zero
        with flush_denormals(False):
            assert not flushing()
        assert flushing()
    assert not flushing()


def test_flush_denormals_reaches_every_intra_op_thread():
    """torch.set_flush_denormal alone leaves the OpenMP workers started before it unflushed (half of a 2-thread
    elementwise op's denormals survived); the context sets and restores every thread."""
    from fgkf_core.denormals import _set_mode, flush_denormals, flushing_all_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert _set_mode(False) and not flushing_all_threads()  # the 2-thread pool, every thread unflushed
        torch.set_flush_denormal(True)
        partial = flushing_all_threads()
        torch.set_flush_denormal(False)
        assert not partial  # the worker thread kept its mode
        with flush_denormals(True):
            assert flushing_all_threads()
        assert not flushing_all_threads()
    finally:
        torch.set_num_threads(threads)
