"""Trainer and schedules on real data slices: learning, determinism, streams and checkpoint resume."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from fgkf_core.config import resolve
from fgkf_core.methods import BuildContext, get_method
from fgkf_core.tasks import load_task
from fgkf_core.hooks import CheckpointHook, RunPaused, TimeBudgetHook
from fgkf_core.train import Stream, Trainer, predict, prepare

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def pos_en(data_dir):
    return load_task("pos_en", data_dir)


@pytest.fixture(scope="module")
def ner_en(data_dir):
    return load_task("ner_en", data_dir)


def make(data, method: str, seed: int = 1, checkpoint=None, init_seed: int | None = None, **overrides):
    """(trainer, prepared data, cfg) for a smoke-sized run (a CheckpointHook when `checkpoint` is given)."""
    cfg, _ = resolve(data.task.name, "smoke", **overrides)
    small = data.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(small, cfg)
    m = get_method(method)
    torch.manual_seed(seed if init_seed is None else init_seed)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), data.task.features, data.task.max_len)
    system = m.build(cfg, ctx)
    hooks = [CheckpointHook(checkpoint)] if checkpoint is not None else []
    return Trainer(m, system, prep, cfg, seed, CPU, hooks=hooks), prep, cfg


def params(system) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in system.state_dict().items()}


def assert_same_params(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------- learning


def test_target_only_learns_pos_en(pos_en):
    tr, prep, cfg = make(pos_en, "target_only", max_target_epochs=8, eval_every=5)
    dev_tags = Counter(t for s in prep.target_dev.sentences for t in s.tags if t in prep.metric_kw["labels"])
    majority = 100.0 * dev_tags.most_common(1)[0][1] / sum(dev_tags.values())
    res = tr.fit()
    assert res.stop_reason == "max_epochs"
    n_batches = prep.target_train.n_batches(cfg.batch_size)
    assert res.steps["target_step"] == 8 * n_batches and res.steps["source_step"] == 0
    steps = [s for s, _ in res.dev_curve]
    assert steps == sorted(steps) and steps[-1] == res.steps["target_step"]
    assert all(s % 5 == 0 for s in steps[:-1])
    assert res.best_dev == max(score for _, score in res.dev_curve)
    assert res.best_dev > majority + 15, (res.best_dev, majority)
    assert res.dev_curve[-1][1] > res.dev_curve[0][1]  # it improves with training
    # the system holds the best-dev weights afterwards
    metrics, pred = prep.score(tr.system.target, "target_dev", cfg.batch_size, CPU)
    assert metrics["score"] == pytest.approx(res.best_dev)
    assert [len(p) for p in pred] == [len(s) for s in prep.target_dev.sentences]


def test_fgkf_smoke_ner_en_runs_with_cached_teacher(ner_en):
    tr, prep, cfg = make(ner_en, "fgkf")
    res = tr.fit()
    assert res.dev_curve and all(0 <= score <= 100 for _, score in res.dev_curve)
    per_epoch = tr.source.per_epoch
    warm = math.ceil(cfg.warm_up_epochs * per_epoch)
    assert res.steps["warm_step"] == warm
    assert res.steps["source_step"] >= warm + math.ceil(cfg.max_source_epochs * per_epoch)
    assert res.steps["episode"] == math.ceil(math.ceil(cfg.max_source_epochs * per_epoch) / cfg.teach_step)
    assert res.steps["target_step"] == res.steps["episode"] * prep.target_train.n_batches(cfg.batch_size)
    # teacher cache: one soft distribution per real target token, no graph attached
    p = tr.p_source
    assert p is not None and not p.requires_grad
    assert p.shape[:1] == (len(prep.target_train),) and p.shape[2] == len(prep.encoder.tags)
    lengths = torch.tensor([len(x) for x in prep.target_train.ids])
    sums = p.sum(-1)
    real = torch.arange(p.shape[1])[None, :] < lengths[:, None]
    torch.testing.assert_close(sums[real], torch.ones(int(real.sum())), atol=1e-5, rtol=0)
    assert (sums[~real] == 0).all()
    # alpha trace: logged means of the fusion weights between evaluations
    assert res.alpha_trace
    for row in res.alpha_trace:
        assert {"step", "seq", "kd", "alpha_samp", "alpha_elem", "alpha_kd"} <= row.keys()
        assert 0 <= row["alpha_samp"] <= 1 and 0 <= row["alpha_elem"] <= 1 and 0 <= row["alpha_kd"] <= 1


def test_source_only_and_pretrain_schedules(pos_en):
    tr, prep, cfg = make(pos_en, "source_only", max_source_epochs=0.5, eval_every=2)
    res = tr.fit()
    assert res.steps["target_step"] == 0
    assert res.steps["source_step"] == math.ceil(0.5 * tr.source.per_epoch)
    assert res.dev_curve[-1][0] == res.steps["source_step"]
    tr, prep, cfg = make(pos_en, "pretrained_model", pretrain_epochs=0.5, max_target_epochs=1)
    res = tr.fit()
    assert res.steps["source_step"] == math.ceil(0.5 * tr.source.per_epoch)
    assert res.steps["target_step"] == prep.target_train.n_batches(cfg.batch_size)


def test_time_budget_pauses_at_a_checkpoint_and_resumes_to_the_same_result(pos_en, tmp_path):
    ref, _, _ = make(pos_en, "target_only", max_target_epochs=3)
    expected = ref.fit()
    ck = tmp_path / "run.pt"
    tr, prep, cfg = make(pos_en, "target_only", checkpoint=ck, max_target_epochs=3)
    tr.hooks.append(TimeBudgetHook(1e-9))
    with pytest.raises(RunPaused):
        tr.fit()  # stops at the first boundary: one epoch done, saved, no result
    saved = torch.load(ck, weights_only=False)["state"]
    assert saved["target_epoch"] == 1 and saved["stop"] == ""
    again, _, _ = make(pos_en, "target_only", checkpoint=ck, max_target_epochs=3, init_seed=7)
    res = again.fit()
    assert res.dev_curve == expected.dev_curve and res.segments == 2
    assert res.stop_reason == "max_epochs"


def test_no_profile_stops_on_a_wall_clock():
    from dataclasses import fields

    from fgkf_core.config import PROFILES, Config

    names = {f.name for f in fields(Config)}
    assert not any("minute" in n or "second" in n or "time" in n for n in names)
    for profile in PROFILES.values():
        assert not any("minute" in k or "second" in k or "time" in k for k in profile)


def test_early_stopping_patience(pos_en):
    tr, _, _ = make(pos_en, "target_only", lr=0.0, eval_every=1, patience=3, max_target_epochs=50)
    res = tr.fit()  # lr=0: the dev score never improves after the first evaluation
    assert res.stop_reason == "early_stop"
    assert res.best_step == 1 and res.steps["target_step"] == 4


# ----------------------------------------------------------------------------- streams


def test_stream_state_roundtrip(pos_en):
    _, prep, cfg = make(pos_en, "target_only")
    data = prep.source_train
    a = Stream(data, 16, seed=3)
    n = a.per_epoch + 5  # cross an epoch boundary
    seen = [a.next().index.tolist() for _ in range(n)]
    first_epoch = [i for rows in seen[: a.per_epoch] for i in rows]
    assert sorted(first_epoch) == list(range(len(data)))  # one epoch visits every row once
    state = a.state()
    assert state == {"epoch": 1, "pos": 5}
    expected = [a.next() for _ in range(3)]
    b = Stream(data, 16, seed=3)
    b.load(state)
    for e in expected:
        got = b.next()
        assert torch.equal(got.index, e.index) and torch.equal(got.ids, e.ids) and torch.equal(got.mask, e.mask)
    c = Stream(data, 16, seed=4)
    assert [c.next().index.tolist() for _ in range(3)] != seen[:3]  # the seed matters
    a2 = Stream(data, 16, seed=3)
    assert [a2.next().index.tolist() for _ in range(3)] == seen[:3]  # ... and is reproducible


class _OnDevice:
    """Stands for an RNG state that torch.load(map_location=cuda) moved to the GPU: only `.cpu()` gives it back."""

    def __init__(self, state: torch.Tensor):
        self.state = state

    def cpu(self) -> torch.Tensor:
        return self.state


def test_restore_takes_rng_states_moved_to_a_gpu(pos_en):
    """A checkpoint loaded onto CUDA holds its RNG states there; restore brings them back to the CPU first
    (torch.set_rng_state refuses anything but a CPU byte tensor), so the draws after a resume are the same."""
    tr, _, _ = make(pos_en, "target_only")
    ck = tr.snapshot()
    expected = torch.rand(3)  # [3] the draws that follow the snapshot
    ck["rng"]["torch"] = _OnDevice(ck["rng"]["torch"])
    tr.restore(ck)
    assert torch.equal(torch.rand(3), expected)


def test_a_checkpoint_that_misfits_late_leaves_the_run_fresh(pos_en, tmp_path, capsys):
    """restore loads part by part: a checkpoint whose weights fit but whose optimiser state does not is
    discarded, and the run starts from its own fresh state, not from the checkpoint's weights."""
    other, _, _ = make(pos_en, "target_only", init_seed=7)
    ck = other.snapshot()
    opt = next(iter(ck["opts"]))
    ck["opts"][opt]["param_groups"][0]["params"] = ck["opts"][opt]["param_groups"][0]["params"][:-1]  # one short
    torch.save(ck, tmp_path / "ck.pt")
    tr, _, _ = make(pos_en, "target_only", checkpoint=tmp_path / "ck.pt")
    before = params(tr.system)
    draws = torch.get_rng_state()
    assert tr.hooks[0].load(tr) is False
    assert "discarding checkpoint" in capsys.readouterr().out and not (tmp_path / "ck.pt").exists()
    assert_same_params(params(tr.system), before)
    assert torch.equal(torch.get_rng_state(), draws)


