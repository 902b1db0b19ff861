"""Trainer plugins (in the manner of flair's trainer plugins): checkpoints, progress bar or log, time budget.

The trainer calls every hook at the same points: `on_start` (after any resume), `on_step` (after each
optimiser step), `on_evaluate` (after each dev evaluation) and `on_boundary` (at the end of every
episode / epoch / pre-training phase, the only points where the state is consistent and resumable) and
`on_end` (when training stops or fails; the checkpoint hook's last, after the best weights are restored).
A hook never changes a number: it saves, shows or stops.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from tqdm import tqdm

from .data import atomic_write_text

if TYPE_CHECKING:
    from .train import Trainer


class RunPaused(Exception):
    """Training stopped at a checkpoint to be resumed later (a time budget ran out); no record is written."""


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (truncated or from other data); the message names the file."""


class Hook:
    """A trainer plugin; every method is a no-op by default."""

    def on_start(self, tr: "Trainer") -> None: ...

    def on_step(self, tr: "Trainer") -> None: ...

    def on_evaluate(self, tr: "Trainer", step: int, score: float) -> None: ...

    def on_boundary(self, tr: "Trainer") -> None: ...

    def on_end(self, tr: "Trainer") -> None: ...


def summary_path(checkpoint: Path) -> Path:
    """The small JSON beside a checkpoint that says how far its run got (read by `sweep --plan --status`)."""
    return Path(checkpoint).with_suffix(".summary.json")


def remove_checkpoint(checkpoint: Path) -> None:
    """Delete a checkpoint and its summary."""
    Path(checkpoint).unlink(missing_ok=True)
    summary_path(checkpoint).unlink(missing_ok=True)


