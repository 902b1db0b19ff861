"""Table 3 baselines: every new method runs end to end (smoke profile, real pos_en slices), and each one's
defining behaviour: gradient reversal, orthogonality, domain masking, distinct projections, NAL's
adaptation layers and freezing, and the source-pre-trained embedding hand-over."""
from __future__ import annotations

import math

import pytest
import torch

import fgkf_core
from fgkf_core.config import resolve
from fgkf_core.methods import BuildContext, get_method
from fgkf_core.methods.amcl import orthogonality
from fgkf_core.methods.base import Method
from fgkf_core.methods.peng_dredze import mask_regions
from fgkf_core.methods.pretrained_embedding import PretrainedEmbedding
from fgkf_core.tasks import load_task
from fgkf_core.train import Trainer, prepare

CPU = torch.device("cpu")
NEW_METHODS = ["pretrained_embedding", "fgkf_pe", "linear_projection", "domain_mask", "nal", "amcl"]
#: the smoke profile on smaller slices (2 shared CPU cores)
TINY = dict(source_limit=192, target_limit=96, eval_limit=50, teach_step=2, max_target_epochs=3)


@pytest.fixture(scope="module")
def pos_en(data_dir):
    return load_task("pos_en", data_dir)


def make(data, method: str | Method, seed: int = 1, **overrides):
    """(trainer, prepared data, cfg) for a TINY smoke run of `method` (a name or a Method instance)."""
    cfg, _ = resolve(data.task.name, "smoke", **(TINY | overrides))
    prep = prepare(data.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit), cfg)
    m = get_method(method) if isinstance(method, str) else method
    torch.manual_seed(seed)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), data.task.features, data.task.max_len)
    return Trainer(m, m.build(cfg, ctx), prep, cfg, seed, CPU), prep, cfg


def first_batch(prep, split: str = "target_train"):
    return next(iter(getattr(prep, split).batches(16)))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("method", NEW_METHODS)
def test_method_runs_smoke(method, data_dir, tmp_path):
    rec = fgkf_core.run(
        "pos_en", method, profile="smoke", results_dir=tmp_path, progress=False, data_dir=data_dir
    )
    assert rec["method"] == method and rec["profile"] == "smoke"
    cfg = rec["config"]
    assert cfg["emb_dim"] == 32 and cfg["hidden"] == 32  # sizes come from the (smoke) config
    assert 0.0 <= rec["test"]["score"] <= 100.0 and math.isfinite(rec["best_dev"])
    assert rec["stop_reason"] == "max_epochs"
    steps = rec["steps"]
    assert steps["source_step"] > 0 and steps["target_step"] > 0
    per_epoch = math.ceil(cfg["source_limit"] / cfg["batch_size"])  # source batches per epoch
    pretrain = math.ceil(cfg["pretrain_epochs"] * per_epoch)
    if get_method(method).schedule == "pretrain_finetune":
        assert steps["source_step"] == pretrain and steps["episode"] == 0
    if method == "fgkf_pe":  # pre-training steps come on top of warm-up + Algorithm 1's own source budget
        warm = math.ceil(cfg["warm_up_epochs"] * per_epoch)
        assert steps["warm_step"] == warm
        assert pretrain + warm + per_epoch <= steps["source_step"] < pretrain + warm + per_epoch + cfg["teach_step"]
    assert (tmp_path / "runs" / "pos_en" / method).is_dir()


# ----------------------------------------------------------------------------- amcl


def test_amcl_gradient_reversal_flips_encoder_gradient(pos_en):
    tr, prep, _ = make(pos_en, "amcl")
    system, method = tr.system, tr.method
    system.eval()  # no dropout: both passes see the same function
    batch = first_batch(prep)
    grads = {}
    for reverse in (True, False):
        method.reverse = reverse
        system.zero_grad(set_to_none=True)
        s, _ = system.target.parts(batch.ids, batch.mask)
        method.adversarial_loss(system, s, batch.mask, 1).backward()
        grads[reverse] = {
            "encoder": system.shared.lstm.weight_ih_l0.grad.clone(),
            "embedding": system.shared.embedding.table.weight.grad.clone(),
            "discriminator": system.discriminator.weight.grad.clone(),
        }
        assert system.target.private.lstm.weight_ih_l0.grad is None  # the discriminator reads shared states only
    assert grads[True]["encoder"].abs().sum() > 0
    torch.testing.assert_close(grads[True]["encoder"], -grads[False]["encoder"])
    torch.testing.assert_close(grads[True]["embedding"], -grads[False]["embedding"])
    torch.testing.assert_close(grads[True]["discriminator"], grads[False]["discriminator"])  # D itself not reversed