def test_trainer_stop_rule_with_patience_at_least_the_longest_wait_keeps_the_best(pos_en, monkeypatch):
    """The trainer's own evaluate / patience_out on a scripted dev curve: a patience of the curve's longest wait
    reaches the same best step as no early stop; one evaluation less stops before it (the patience page's rule)."""
    from test_patience import PATIENCE_CURVE

    def replay(patience: int) -> tuple[int, str]:
        tr, prep, _ = make(pos_en, "target_only", patience=patience)
        scores = dict(PATIENCE_CURVE)
        monkeypatch.setattr(prep, "score", lambda tagger, split, bs, dev: ({"score": scores[step]}, None))
        for step, _ in PATIENCE_CURVE:
            tr.evaluate(step)
            if tr.patience_out(step):
                break
        return tr.state.best_step, tr.state.stop

    assert replay(165) == (225, "early_stop")
    assert replay(10_000)[0] == 225
    assert replay(150) == (60, "early_stop")


def test_predict_keeps_dataset_order(pos_en):
    """Batched, length-bucketed prediction gives each sentence the tags it gets alone, in dataset order."""
    tr, prep, cfg = make(pos_en, "target_only")
    dev = prep.target_dev
    out = predict(tr.system.target, dev, 7, CPU)
    assert tr.system.target.training  # predict restores the training flag
    tr.system.target.eval()
    with torch.no_grad():
        alone = [tr.system.target.predict(b.ids, b.mask)[0].tolist() for b in (dev.collate([i]) for i in range(len(dev)))]
    assert out == alone and len({len(p) for p in out}) > 1  # lengths differ, so the buckets reorder


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_runs(pos_en):
    runs = []
    for _ in range(2):
        tr, _, _ = make(pos_en, "fgkf", seed=5)
        res = tr.fit()
        runs.append((res, params(tr.system)))
    (a, pa), (b, pb) = runs
    assert a.dev_curve == b.dev_curve and len(a.dev_curve) >= 3
    assert a.alpha_trace == b.alpha_trace
    assert a.steps == b.steps
    assert_same_params(pa, pb)
    tr, _, _ = make(pos_en, "fgkf", seed=6)
    c = tr.fit()
    assert c.dev_curve != a.dev_curve or c.alpha_trace != a.alpha_trace


