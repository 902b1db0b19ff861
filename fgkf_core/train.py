"""Training schedules: target-only, source-only, Algorithm 1 ("alternate") and pretrain -> fine-tune.

The trainer knows nothing of specific methods: a method supplies the loss of each kind of step
and names its schedule. State is checkpointed after every episode/epoch so a killed run resumes.
"""
from __future__ import annotations

import copy
import math
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from .config import Config
from .data import Batch, EncodedSet, Encoder
from .methods.base import Method, System
from .metrics import bmes_words, evaluate
from .tasks import TaskData


@dataclass
class Prepared:
    """Encoded splits and metric arguments for one run."""

    encoder: Encoder
    source_train: EncodedSet
    target_train: EncodedSet
    target_dev: EncodedSet
    target_test: EncodedSet
    metric: str
    metric_kw: dict[str, Any]

    def score(self, tagger: torch.nn.Module, split: str, batch_size: int, device: torch.device) -> tuple[dict, list[list[str]]]:
        """Metrics of `tagger` on a target split, and its predicted tag sequences."""
        data: EncodedSet = getattr(self, split)
        pred = predict(tagger, data, batch_size, device)
        tags = self.encoder.tags.itos
        pred_tags = [[tags[i] for i in row] for row in pred]
        gold = [list(s.tags) for s in data.sentences]
        kw = dict(self.metric_kw)
        if self.metric == "word_f1":
            kw["chars"] = [list(s.tokens) for s in data.sentences]
        return evaluate(self.metric, gold, pred_tags, **kw), pred_tags


def prepare(data: TaskData, cfg: Config) -> Prepared:
    """Fit the vocabulary on the training data of both domains and encode every split.

    Training sentences are cut to the task's MAX_LEN (as the authors' code); dev and test are scored whole.
    """
    task = data.task
    encoder = Encoder.fit(
        data.source_train + data.target_train, data.tag_set, task.features, cfg.min_count, cfg.bigram_min_count
    )
    kw: dict[str, Any] = {}
    if task.metric == "accuracy":
        kw["labels"] = data.target_tags
    if task.metric == "word_f1":  # OOV = words absent from the training words of both domains used by the run
        kw["train_words"] = {w for s in data.source_train + data.target_train for w in bmes_to_words(s.tokens, s.tags)}
    return Prepared(
        encoder,
        EncodedSet(data.source_train, encoder, task.max_len),
        EncodedSet(data.target_train, encoder, task.max_len),
        EncodedSet(data.target_dev, encoder),
        EncodedSet(data.target_test, encoder),
        task.metric,
        kw,
    )


def bmes_to_words(chars: tuple[str, ...], tags: tuple[str, ...]) -> list[str]:
    """Words of a BMES-tagged sentence."""
    return ["".join(chars[a:b]) for a, b in bmes_words(list(tags))]


@torch.no_grad()
def predict(tagger: torch.nn.Module, data: EncodedSet, batch_size: int, device: torch.device) -> list[list[int]]:
    """Viterbi predictions for every sentence, in dataset order (batched, length-bucketed)."""
    was_training = tagger.training
    tagger.eval()
    out: list[list[int]] = [[] for _ in range(len(data))]
    for batch in data.batches(max(batch_size, 256)):
        batch = batch.to(device)
        tags = tagger.predict(batch.ids, batch.mask).cpu()  # [B, T]
        lengths = batch.mask.sum(1).cpu().tolist()
        for row, i in enumerate(batch.index.tolist()):
            out[i] = tags[row, : lengths[row]].tolist()
    tagger.train(was_training)
    return out


class Stream:
    """Endless seeded, shuffled epochs of batches over a dataset, with a resumable position."""

    def __init__(self, data: EncodedSet, batch_size: int, seed: int):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch, self.pos = 0, 0
        self._groups = self._epoch_groups(0)

    def _epoch_groups(self, epoch: int) -> list[list[int]]:
        return self.data.batch_rows(self.batch_size, random.Random(self.seed * 100_003 + epoch))

    @property
    def per_epoch(self) -> int:
        return len(self._groups)

    def next(self) -> Batch:
        if self.pos >= len(self._groups):
            self.epoch, self.pos = self.epoch + 1, 0
            self._groups = self._epoch_groups(self.epoch)
        rows = self._groups[self.pos]
        self.pos += 1
        return self.data.collate(rows)

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, state: dict) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self._groups = self._epoch_groups(self.epoch)