def test_amcl_orthogonality_decreases(pos_en):
    tr, prep, _ = make(pos_en, "amcl")
    system = tr.system
    system.eval()
    batch = first_batch(prep)
    opt = torch.optim.Adam(system.parameters(), lr=0.01)
    values = []
    for _ in range(8):
        s, p = system.target.parts(batch.ids, batch.mask)
        loss = orthogonality(s, p)
        values.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert values[0] > 0
    assert values[-1] < 0.5 * values[0] and values[1] < values[0]
    # the full AMCL loss carries the term: its log equals orthogonality() on the same states
    _, logs = tr.method.target_loss(system, batch, None, tr.cfg)
    s, p = system.target.parts(batch.ids, batch.mask)
    assert logs["ortho"] == pytest.approx(orthogonality(s, p).item(), rel=1e-5)


# ----------------------------------------------------------------------------- Peng & Dredze


def test_domain_mask_target_never_reads_source_private(pos_en):
    tr, prep, cfg = make(pos_en, "domain_mask")
    system = tr.system
    system.eval()
    batch = first_batch(prep)
    regions = mask_regions(cfg.hidden)
    assert regions["shared"].sum() == cfg.hidden
    assert regions["source"].sum() == regions["target"].sum() == cfg.hidden // 2
    assert not (regions["shared"] & regions["source"]).any() and not (regions["source"] & regions["target"]).any()
    for side, other in (("target", "source"), ("source", "target")):
        h = system.shared(batch.ids, batch.mask).detach().requires_grad_(True)  # [B, T, 2H]
        tagger = getattr(system, side)
        _, e = tagger(batch.ids, batch.mask, shared=h)
        tagger.nll(e, batch.tags, batch.mask).backward()
        g = h.grad[batch.mask]  # [K, 2H] real tokens
        assert torch.all(g[:, regions[other]] == 0), f"{side} loss reads {other}-private units"
        assert g[:, regions[side]].abs().sum() > 0 and g[:, regions["shared"]].abs().sum() > 0
    # end to end both losses go through the shared encoder
    for side in ("source", "target"):
        system.zero_grad(set_to_none=True)
        m = tr.method
        loss = m.source_loss(system, batch, cfg) if side == "source" else m.target_loss(system, batch, None, cfg)
        loss[0].backward()
        assert system.shared.lstm.weight_hh_l0.grad.abs().sum() > 0


def test_linear_projection_has_distinct_projections(pos_en):
    tr, prep, cfg = make(pos_en, "linear_projection")
    system = tr.system
    src, tgt = system.source.transform, system.target.transform
    assert isinstance(src, torch.nn.Linear) and isinstance(tgt, torch.nn.Linear) and src is not tgt
    assert src.weight.shape == tgt.weight.shape == (2 * cfg.hidden, 2 * cfg.hidden)
    assert not torch.equal(src.weight, tgt.weight)
    assert {id(p) for p in src.parameters()}.isdisjoint(id(p) for p in tgt.parameters())
    assert system.source.encoder is system.target.encoder is system.shared  # one shared BiLSTM
    system.eval()
    batch = first_batch(prep)
    system.zero_grad(set_to_none=True)
    tr.method.target_loss(system, batch, None, cfg)[0].backward()
    assert tgt.weight.grad.abs().sum() > 0 and src.weight.grad is None  # a target step never touches W_source
    assert system.shared.lstm.weight_ih_l0.grad.abs().sum() > 0
    system.zero_grad(set_to_none=True)
    tr.method.source_loss(system, batch, cfg)[0].backward()
    assert src.weight.grad.abs().sum() > 0 and tgt.weight.grad is None


