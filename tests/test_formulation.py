"""The `formulation='code'` sub-switches each change what they claim to, and the Table 7 ablation switches of
`fgkf` run in smoke and are recorded in the run config."""
from __future__ import annotations

import math

import pytest
import torch

import fgkf_core
from fgkf_core.config import CODE_LR, FORMULATIONS, resolve
from fgkf_core.fusion import Fusion
from fgkf_core.methods import BuildContext, get_method
from fgkf_core.relevance import Relevance
from fgkf_core.tasks import load_task
from fgkf_core.train import Trainer, prepare

CPU = torch.device("cpu")
CTX = BuildContext(vocab_size=50, n_tags=6, features="word", max_len=60)
#: smoke slices made smaller for Trainer-level checks
TINY = dict(source_limit=192, target_limit=96, eval_limit=50, teach_step=1, max_target_epochs=1)


@pytest.fixture(scope="module")
def pos_en(data_dir):
    return load_task("pos_en", data_dir)


def build(method: str = "fgkf", seed: int = 0, **overrides):
    cfg, _ = resolve("pos_en", "smoke", **overrides)
    torch.manual_seed(seed)
    return get_method(method).build(cfg, CTX), cfg


def fake_batch(B: int = 3, T: int = 7, seed: int = 0):
    from fgkf_core.data import Batch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T] + [max(1, T - 2 * i) for i in range(1, B)])
    mask = torch.arange(T)[None] < lengths[:, None]  # [B, T]
    ids = torch.randint(1, CTX.vocab_size, (B, T), generator=g) * mask
    tags = torch.randint(0, CTX.n_tags, (B, T), generator=g) * mask
    return Batch(ids, tags, mask, torch.arange(B))


def make_trainer(data, method: str, **overrides):
    cfg, _ = resolve(data.task.name, "smoke", **(TINY | overrides))
    prep = prepare(data.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit), cfg)
    m = get_method(method)
    torch.manual_seed(1)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), data.task.features, data.task.max_len)
    return Trainer(m, m.build(cfg, ctx), prep, cfg, 1, CPU), prep, cfg


