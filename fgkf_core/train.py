"""The trainer: one method's schedule on prepared data, dev selection, early stopping and exact resume.

The trainer knows nothing of specific methods: a method supplies the loss of each kind of step and
names its schedule (`schedules.SCHEDULES`). Its whole mutable state is the `TrainState` dataclass plus
the weights, optimisers, data streams, RNGs and teacher cache, all of which `snapshot` captures, so a
run resumed from a checkpoint continues bitwise as if never stopped. Checkpoints, progress and time
budgets are hooks (`fgkf_core.hooks`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .config import Config
from .data import Batch, EncodedSet
from .hooks import CheckpointHook, Hook
from .identity import segment_host
from .methods.base import Method, System
from .prepare import Prepared, bmes_to_words, predict, prepare

__all__ = ["FitResult", "Prepared", "Stream", "TrainState", "Trainer", "bmes_to_words", "predict", "prepare"]


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

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self._groups = self._epoch_groups(self.epoch)


@dataclass
class TrainState:
    """Every counter and result the schedules advance; saved whole in each checkpoint."""

    phase: str = "start"  # "start" -> ("finetune" | "main")
    source_step: int = 0  # all source-side optimiser steps (warm-up and pre-training included)
    target_step: int = 0
    warm_step: int = 0
    pretrain_step: int = 0
    episode: int = 0  # Algorithm 1 target episodes done
    target_epoch: int = 0  # target-only epochs done
    best_dev: float = -math.inf
    best_step: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)
    trace: list[dict[str, float]] = field(default_factory=list)
    stop: str = ""  # why training ended ("early_stop", "max_epochs", ...); empty while it runs
    finished: bool = False  # the schedule ran to its end (the checkpoint then only awaits the record)
    teacher_best: float = -math.inf  # the code's p^S refresh rule: best source score on target dev
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0  # summed over segments
    wall_seconds: float = 0.0  # summed over finished segments (the current one is added on save)
    segments: int = 0  # processes that trained this run (1 = never resumed)
    segment_code: list[str] = field(default_factory=list)  # package hash of the code each segment ran
    segment_hosts: list[str] = field(default_factory=list)  # device and torch threads of each segment

    @property
    def optimiser_steps(self) -> int:
        return self.source_step + self.target_step + self.warm_step


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
    segments: int = 1
    wall_seconds: float = 0.0
    steps_after_best: int = 0  # evaluated steps trained past the best dev point (patience actually used)
    segment_code: list[str] = field(default_factory=list)
    segment_hosts: list[str] = field(default_factory=list)


class Trainer:
    """Runs one method's schedule; `hooks` save, show or stop it at well-defined points."""

    def __init__(
        self, method: Method, system: System, prep: Prepared, cfg: Config, seed: int, device: torch.device,
        hooks: Sequence[Hook] = (), wall_origin: float | None = None, code_id: str = "",
    ):
        self.method, self.system, self.prep, self.cfg, self.seed = method, system, prep, cfg, seed
        self.device, self.hooks, self.code_id = device, list(hooks), code_id
        params = list(system.parameters())
        # one Adam state per kind of step, as the authors' separate optimisers; params without grad are skipped
        self.opts = {side: torch.optim.Adam(params, lr=cfg.lr) for side in ("source", "target")}
        self.source = Stream(prep.source_train, cfg.batch_size, seed)
        self.state = TrainState()
        self.best_weights: dict | None = None
        self.p_source: torch.Tensor | None = None  # [N_target_train, L, C] cached teacher output
        self._logs: dict[str, list[float]] = defaultdict(list)
        self._t0 = time.time()  # start of this segment's training
        self._wall0 = wall_origin if wall_origin is not None else self._t0  # start of this segment's process work

    # ------------------------------------------------------------------ public step API
    def optimise(self, side: str, loss: torch.Tensor) -> None:
        """Backward, clip to global norm cfg.clip, Adam step for one kind of step ("source" | "target")."""
        opt = self.opts[side]
        opt.zero_grad(set_to_none=True)
        if self.cfg.l2:
            loss = loss + self.cfg.l2 * 0.5 * sum((p**2).sum() for p in self.method.l2_params(self.system, side))
        loss.backward()
        grads = [p for p in self.system.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(grads, self.cfg.clip)
        opt.step()
        for h in self.hooks:
            h.on_step(self)

    def source_step(self) -> None:
        """One source step (Algorithm 1, lines 6-10) on the next source batch."""
        batch = self.source.next().to(self.device)
        loss, _ = self.method.source_loss(self.system, batch, self.cfg)
        self.optimise("source", loss)
        self.state.source_step += 1

    def target_step(self, batch: Batch) -> None:
        """One target step (Algorithm 1, lines 13-18) on a target training batch."""
        batch = batch.to(self.device)
        p_s = None
        if self.p_source is not None:
            p_s = self.p_source[batch.index, : batch.mask.shape[1]]  # [B, T, C]
        loss, logs = self.method.target_loss(self.system, batch, p_s, self.cfg)
        for k, v in logs.items():
            self._logs[k].append(v)
        self.optimise("target", loss)
        self.state.target_step += 1

    def evaluate(self, step: int) -> None:
        """Score the evaluated tagger on target dev; keep the best weights (strict improvement)."""
        tagger = self.method.evaluated(self.system)
        metrics, _ = self.prep.score(tagger, "target_dev", self.cfg.batch_size, self.device)
        score = metrics["score"]
        st = self.state
        st.curve.append((step, score))
        if self._logs:
            st.trace.append({"step": step, **{k: sum(v) / len(v) for k, v in self._logs.items()}})
            self._logs.clear()
        if score > st.best_dev:
            st.best_dev, st.best_step, st.dev_metrics = score, step, metrics
            self.best_weights = copy.deepcopy(self.system.state_dict())
        for h in self.hooks:
            h.on_evaluate(self, step, score)

    def evaluate_final_step(self) -> None:
        """Score the last target step too when the schedule ended between two evaluations."""
        if self.state.curve and self.state.curve[-1][0] != self.state.target_step:
            self.evaluate(self.state.target_step)

    def patience_out(self, step: int) -> bool:
        """True (and stop reason set) once `cfg.patience` steps passed without a dev gain."""
        if step - self.state.best_step >= self.cfg.patience:
            self.state.stop = "early_stop"
            return True
        return False

    @torch.no_grad()
    def refresh_teacher(self) -> None:
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
            cache[batch.index, : e.shape[1]] = e.softmax(-1) * batch.mask.unsqueeze(-1)  # Eq. 4's p^S
        tagger.train(was)
        self.p_source = cache

    def teacher_due(self) -> bool:
        """Paper: refresh p^S at every teach step; code: only when the source model improves on target dev."""
        if self.cfg.ps_refresh == "every_teach":
            return True
        metrics, _ = self.prep.score(self.system.source, "target_dev", self.cfg.batch_size, self.device)
        if metrics["score"] > self.state.teacher_best:
            self.state.teacher_best = metrics["score"]
            return True
        return False

    def target_epoch(self, rng_offset: int) -> bool:
        """One shuffled pass over the target training data; True when training should stop."""
        rng = random.Random(self.seed * 7919 + rng_offset)
        for batch in self.prep.target_train.batches(self.cfg.batch_size, rng):
            self.target_step(batch)
            step = self.state.target_step
            if step % self.cfg.eval_every == 0:
                self.evaluate(step)
                if self.patience_out(step):
                    return True
        return False

    def boundary(self) -> None:
        """A consistent, resumable point (end of an episode / epoch / phase): hooks checkpoint or stop here."""
        for h in self.hooks:
            h.on_boundary(self)

    # ------------------------------------------------------------------ exact resume
    def snapshot(self) -> dict[str, Any]:
        """Everything an exact resume needs: weights, optimisers, state, streams, every RNG, teacher cache."""
        now = time.time()
        state = dataclasses.replace(
            self.state, train_seconds=self.state.train_seconds + now - self._t0,
            wall_seconds=self.state.wall_seconds + now - self._wall0,
        )
        return {
            "system": self.system.state_dict(), "opts": {k: o.state_dict() for k, o in self.opts.items()},
            "state": dataclasses.asdict(state), "best": self.best_weights, "stream": self.source.state(),
            "rng": {
                "torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "p_source": self.p_source, "logs": dict(self._logs),  # step logs not yet in the alpha trace
        }

    def restore(self, ck: dict[str, Any]) -> None:
        """Inverse of `snapshot` (the segment clocks restart now)."""
        self.system.load_state_dict(ck["system"])
        for k, o in self.opts.items():
            o.load_state_dict(ck["opts"][k])
        state = dict(ck["state"])
        state["curve"] = [tuple(p) for p in state["curve"]]
        if state["stop"].startswith("done:"):  # checkpoints written before `finished` existed
            state["stop"], state["finished"] = state["stop"].removeprefix("done:"), True
        self.state = TrainState(**state)
        self.best_weights, self.p_source = ck["best"], ck["p_source"]
        self.source.load(ck["stream"])
        self._logs = defaultdict(list, {k: list(v) for k, v in ck["logs"].items()})
        rng = ck["rng"]
        # RNG states are CPU byte tensors; a checkpoint loaded with map_location=cuda has moved them to the GPU
        torch.set_rng_state(rng["torch"].cpu())
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self._t0 = self._wall0 = time.time()

    # ------------------------------------------------------------------ entry point
    def fit(self) -> FitResult:
        """Run (or resume) the method's schedule; leave the best-dev weights in the system."""
        from .schedules import SCHEDULES

        torch.manual_seed(self.seed)
        self.system.to(self.device).train()
        for h in self.hooks:
            if isinstance(h, CheckpointHook):
                h.load(self)
        schedule = SCHEDULES[self.method.schedule]
        finished = self.state.finished
        if not finished:
            self.state.segments += 1
            self.state.segment_code.append(self.code_id)
            host = segment_host(self.device)
            if self.state.segment_hosts and self.state.segment_hosts[-1] != host:
                print(f"resuming on {host} a run last trained on {self.state.segment_hosts[-1]}: its numbers will not "
                      "be bitwise those of an uninterrupted run (the record lists every segment's host)",
                      file=sys.stderr, flush=True)
            self.state.segment_hosts.append(host)
        for h in self.hooks:
            h.on_start(self)
        try:
            if not finished:
                if not self.state.stop:  # a stop decided just before the last checkpoint stands on resume
                    schedule.run(self)
                if self.best_weights is None:  # no evaluation happened (tiny budget): score the final weights
                    self.evaluate(self.state.target_step or self.state.source_step)
                self.state.stop = self.state.stop or "max_epochs"
                self.state.finished = True
        finally:
            for h in self.hooks:
                if not isinstance(h, CheckpointHook):
                    h.on_end(self)
        self.system.load_state_dict(self.best_weights)
        for h in self.hooks:
            if isinstance(h, CheckpointHook):
                h.on_end(self)
        return self.result()

    def result(self) -> FitResult:
        st = self.state
        now = time.time()
        last = st.curve[-1][0] if st.curve else 0
        return FitResult(
            st.best_dev, st.best_step, st.curve, st.trace, st.stop,
            {k: getattr(st, k) for k in ("source_step", "target_step", "warm_step", "episode")},
            st.train_seconds + now - self._t0, st.dev_metrics, st.segments, st.wall_seconds + now - self._wall0,
            last - st.best_step, list(st.segment_code), list(st.segment_hosts),
        )