# ----------------------------------------------------------------------------- nal


@pytest.mark.parametrize("freeze", [False, True])
def test_nal_adaptation_layers_and_freezing(pos_en, freeze):
    method = get_method("nal")
    assert method.freeze_source is False  # documented default: fine-tune the copied source layers
    method.freeze_source = freeze
    tr, prep, cfg = make(pos_en, method, max_target_epochs=1, eval_every=1000)
    tgt = tr.system.target
    adapt = tgt.adaptation_modules()
    assert set(adapt) == {"word_adapt", "sentence_adapt", "output_adapt"}
    assert isinstance(adapt["sentence_adapt"], torch.nn.LSTM) and adapt["sentence_adapt"].bidirectional
    assert torch.equal(adapt["word_adapt"].weight, torch.eye(cfg.emb_dim))  # identity start
    for name, module in tgt.pretrained_modules().items():
        assert all(p.requires_grad != freeze for p in module.parameters()), name
    assert all(p.requires_grad for m in adapt.values() for p in m.parameters())
    adapt0 = {k: snapshot(m) for k, m in adapt.items()}
    tr.fit()
    src = tr.system.source
    pairs = {"embedding": src.embedding, "lstm": src.lstm, "emit": src.emit}
    for name, module in tgt.pretrained_modules().items():  # copied from the pre-trained source tagger ...
        assert same(snapshot(module), snapshot(pairs[name])) == freeze, name  # ... and then left alone iff frozen
    for name in ("word_adapt", "sentence_adapt", "output_adapt"):
        assert not same(adapt0[name], snapshot(adapt[name])), f"{name} was not trained"
    assert not same(snapshot(tgt.crf), snapshot(src.crf))  # the CRF is re-trained on target


# ----------------------------------------------------------------------------- pretrained_embedding


class _Probe(PretrainedEmbedding):
    """PretrainedEmbedding that records the target tagger's weights at its first target step."""

    name = "pretrained_embedding_probe"  # not registered
    seen: dict | None = None

    def target_loss(self, system, batch, p_source, cfg):
        if self.seen is None:
            self.seen = {"emb": snapshot(system.target.embedding), "lstm": snapshot(system.target.lstm),
                         "src_emb": snapshot(system.source.embedding)}
        return super().target_loss(system, batch, p_source, cfg)


@pytest.mark.parametrize("shared", [True, False])
def test_pretrained_embedding_target_starts_from_pretrained_embedding(pos_en, shared):
    probe = _Probe()
    tr, _, _ = make(pos_en, probe, shared_embedding=shared, max_target_epochs=1, eval_every=1000)
    emb0, lstm0 = snapshot(tr.system.target.embedding), snapshot(tr.system.target.lstm)
    src_lstm0 = snapshot(tr.system.source.lstm)
    tr.fit()
    seen = probe.seen
    assert seen is not None and tr.state.pretrain_step > 0
    assert not same(seen["emb"], emb0)  # the embedding changed (source pre-training) before target training
    assert same(seen["emb"], seen["src_emb"])  # it is the source-trained embedding
    assert same(seen["lstm"], lstm0)  # ... but the target BiLSTM was not copied from the source tagger
    assert not same(snapshot(tr.system.source.lstm), src_lstm0)  # the source tagger did train
    assert not same(seen["lstm"], snapshot(tr.system.source.lstm))


def test_fgkf_pe_pretrains_with_plain_source_crf(pos_en):
    tr, prep, cfg = make(pos_en, "fgkf_pe")
    system, method = tr.system, tr.method
    assert method.schedule == "pretrain_alternate" and method.uses_teacher and method.warm_up
    system.eval()
    batch = first_batch(prep, "source_train")
    _, e = system.source(batch.ids, batch.mask)
    plain = system.source.nll(e, batch.tags, batch.mask)
    torch.testing.assert_close(method.pretrain_loss(system, batch, cfg), plain)  # no domain-classifier term
    full, logs = method.source_loss(system, batch, cfg)
    assert "domain_src" in logs and not torch.isclose(full, plain)