class CheckpointHook(Hook):
    """Saves everything needed for an exact resume at every boundary, atomically (per-process temp file),
    and beside it a small JSON summary of the state (phase, steps, best dev point, patience, clocks)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def save(self, tr: "Trainer") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        snap = tr.snapshot()
        try:
            torch.save(snap, tmp)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        st = snap["state"]
        keys = ("phase", "source_step", "target_step", "warm_step", "pretrain_step", "episode", "best_dev",
                "best_step", "finished", "segments", "wall_seconds")
        summary = {k: st[k] for k in keys} | {"patience": tr.cfg.patience, "saved_at": time.time()}
        summary["best_dev"] = summary["best_dev"] if math.isfinite(summary["best_dev"]) else None  # -inf: none yet
        atomic_write_text(summary_path(self.path), json.dumps(summary))

    def load(self, tr: "Trainer") -> bool:
        """Restore the trainer from the checkpoint; False when there is none.

        A truncated file raises CheckpointError naming it; one whose tensor shapes do not fit this run
        (the data or config changed) is discarded with a message and training starts afresh.
        """
        if not self.path.exists():
            return False
        try:
            ck = torch.load(self.path, map_location=tr.device, weights_only=False)
        except Exception as err:  # noqa: BLE001 - torch raises several types for a damaged file
            raise CheckpointError(
                f"{self.path}: unreadable checkpoint ({type(err).__name__}: {err}); rerun with --force to discard it"
            ) from None
        fresh = copy.deepcopy(tr.snapshot())  # restore works part by part: a misfit found late must not leave a mix
        try:
            tr.restore(ck)
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            print(f"discarding checkpoint {self.path}: it does not fit this run ({str(err).splitlines()[0]})")
            tr.restore(fresh)
            remove_checkpoint(self.path)
            return False
        return True

    def on_boundary(self, tr: "Trainer") -> None:
        self.save(tr)

    def on_end(self, tr: "Trainer") -> None:
        self.save(tr)


class ProgressHook(Hook):
    """A tqdm bar over planned optimiser steps, with the latest and best dev score."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc = total, desc
        self.bar: tqdm | None = None

    def on_start(self, tr: "Trainer") -> None:
        self.bar = tqdm(total=self.total, desc=self.desc, leave=False, dynamic_ncols=True)
        self.bar.update(min(self.total, tr.state.optimiser_steps))

    def on_step(self, tr: "Trainer") -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_evaluate(self, tr: "Trainer", step: int, score: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(dev=f"{score:.2f}", best=f"{tr.state.best_dev:.2f}")

    def on_end(self, tr: "Trainer") -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _minutes(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


class LogHook(Hook):
    """Progress lines for background runs (queue logs, where a bar would garble): at most one per `every`
    seconds, at dev evaluations and at warm-up / pre-training checkpoints (with the time left of that phase at
    this segment's rate), plus one at the end.

    An evaluation line gives the best dev point, the patience left and an upper bound on the time left
    (patience left x this segment's seconds per evaluated step): the run ends by then unless dev improves.
    """

    def __init__(self, name: str, every: float = 300.0, log: Callable[[str], None] | None = None):
        if every < 0:
            raise ValueError(f"log interval must be >= 0 seconds, got {every}")
        self.name, self.every = name, every
        self.log = log or (lambda line: print(line, flush=True))
        self._last = -float("inf")
        self._first: tuple[float, int] | None = None  # (time, step) of this segment's first evaluation
        self._first_source: tuple[float, int] | None = None  # (time, source step) of this segment's first boundary

    def _emit(self, text: str, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last >= self.every:
            self._last = now
            self.log(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.name}: {text}")

    def on_start(self, tr: "Trainer") -> None:
        st = tr.state
        how = f"resumed (segment {st.segments})" if st.segments > 1 else "started"
        self._emit(f"{how} at phase {st.phase}, {st.source_step} source / {st.target_step} target steps", force=True)

    def on_evaluate(self, tr: "Trainer", step: int, score: float) -> None:
        st, now = tr.state, time.time()
        if self._first is None:
            self._first = (now, step)
        left = max(0, tr.cfg.patience - (step - st.best_step))
        bound = ""
        if step > self._first[1]:
            per_step = (now - self._first[0]) / (step - self._first[1])
            bound = f", ends within ~{_minutes(left * per_step)} unless dev improves"
        self._emit(f"step {step}: dev {score:.2f}, best {st.best_dev:.2f} at {st.best_step}; patience left {left}{bound}")

    def on_boundary(self, tr: "Trainer") -> None:
        st = tr.state
        if st.phase == "start" and (st.warm_step or st.pretrain_step):
            from .schedules import source_budget  # schedules import the trainer, which imports the hooks

            what, done, epochs = (("warm-up", st.warm_step, tr.cfg.warm_up_epochs) if st.warm_step
                                  else ("pre-training", st.pretrain_step, tr.cfg.pretrain_epochs))
            now, budget = time.time(), source_budget(tr, epochs)
            if self._first_source is None:
                self._first_source = (now, done)
            eta = ""
            if done > self._first_source[1]:  # this segment's seconds per source step x the steps left
                per_step = (now - self._first_source[0]) / (done - self._first_source[1])
                eta = f", ~{_minutes(max(0, budget - done) * per_step)} left"
            self._emit(f"{what} step {done} of {budget} ({st.source_step} source steps{eta})")

    def on_end(self, tr: "Trainer") -> None:
        st = tr.state
        if st.finished:
            self._emit(f"finished ({st.stop}): best dev {st.best_dev:.2f} at step {st.best_step}", force=True)
        else:
            self._emit(f"stopped before the end at {st.source_step} source / {st.target_step} target steps", force=True)


class TimeBudgetHook(Hook):
    """Checkpoint and stop (RunPaused) at the first boundary after `seconds` of this segment; never ends a run.

    Must come after the CheckpointHook in the hook list, so the boundary is saved before stopping.
    """

    def __init__(self, seconds: float):
        if seconds <= 0:
            raise ValueError(f"time budget must be positive seconds, got {seconds}")
        self.seconds = seconds
        self._t0 = time.time()

    def on_start(self, tr: "Trainer") -> None:
        self._t0 = time.time()

    def on_boundary(self, tr: "Trainer") -> None:
        if time.time() - self._t0 > self.seconds:
            raise RunPaused(f"time budget of {self.seconds:.0f} s used; resume to continue")
