"""Training schedules: target-only, source-only, Algorithm 1 ("alternate") and the pre-training variants.

Each schedule drives a `Trainer` through its public step API and calls `tr.boundary()` wherever the
state is consistent (end of an episode, epoch or phase), which is where checkpoints are taken.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .train import Trainer


@dataclass(frozen=True)
class Schedule:
    """How a schedule trains, and how many optimiser steps it plans (for the progress bar)."""

    run: Callable[[Trainer], None]
    planned_steps: Callable[[Trainer], int]


def _run_target(tr: Trainer) -> None:
    """Target-only epochs with dev selection and early stopping."""
    while tr.state.target_epoch < tr.cfg.max_target_epochs:
        stop = tr.target_epoch(tr.state.target_epoch)
        tr.state.target_epoch += 1
        tr.boundary()
        if stop:
            return
    tr.evaluate_final_step()


def _planned_target(tr: Trainer) -> int:
    return tr.cfg.max_target_epochs * tr.prep.target_train.n_batches(tr.cfg.batch_size)


def source_budget(tr: Trainer, epochs: float) -> int:
    """Source steps in `epochs` passes over the source training data (at least one)."""
    return max(1, math.ceil(epochs * tr.source.per_epoch))


def _run_source(tr: Trainer) -> None:
    """Source-only: train on source, select on target dev every eval_every source steps."""
    budget = source_budget(tr, tr.cfg.max_source_epochs)
    while tr.state.source_step < budget:
        tr.source_step()
        step = tr.state.source_step
        if step % tr.cfg.eval_every == 0:
            tr.evaluate(step)
            if tr.patience_out(step):
                return
            tr.boundary()
    tr.evaluate(tr.state.source_step)


def _pretrain_step(tr: Trainer) -> None:
    """One source pre-training step on `method.pretrain_loss` (counted in source_step and pretrain_step)."""
    batch = tr.source.next().to(tr.device)
    tr.optimise("source", tr.method.pretrain_loss(tr.system, batch, tr.cfg))
    tr.state.source_step += 1
    tr.state.pretrain_step += 1


def _pretrain(tr: Trainer) -> None:
    """cfg.pretrain_epochs of source pre-training steps (resumable mid-phase at every eval_every steps)."""
    budget = source_budget(tr, tr.cfg.pretrain_epochs)
    while tr.state.phase == "start" and tr.state.pretrain_step < budget:
        _pretrain_step(tr)
        if tr.state.pretrain_step % tr.cfg.eval_every == 0:
            tr.boundary()


def _run_pretrain_finetune(tr: Trainer) -> None:
    """Train the source tagger on source data, hand it over (`method.after_pretrain`), fine-tune on target."""
    if tr.state.phase == "start":
        _pretrain(tr)
        tr.method.after_pretrain(tr.system)  # default: copy the source tagger into the target tagger
        tr.state.phase = "finetune"
        tr.boundary()
    _run_target(tr)


def _run_pretrain_alternate(tr: Trainer) -> None:
    """cfg.pretrain_epochs of source pre-training steps, then Algorithm 1 (its source budget excludes them)."""
    _pretrain(tr)
    _run_alternate(tr)


def _warm_up(tr: Trainer) -> None:
    """Algorithm 1's optional warm-up: per source batch a source CRF step, then a target CRF step on it."""
    budget = source_budget(tr, tr.cfg.warm_up_epochs)
    while tr.state.warm_step < budget:
        batch = tr.source.next().to(tr.device)
        loss, _ = tr.method.source_loss(tr.system, batch, tr.cfg)
        tr.optimise("source", loss)
        tr.optimise("target", tr.method.warm_loss(tr.system, batch, tr.cfg))
        tr.state.warm_step += 1
        tr.state.source_step += 1
        if tr.state.warm_step % tr.cfg.teach_step == 0:
            tr.boundary()


def _run_alternate(tr: Trainer) -> None:
    """Algorithm 1: optional warm-up, then episodes of I source steps followed by one target pass."""
    cfg, st = tr.cfg, tr.state
    if st.phase == "start":
        if tr.method.warm_up and cfg.warm_up:
            _warm_up(tr)
        st.phase = "main"
        tr.boundary()
    budget = source_budget(tr, cfg.max_source_epochs) + st.warm_step + st.pretrain_step
    while st.source_step < budget:
        for _ in range(cfg.teach_step):  # Algorithm 1, lines 6-10
            tr.source_step()
        if tr.method.uses_teacher and cfg.gradient_block and tr.teacher_due():
            tr.refresh_teacher()  # Algorithm 1, line 11
        stop = tr.target_epoch(10_000 + st.episode)  # Algorithm 1, lines 12-19
        st.episode += 1
        tr.boundary()
        if stop:  # Algorithm 1, line 20 (early stopping stands in for "until converge")
            return
    tr.evaluate_final_step()


def _planned_alternate(tr: Trainer) -> int:
    cfg = tr.cfg
    warm = source_budget(tr, cfg.warm_up_epochs) * 2 if tr.method.warm_up and cfg.warm_up else 0
    src = source_budget(tr, cfg.max_source_epochs)
    episodes = math.ceil(src / cfg.teach_step)
    return warm + src + episodes * tr.prep.target_train.n_batches(cfg.batch_size)


SCHEDULES: dict[str, Schedule] = {
    "target": Schedule(_run_target, _planned_target),
    "source": Schedule(_run_source, lambda tr: source_budget(tr, tr.cfg.max_source_epochs)),
    "pretrain_finetune": Schedule(
        _run_pretrain_finetune, lambda tr: source_budget(tr, tr.cfg.pretrain_epochs) + _planned_target(tr)
    ),
    "alternate": Schedule(_run_alternate, _planned_alternate),
    "pretrain_alternate": Schedule(
        _run_pretrain_alternate, lambda tr: source_budget(tr, tr.cfg.pretrain_epochs) + _planned_alternate(tr)
    ),
}
