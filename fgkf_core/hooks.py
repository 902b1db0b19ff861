"""Trainer plugins (in the manner of flair's trainer plugins): checkpoints, progress bar, time budget.

The trainer calls every hook at the same points: `on_start` (after any resume), `on_step` (after each
optimiser step), `on_evaluate` (after each dev evaluation) and `on_boundary` (at the end of every
episode / epoch / pre-training phase, the only points where the state is consistent and resumable).
A hook never changes a number: it saves, shows or stops.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

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


class CheckpointHook(Hook):
    """Saves everything needed for an exact resume at every boundary, atomically (per-process temp file)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def save(self, tr: "Trainer") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            torch.save(tr.snapshot(), tmp)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

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
        try:
            tr.restore(ck)
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            print(f"discarding checkpoint {self.path}: it does not fit this run ({str(err).splitlines()[0]})")
            self.path.unlink(missing_ok=True)
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