def relevance(p_target: list[float], T: int = 5, seed: int = 0) -> tuple[Relevance, torch.Tensor]:
    """A Relevance whose domain classifier gives P(target) = p_target per sample, and a full mask."""
    B = len(p_target)
    p = torch.tensor(p_target)
    logits = torch.stack([torch.log1p(-p), torch.log(p)], -1)  # softmax -> [1 - p, p]
    w = torch.randn(B, T, generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(B, T, dtype=torch.bool)
    return Relevance(w, w.softmax(-1), logits), mask


# ----------------------------------------------------------------------------- resolve


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_resolve_code_formulation(profile):
    cfg, layers = resolve("pos_en", profile, formulation="code")
    assert cfg.lr == 0.001 and cfg.emb_dropout == 0.8
    for key, value in FORMULATIONS["code"].items():
        if key != "code_lr":
            assert getattr(cfg, key) == value, key
    assert layers["formulation"]["lr"] == 0.001 and "code_lr" not in layers["formulation"]
    assert resolve("ner_en", profile, formulation="code")[0].lr == CODE_LR["ner"] == 0.001
    assert resolve("cws_zx", profile, formulation="code")[0].lr == CODE_LR["cws"] == 0.01
    paper, _ = resolve("pos_en", profile)
    assert paper.lr == 0.01 and paper.emb_dropout == 0.2 and paper.hash() != cfg.hash()
    # an explicit override still beats the formulation
    assert resolve("pos_en", profile, formulation="code", lr=0.005)[0].lr == 0.005


# ----------------------------------------------------------------------------- sample_weight


def test_sample_weight_sigmoid_is_eq10_and_bounded():
    rel, mask = relevance([0.1, 0.5, 0.95])
    f = Fusion("samp", "sigmoid", tau=1.0, gamma=0.5)
    a = f(rel, mask)
    p_src = 1 - torch.tensor([0.1, 0.5, 0.95])
    torch.testing.assert_close(a.samp, torch.sigmoid(1.0 * p_src + 0.5))
    assert torch.all((a.samp > 0) & (a.samp < 1))
    torch.testing.assert_close(a.seq_weight, 1 - a.samp[:, None].expand_as(a.seq_weight))  # paper: on both terms
    torch.testing.assert_close(a.kd_weight, a.samp[:, None].expand_as(a.kd_weight))


def test_sample_weight_exp_can_exceed_one_and_weights_kd_only():
    p_t = [0.1, 0.5, 0.95]
    rel, mask = relevance(p_t)
    f = Fusion("samp", "exp", tau=1.0, gamma=0.5, kd_alpha=0.5)
    a = f(rel, mask)
    expected = torch.exp(1.0 * (0.5 - torch.tensor(p_t)))  # code: beta = exp(tau * (gamma - P_target))
    torch.testing.assert_close(a.samp, expected)
    assert a.samp[0] > 1.0 and a.samp[2] < 1.0
    torch.testing.assert_close(a.kd_weight, a.samp[:, None].expand_as(a.kd_weight))
    # the sequence side never sees it: constant (1 - kd_alpha) whatever the domain probabilities
    rel2, _ = relevance([0.9, 0.2, 0.01])
    a2 = f(rel2, mask)
    assert torch.all(a.seq_weight == 0.5) and torch.equal(a.seq_weight, a2.seq_weight)
    assert not torch.equal(a.kd_weight, a2.kd_weight)
    # with alpha_multi and the code's loss split, beta again reaches only the KD weight
    m = Fusion("multi", "exp", loss_split="elem_seq", tau=1.0, gamma=0.5)
    b, b2 = m(rel, mask), m(rel2, mask)
    torch.testing.assert_close(b.seq_weight, 1 - b.elem)
    torch.testing.assert_close(b.seq_weight, b2.seq_weight)
    torch.testing.assert_close(b.kd_weight, b.samp[:, None] * b.elem)


# ----------------------------------------------------------------------------- loss_split


def test_loss_split_elem_seq_uses_one_minus_alpha_elem():
    rel, mask = relevance([0.2, 0.7])
    both = Fusion("multi", "sigmoid", loss_split="multi_both")(rel, mask)
    code = Fusion("multi", "sigmoid", loss_split="elem_seq")(rel, mask)
    multi = both.samp[:, None] * both.elem  # Eq. 17
    torch.testing.assert_close(both.seq_weight, 1 - multi)  # paper: alpha_multi in both Eq. 15 and 16
    torch.testing.assert_close(code.seq_weight, 1 - code.elem)  # code: 1 - alpha_elem on the sequence loss
    torch.testing.assert_close(both.kd_weight, multi)
    torch.testing.assert_close(code.kd_weight, multi)
    assert not torch.allclose(both.seq_weight, code.seq_weight)


# ----------------------------------------------------------------------------- domain_clf


def test_domain_clf_one_class_caps():
    n_caps, cap_dim = 3, 10  # n*D != 2H, so the two classifier inputs are told apart
    paper, cfg = build(domain_clf="two_class_r", n_capsules=n_caps, capsule_dim=cap_dim)
    code, code_cfg = build(domain_clf="one_class_caps", n_capsules=n_caps, capsule_dim=cap_dim)
    assert paper.source_relevance is None  # the paper formulation has one classifier, on the target side
    assert paper.relevance.mlp[0].in_features == 2 * cfg.hidden  # r = sum_j w_j h_j
    assert code.source_relevance is not None and code.source_relevance is not code.relevance
    for module in (code.relevance, code.source_relevance):
        assert module.mlp[0].in_features == n_caps * cap_dim  # flattened capsules
    # who learns from a source step: the source tagger's own classifier (code) or the target one (paper)
    batch = fake_batch()
    method = get_method("fgkf")
    for system, c, own in ((code, code_cfg, "source_relevance"), (paper, cfg, "relevance")):
        system.eval()
        system.zero_grad(set_to_none=True)
        loss, logs = method.source_loss(system, batch, c)
        loss.backward()
        assert "domain_src" in logs
        assert getattr(system, own).mlp[0].weight.grad.abs().sum() > 0
    assert code.relevance.mlp[0].weight.grad is None  # the target classifier never sees a source batch (code)


# ----------------------------------------------------------------------------- elem_map


def test_elem_map_positional_is_max_len_square():
    system, cfg = build(elem_map="positional")
    f = system.fusion
    assert f.W_alpha.shape == (CTX.max_len, CTX.max_len) and f.b_alpha.shape == (CTX.max_len,)
    assert f.matrices() == [f.W_alpha]  # under the code's L2
    token, _ = build(elem_map="token")
    assert not hasattr(token.fusion, "W_alpha") and token.fusion.w_alpha.shape == ()
    assert token.fusion.matrices() == []
    # the positional map is dense over positions: alpha at 0 moves when only w_elem at position 3 changes
    rel, mask = relevance([0.3, 0.6], T=6)
    with torch.no_grad():
        f.W_alpha.normal_(0, 1)
    a0 = f.alpha_elem(rel, mask)
    w = rel.w_elem.clone()
    w[:, 3] += 5.0
    a1 = f.alpha_elem(Relevance(w, w.softmax(-1), rel.domain_logits), mask)
    assert not torch.allclose(a0[:, 0], a1[:, 0])
    with pytest.raises(ValueError, match="max_len"):
        f.alpha_elem(*relevance([0.5], T=CTX.max_len + 1))


# ----------------------------------------------------------------------------- embeddings, CRF


def test_emb_init_zeros_and_emb_dropout():
    zeros, _ = build(emb_init="zeros", emb_dropout=0.8)
    assert torch.all(zeros.target.embedding.table.weight == 0) and zeros.source.embedding is zeros.target.embedding
    assert zeros.target.dropout.p == 0.8 and zeros.source.dropout.p == 0.8
    rand, _ = build(emb_init="random")
    assert rand.target.embedding.table.weight.abs().sum() > 0 and rand.target.dropout.p == 0.2


def test_crf_start_end_switch():
    without, _ = build(crf_start_end=False)
    with_, _ = build(crf_start_end=True)
    for side in ("source", "target"):
        crf = getattr(without, side).crf
        names = {n for n, _ in crf.named_parameters()}
        assert names == {"transitions"}
        assert torch.all(crf.start_transitions == 0) and torch.all(crf.end_transitions == 0)
        names = {n for n, _ in getattr(with_, side).crf.named_parameters()}
        assert names == {"transitions", "start_transitions", "end_transitions"}


# ----------------------------------------------------------------------------- fusion_weights (Trainer)


@pytest.mark.parametrize("elem_map", ["token", "positional"])
def test_fusion_weights_fixed_keep_their_initial_values_and_trained_ones_fall(pos_en, elem_map):
    """Eq. 10's tau, gamma and Eq. 14's map: trained on L_T by default, where a few target steps already lower the
    KD weight alpha; `fusion_weights=fixed` leaves them at their initial values while the taggers still learn."""
    moved = {}
    for weights in ("trained", "fixed"):
        tr, prep, cfg = make_trainer(pos_en, "fgkf", fusion_weights=weights, elem_map=elem_map)
        fusion = tr.system.fusion
        before = {n: p.detach().clone() for n, p in fusion.named_parameters()}
        emit0 = tr.system.target.emit.weight.detach().clone()
        tr.refresh_teacher()
        for batch in list(prep.target_train.batches(cfg.batch_size))[:3]:
            tr.target_step(batch)
        moved[weights] = {n: not torch.equal(p, before[n]) for n, p in fusion.named_parameters()}
        assert not torch.equal(tr.system.target.emit.weight, emit0)  # the target tagger trains either way
        if weights == "fixed":
            assert fusion.tau.item() == cfg.tau and fusion.gamma.item() == cfg.gamma
        else:
            assert fusion.gamma.item() < cfg.gamma  # L_T pushes alpha_samp's bias down
    assert all(moved["trained"].values()) and not any(moved["fixed"].values()), moved
    with pytest.raises(ValueError, match="fusion_weights: expected one of 'trained', 'fixed', got 'frozen'"):
        resolve("pos_en", "smoke", fusion_weights="frozen")


# ----------------------------------------------------------------------------- l2, lr (Trainer)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_l2_and_lr_reach_the_optimiser(pos_en, l2):
    tr, prep, cfg = make_trainer(pos_en, "target_only", l2=l2, lr=0.001)
    assert all(o.param_groups[0]["lr"] == 0.001 for o in tr.opts.values())
    system = tr.system
    system.eval()
    batch = next(iter(prep.target_train.batches(16)))
    emit0, lstm0 = system.target.emit.weight.detach().clone(), system.target.lstm.weight_hh_l0.detach().clone()
    _, e = system.target(batch.ids, batch.mask)
    tr.optimise("target", 0.0 * e.sum())  # the task loss contributes nothing: only the L2 term can move weights
    emit1 = system.target.emit.weight.detach()
    assert torch.equal(system.target.lstm.weight_hh_l0, lstm0)  # not under L2
    if l2 == 0:
        assert torch.equal(emit1, emit0)
    else:
        assert emit1.abs().sum() < emit0.abs().sum()  # shrunk towards zero


# ----------------------------------------------------------------------------- ps_refresh (Trainer)


def _script_source_scores(tr, scores: list[float]):
    """Make prep.score return scripted target-dev scores for the source tagger (others scored for real)."""
    real, it, calls = tr.prep.score, iter(scores), []

    def score(tagger, split, batch_size, device):
        if tagger is tr.system.source:
            calls.append(split)
            return {"score": next(it)}, []
        return real(tagger, split, batch_size, device)

    tr.prep.score = score
    return calls


def test_ps_refresh_on_source_improve_teacher_due(pos_en):
    tr, _, _ = make_trainer(pos_en, "basic_kd", ps_refresh="on_source_improve")
    calls = _script_source_scores(tr, [50.0, 50.0, 60.0, 55.0, 61.0])
    assert [tr.teacher_due() for _ in range(5)] == [True, False, True, False, True]  # strict improvement only
    assert calls == ["target_dev"] * 5 and tr.state.teacher_best == 61.0
    every, _, _ = make_trainer(pos_en, "basic_kd", ps_refresh="every_teach")
    calls = _script_source_scores(every, [])
    assert all(every.teacher_due() for _ in range(3)) and calls == []  # never scores the source model


@pytest.mark.parametrize("mode,expected", [("on_source_improve", 2), ("every_teach", 3)])
def test_ps_refresh_counts_cache_refreshes_in_algorithm_1(pos_en, mode, expected):
    tr, prep, cfg = make_trainer(pos_en, "basic_kd", ps_refresh=mode)
    _script_source_scores(tr, [10.0, 10.0, 20.0])
    refreshed, real = [], tr.refresh_teacher

    def counting():
        real()
        refreshed.append(tr.p_source)

    tr.refresh_teacher = counting
    tr.fit()
    assert tr.state.episode == 3 == math.ceil(prep.source_train.n_batches(cfg.batch_size) / cfg.teach_step)
    assert len(refreshed) == expected
    assert tr.p_source is refreshed[-1]


# ----------------------------------------------------------------------------- formulation end to end


def test_code_formulation_smoke_run(data_dir, tmp_path):
    rec = fgkf_core.run("pos_en", "fgkf", profile="smoke", formulation="code", results_dir=tmp_path, progress=False,
                        data_dir=data_dir)
    c = rec["config"]
    assert rec["formulation"] == "code" and c["lr"] == 0.001 and c["emb_dropout"] == 0.8
    switches = (c["sample_weight"], c["loss_split"], c["domain_clf"], c["elem_map"])
    assert switches == ("exp", "elem_seq", "one_class_caps", "positional")
    assert c["emb_init"] == "zeros" and c["ps_refresh"] == "on_source_improve" and c["crf_start_end"] is False
    assert rec["config_layers"]["formulation"]["lr"] == 0.001
    assert 0.0 <= rec["test"]["score"] <= 100.0


# ----------------------------------------------------------------------------- Table 7 ablations


ABLATIONS = [
    ("shared_embedding", False),  # w/o shared embedding
    ("gradient_block", False),  # w/o gradient block
    ("alpha", "elem"),  # w/o alpha_samp
    ("alpha", "samp"),  # w/o alpha_elem
    ("alpha", "basic"),  # w/o alpha_multi (basicKD weighting)
    ("warm_up", False),  # w/o warm-up
]


@pytest.mark.parametrize("key,value", ABLATIONS)
def test_fgkf_ablation_runs_and_is_recorded(data_dir, tmp_path, key, value):
    rec = fgkf_core.run("pos_en", "fgkf", profile="smoke", results_dir=tmp_path, progress=False, data_dir=data_dir,
                        **{key: value})
    assert rec["config"][key] == value and rec["config_layers"]["overrides"][key] == value
    default, _ = resolve("pos_en", "smoke")
    assert getattr(default, key) != value and rec["config_hash"] != default.hash()
    assert f"smoke-{rec['run_key']}-s1" in str(list((tmp_path / "runs" / "pos_en" / "fgkf").glob("*.json"))[0])
    assert 0.0 <= rec["test"]["score"] <= 100.0 and rec["stop_reason"] == "max_epochs"
    trace = rec["alpha_trace"]
    assert trace and all(math.isfinite(v) for t in trace for v in t.values())
    if key == "warm_up":
        assert rec["steps"]["warm_step"] == 0
    else:
        assert rec["steps"]["warm_step"] > 0
    if value == "basic":  # constant kd_alpha, no relevance/domain terms in the target loss
        assert all("alpha_samp" not in t and "domain_tgt" not in t for t in trace)
    else:
        assert all("alpha_samp" in t for t in trace)
    if value == "elem":  # KD weight is alpha_elem itself
        assert all(t["alpha_kd"] == pytest.approx(t["alpha_elem"], rel=1e-5) for t in trace)


def test_ablation_switches_change_the_model():
    batch = fake_batch()
    sep, cfg = build(shared_embedding=False)
    assert sep.source.embedding is not sep.target.embedding
    shared, _ = build()
    assert shared.source.embedding is shared.target.embedding
    # gradient block: a cached (detached) p^S keeps the target loss away from the source model;
    # without it (p_source=None, as the trainer passes when gradient_block=False) KD reaches the source tagger
    method = get_method("fgkf")
    shared.eval()
    with torch.no_grad():
        _, e = shared.source(batch.ids, batch.mask)
        cached = e.softmax(-1) * batch.mask.unsqueeze(-1)
    for p_s, reaches in ((cached, False), (None, True)):
        shared.zero_grad(set_to_none=True)
        method.target_loss(shared, batch, p_s, cfg)[0].backward()
        g = shared.source.lstm.weight_ih_l0.grad
        assert (g is not None and g.abs().sum() > 0) == reaches