# ----------------------------------------------------------------------------- checkpoints


class Interrupt(Exception):
    pass


def _interrupt_when(monkeypatch, key: str, value: int):
    """Make Trainer.target_epoch raise once state.<key> reaches value (i.e. just after a checkpoint)."""
    original = Trainer.target_epoch

    def patched(self, rng_offset):
        if getattr(self.state, key) >= value:
            raise Interrupt(f"{key}={getattr(self.state, key)}")
        return original(self, rng_offset)

    monkeypatch.setattr(Trainer, "target_epoch", patched)


@pytest.mark.parametrize(
    "method, key, overrides",
    [
        ("target_only", "target_epoch", {"max_target_epochs": 4, "eval_every": 5}),
        # eval_every=3 does not divide the 4 target batches of an episode: step logs span the checkpoint
        ("fgkf", "episode", {"eval_every": 3}),
    ],
)
def test_checkpoint_resume_continues_where_it_stopped(pos_en, tmp_path, monkeypatch, method, key, overrides):
    # the uninterrupted reference run
    ref_tr, _, _ = make(pos_en, method, checkpoint=tmp_path / "ref.pt", **overrides)
    ref = ref_tr.fit()
    ref_params = params(ref_tr.system)
    assert (tmp_path / "ref.pt").exists() and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))

    # the same run, killed after two epochs/episodes
    ck = tmp_path / "run.pt"
    tr, prep, cfg = make(pos_en, method, checkpoint=ck, **overrides)
    _interrupt_when(monkeypatch, key, 2)
    with pytest.raises(Interrupt):
        tr.fit()
    monkeypatch.undo()
    assert ck.exists()
    saved = torch.load(ck, weights_only=False)["state"]
    assert saved[key] == 2
    n_batches = prep.target_train.n_batches(cfg.batch_size)
    assert saved["target_step"] == 2 * n_batches
    partial_curve = list(saved["curve"])
    assert partial_curve and partial_curve == ref.dev_curve[: len(partial_curve)]

    # a fresh trainer with differently initialised weights picks the run up from the checkpoint
    resumed_tr, _, _ = make(pos_en, method, checkpoint=ck, init_seed=99, **overrides)
    calls = []
    original = Trainer.target_step
    monkeypatch.setattr(Trainer, "target_step", lambda self, b: (calls.append(1), original(self, b))[1])
    res = resumed_tr.fit()
    monkeypatch.undo()
    assert len(calls) == ref.steps["target_step"] - 2 * n_batches  # only the remaining steps ran
    assert res.steps == ref.steps
    assert res.dev_curve == ref.dev_curve  # the resumed run equals the uninterrupted one
    assert res.best_dev == ref.best_dev and res.best_step == ref.best_step
    assert_same_params(params(resumed_tr.system), ref_params)
    assert res.alpha_trace == ref.alpha_trace


def test_finished_checkpoint_is_not_retrained(pos_en, tmp_path, monkeypatch):
    ck = tmp_path / "done.pt"
    tr, _, _ = make(pos_en, "target_only", checkpoint=ck, max_target_epochs=2)
    first = tr.fit()
    again, _, _ = make(pos_en, "target_only", checkpoint=ck, max_target_epochs=2)
    monkeypatch.setattr(Trainer, "target_step", lambda self, b: pytest.fail("a finished run trained again"))
    second = again.fit()
    assert second.dev_curve == first.dev_curve and second.best_dev == first.best_dev