@dataclass
class FitResult:
    """What training produced; the system holds the best-dev weights afterwards."""

    best_dev: float
    best_step: int
    dev_curve: list[tuple[int, float]]
    alpha_trace: list[dict]
    stop_reason: str
    steps: dict[str, int]
    train_seconds: float
    dev_metrics: dict = field(default_factory=dict)


class Trainer:
    """Runs one method's schedule on prepared data, with dev selection, early stopping and checkpoints."""

    def __init__(
        self, method: Method, system: System, prep: Prepared, cfg: Config, seed: int, device: torch.device,
        progress: bool = True, checkpoint: Path | None = None,
    ):
        self.method, self.system, self.prep, self.cfg, self.seed = method, system, prep, cfg, seed
        self.device, self.progress, self.checkpoint = device, progress, checkpoint
        params = list(system.parameters())
        # one Adam state per kind of step, as the authors' separate optimisers; params without grad are skipped
        self.opts = {side: torch.optim.Adam(params, lr=cfg.lr) for side in ("source", "target")}
        self.source = Stream(prep.source_train, cfg.batch_size, seed)
        self.s: dict[str, Any] = {
            "phase": "start", "source_step": 0, "target_step": 0, "warm_step": 0, "episode": 0, "target_epoch": 0,
            "best_dev": -math.inf, "best_step": 0, "curve": [], "trace": [], "stop": "", "elapsed": 0.0,
            "teacher_best": -math.inf, "dev_metrics": {},
        }
        self.best_state: dict | None = None
        self.p_source: torch.Tensor | None = None  # [N_target_train, L, C] cached teacher output
        self._logs: dict[str, list[float]] = defaultdict(list)
        self._t0 = time.time()
        self._bar: tqdm | None = None

    # ------------------------------------------------------------------ plumbing
    def _step(self, side: str, loss: torch.Tensor) -> None:
        """Backward, clip to global norm cfg.clip, Adam step for one kind of step."""
        opt = self.opts[side]
        opt.zero_grad(set_to_none=True)
        l2 = self.method.l2_params(self.system, side)
        if self.cfg.l2:
            loss = loss + self.cfg.l2 * 0.5 * sum((p**2).sum() for p in l2)
        loss.backward()
        grads = [p for p in self.system.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(grads, self.cfg.clip)
        opt.step()
        if self._bar is not None:
            self._bar.update(1)

    def _elapsed(self) -> float:
        return self.s["elapsed"] + time.time() - self._t0

    def _out_of_time(self) -> bool:
        if self.cfg.max_minutes is not None and self._elapsed() > 60 * self.cfg.max_minutes:
            self.s["stop"] = self.s["stop"] or "time_budget"
            return True
        return False

    def _evaluate(self, step: int) -> None:
        """Score the evaluated tagger on target dev; keep the best weights (strict improvement)."""
        tagger = self.method.evaluated(self.system)
        metrics, _ = self.prep.score(tagger, "target_dev", self.cfg.batch_size, self.device)
        score = metrics["score"]
        self.s["curve"].append((step, score))
        if self._logs:
            self.s["trace"].append({"step": step, **{k: sum(v) / len(v) for k, v in self._logs.items()}})
            self._logs.clear()
        if score > self.s["best_dev"]:
            self.s.update(best_dev=score, best_step=step, dev_metrics=metrics)
            self.best_state = copy.deepcopy(self.system.state_dict())
        if self._bar is not None:
            self._bar.set_postfix(dev=f"{score:.2f}", best=f"{self.s['best_dev']:.2f}")

    def _evaluate_final_step(self) -> None:
        """Score the last target step too when the schedule ended between two evaluations."""
        if self.s["curve"] and self.s["curve"][-1][0] != self.s["target_step"]:
            self._evaluate(self.s["target_step"])

    def _patience_out(self, step: int) -> bool:
        if step - self.s["best_step"] >= self.cfg.patience:
            self.s["stop"] = "early_stop"
            return True
        return False

    def _source_step(self) -> None:
        batch = self.source.next().to(self.device)
        loss, _ = self.method.source_loss(self.system, batch, self.cfg)
        self._step("source", loss)
        self.s["source_step"] += 1

    def _target_step(self, batch: Batch) -> None:
        batch = batch.to(self.device)
        p_s = None
        if self.p_source is not None:
            p_s = self.p_source[batch.index, : batch.mask.shape[1]]  # [B, T, C]
        loss, logs = self.method.target_loss(self.system, batch, p_s, self.cfg)
        for k, v in logs.items():
            self._logs[k].append(v)
        self._step("target", loss)
        self.s["target_step"] += 1

    @torch.no_grad()
    def _refresh_teacher(self) -> None:
        """Cache p^S = softmax(source emissions) for every target training sentence (gradient block)."""
        data, tagger = self.prep.target_train, self.system.source
        was = tagger.training
        tagger.eval()
        L = max(len(x) for x in data.ids)
        n_tags = tagger.emit.out_features
        cache = torch.zeros(len(data), L, n_tags, device=self.device)  # [N, L, C]
        for batch in data.batches(256):
            batch = batch.to(self.device)
            _, e = tagger(batch.ids, batch.mask)  # [B, T, C]
            cache[batch.index, : e.shape[1]] = e.softmax(-1) * batch.mask.unsqueeze(-1)
        tagger.train(was)
        self.p_source = cache

    def _teacher_due(self) -> bool:
        """Paper: refresh p^S at every teach step; code: only when the source model improves on target dev."""
        if self.cfg.ps_refresh == "every_teach":
            return True
        metrics, _ = self.prep.score(self.system.source, "target_dev", self.cfg.batch_size, self.device)
        if metrics["score"] > self.s["teacher_best"]:
            self.s["teacher_best"] = metrics["score"]
            return True
        return False

    def _target_epoch(self, rng_offset: int) -> bool:
        """One shuffled pass over the target training data; True when training should stop."""
        rng = random.Random(self.seed * 7919 + rng_offset)
        for batch in self.prep.target_train.batches(self.cfg.batch_size, rng):
            self._target_step(batch)
            step = self.s["target_step"]
            if step % self.cfg.eval_every == 0:
                self._evaluate(step)
                if self._patience_out(step):
                    return True
            if self._out_of_time():
                return True
        return False

    def save(self) -> None:
        """Atomically checkpoint everything needed to resume."""
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(".tmp")
        state = dict(self.s, elapsed=self._elapsed())
        torch.save(
            {
                "system": self.system.state_dict(), "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "state": state, "best": self.best_state, "stream": self.source.state(), "rng": torch.get_rng_state(),
                "p_source": self.p_source, "logs": dict(self._logs),  # step logs not yet in the alpha trace
            },
            tmp,
        )
        os.replace(tmp, self.checkpoint)

    def load(self) -> bool:
        """Resume from the checkpoint if one exists; True when it did."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        ck = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        self.system.load_state_dict(ck["system"])
        for k, o in self.opts.items():
            o.load_state_dict(ck["opts"][k])
        self.s, self.best_state, self.p_source = ck["state"], ck["best"], ck["p_source"]
        self.source.load(ck["stream"])
        self._logs = defaultdict(list, {k: list(v) for k, v in ck.get("logs", {}).items()})
        torch.set_rng_state(ck["rng"])
        return True

    # ------------------------------------------------------------------ entry point
    def fit(self) -> FitResult:
        """Run (or resume) the method's schedule; leave the best-dev weights in the system."""
        torch.manual_seed(self.seed)
        self.system.to(self.device).train()
        self.load()
        self._t0 = time.time()
        schedule = SCHEDULES[self.method.schedule]
        total = schedule.planned_steps(self)
        with tqdm(total=total, disable=not self.progress, desc=self.method.name, leave=False, dynamic_ncols=True) as bar:
            self._bar = bar
            bar.update(min(total, self.s["source_step"] + self.s["target_step"] + self.s["warm_step"]))
            schedule.run(self)
            self._bar = None
        if self.best_state is None:  # no evaluation happened (tiny budget): score the final weights
            self._evaluate(self.s["target_step"] or self.s["source_step"])
        self.system.load_state_dict(self.best_state)
        self.save()
        return FitResult(
            self.s["best_dev"], self.s["best_step"], self.s["curve"], self.s["trace"], self.s["stop"] or "max_epochs",
            {k: self.s[k] for k in ("source_step", "target_step", "warm_step", "episode")}, self._elapsed(),
            self.s["dev_metrics"],
        )


@dataclass(frozen=True)
class Schedule:
    run: Callable[[Trainer], None]
    planned_steps: Callable[[Trainer], int]


def _run_target(tr: Trainer) -> None:
    n_epochs = tr.cfg.max_target_epochs
    while tr.s["target_epoch"] < n_epochs:
        stop = tr._target_epoch(tr.s["target_epoch"])
        tr.s["target_epoch"] += 1
        tr.save()
        if stop:
            return
    tr._evaluate_final_step()


def _planned_target(tr: Trainer) -> int:
    return tr.cfg.max_target_epochs * tr.prep.target_train.n_batches(tr.cfg.batch_size)


def _source_budget(tr: Trainer, epochs: float) -> int:
    return max(1, math.ceil(epochs * tr.source.per_epoch))


def _run_source(tr: Trainer) -> None:
    """Source-only: train on source, select on target dev every eval_every source steps."""
    budget = _source_budget(tr, tr.cfg.max_source_epochs)
    while tr.s["source_step"] < budget:
        tr._source_step()
        step = tr.s["source_step"]
        if step % tr.cfg.eval_every == 0:
            tr._evaluate(step)
            tr.save()
            if tr._patience_out(step) or tr._out_of_time():
                return
    tr._evaluate(tr.s["source_step"])


def _run_pretrain_finetune(tr: Trainer) -> None:
    """Train the source tagger on source data, copy its weights into the target tagger, fine-tune on target."""
    if tr.s["phase"] == "start":
        budget = _source_budget(tr, tr.cfg.pretrain_epochs)
        while tr.s["source_step"] < budget:
            _pretrain_step(tr)
        tr.method.after_pretrain(tr.system)  # default: copy the source tagger into the target tagger
        tr.s["phase"] = "finetune"
        tr.save()
    _run_target(tr)


def _pretrain_step(tr: Trainer) -> None:
    """One source pre-training step on `method.pretrain_loss` (counted in source_step and pretrain_step)."""
    batch = tr.source.next().to(tr.device)
    tr._step("source", tr.method.pretrain_loss(tr.system, batch, tr.cfg))
    tr.s["source_step"] += 1
    tr.s["pretrain_step"] = tr.s.get("pretrain_step", 0) + 1


def _run_pretrain_alternate(tr: Trainer) -> None:
    """cfg.pretrain_epochs of source pre-training steps, then Algorithm 1 (its source budget excludes them)."""
    budget = _source_budget(tr, tr.cfg.pretrain_epochs)
    while tr.s["phase"] == "start" and tr.s.get("pretrain_step", 0) < budget:
        _pretrain_step(tr)
    _run_alternate(tr)


def _run_alternate(tr: Trainer) -> None:
    """Algorithm 1: optional warm-up, then episodes of I source steps followed by one target pass."""
    cfg = tr.cfg
    if tr.s["phase"] == "start":
        if tr.method.warm_up and cfg.warm_up:
            budget = _source_budget(tr, cfg.warm_up_epochs)
            while tr.s["warm_step"] < budget:  # source CRF step, then target CRF step on the same source batch
                batch = tr.source.next().to(tr.device)
                loss, _ = tr.method.source_loss(tr.system, batch, cfg)
                tr._step("source", loss)
                tr._step("target", tr.method.warm_loss(tr.system, batch, cfg))
                tr.s["warm_step"] += 1
                tr.s["source_step"] += 1
        tr.s["phase"] = "main"
        tr.save()
    budget = _source_budget(tr, cfg.max_source_epochs) + tr.s["warm_step"] + tr.s.get("pretrain_step", 0)
    while tr.s["source_step"] < budget:
        for _ in range(cfg.teach_step):
            tr._source_step()
        if tr._out_of_time():
            return
        if tr.method.uses_teacher and cfg.gradient_block and tr._teacher_due():
            tr._refresh_teacher()
        stop = tr._target_epoch(10_000 + tr.s["episode"])
        tr.s["episode"] += 1
        tr.save()
        if stop:
            return
    tr._evaluate_final_step()


def _planned_alternate(tr: Trainer) -> int:
    cfg = tr.cfg
    warm = _source_budget(tr, cfg.warm_up_epochs) * 2 if tr.method.warm_up and cfg.warm_up else 0
    src = _source_budget(tr, cfg.max_source_epochs)
    episodes = math.ceil(src / cfg.teach_step)
    return warm + src + episodes * tr.prep.target_train.n_batches(cfg.batch_size)


SCHEDULES: dict[str, Schedule] = {
    "target": Schedule(_run_target, _planned_target),
    "source": Schedule(_run_source, lambda tr: _source_budget(tr, tr.cfg.max_source_epochs)),
    "pretrain_finetune": Schedule(
        _run_pretrain_finetune, lambda tr: _source_budget(tr, tr.cfg.pretrain_epochs) + _planned_target(tr)
    ),
    "alternate": Schedule(_run_alternate, _planned_alternate),
    "pretrain_alternate": Schedule(
        _run_pretrain_alternate, lambda tr: _source_budget(tr, tr.cfg.pretrain_epochs) + _planned_alternate(tr)
    ),
}
