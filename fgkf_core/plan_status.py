"""Where a study plan stands, read from the records and checkpoints (trains nothing): per tier the runs recorded,
started (how far, from each checkpoint's summary) and waiting, and the expected time left (`make study-status`,
the reproducibility page)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .hooks import summary_path
from .plan import _fmt_hours, _spent_seconds, estimate, load_plan, locate_here, measured_walls
from .runs import RunSpec, checkpoint_root, default_results_dir, read_record


def _progress_text(checkpoint: Path) -> str:
    """How far an interrupted or running run got, from its checkpoint summary."""
    saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(checkpoint.stat().st_mtime))
    try:
        st = json.loads(summary_path(checkpoint).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"checkpoint of {saved} (no summary: written by older code)"
    if st["phase"] == "start" and st["warm_step"]:
        where = f"warm-up step {st['warm_step']}"
    elif st["phase"] == "start" and st["pretrain_step"]:
        where = f"pre-training step {st['pretrain_step']}"
    else:  # target-only schedules never leave phase "start"
        where = f"{st['source_step']} source / {st['target_step']} target steps"
    best = "" if st["best_dev"] is None else f", best dev {st['best_dev']:.2f} at {st['best_step']}"
    return (f"{where}{best}, {st['segments']} segment(s), {st['wall_seconds'] / 3600:.1f} h so far "
            f"(checkpoint of {saved})")


@dataclass(frozen=True)
class TierProgress:
    """Where one tier of a plan stands: its runs recorded, started (a checkpoint here) and waiting."""

    name: str
    planned: int
    recorded: int
    recorded_seconds: float  # wall time summed over the tier's records
    started: tuple[tuple[RunSpec, Path], ...]  # each started run and its checkpoint
    waiting: int
    left_seconds: float  # expected wall time of the runs left, on one 1-thread worker (see `estimate`)
    unmeasured: int  # runs left with no record of their own task and method to estimate from
    absent: int = 0  # runs whose datasets are not under this machine's data root (neither recorded nor waiting)


def tier_progress(path: str | Path, results_dir: str | Path | None = None,
                  data_dir: str | Path | None = None) -> list[TierProgress]:
    """`TierProgress` of every tier of the plan at `path`, from the records and checkpoints; trains nothing."""
    plan = load_plan(path)
    results = Path(results_dir) if results_dir else default_results_dir()
    walls = measured_walls(results, plan.profile, "cpu")
    out = []
    for tier in plan.tiers:
        recorded, seconds, started, left, spent, absent = 0, 0.0, [], [], {}, []
        for spec in tier.specs:
            loc = locate_here(spec, plan.profile, data_dir, results, absent)
            if loc is None:
                continue
            if loc.record.exists():
                recorded += 1
                seconds += float(read_record(loc.record).get("wall_seconds") or 0.0)
                continue
            left.append(spec)
            if loc.checkpoint.exists():
                started.append((spec, loc.checkpoint))
                spent[spec.label] = _spent_seconds(loc.checkpoint)
        estimate_s, guessed = estimate(left, walls, 1, 1, spent)
        out.append(TierProgress(tier.name, len(tier.specs), recorded, seconds, tuple(started),
                                len(left) - len(started), estimate_s, guessed, len(absent)))
    return out


def plan_status(path: str | Path, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
                log: Callable[[str], None] = print) -> dict[str, int]:
    """Print, per tier, how many runs are recorded, started (a checkpoint exists) and waiting, and a line per
    started run from its checkpoint summary, then the checkpoint folder read (a queue started with another
    $FGKF_CHECKPOINTS shows as not started); trains nothing. Returns the three totals."""
    totals = {"recorded": 0, "started": 0, "waiting": 0}
    for tier in tier_progress(path, results_dir, data_dir):
        unmeasured = f", {tier.unmeasured} not yet measured" if tier.unmeasured else ""
        absent = f", {tier.absent} without their datasets here" if tier.absent else ""
        log(f"tier {tier.name}: {tier.recorded} recorded, {len(tier.started)} started, {tier.waiting} "
            f"waiting{absent} of {tier.planned}; ~{_fmt_hours(tier.left_seconds)} of one 1-thread CPU worker left"
            f"{unmeasured}")
        for spec, checkpoint in tier.started:
            log(f"    {spec.label}: {_progress_text(checkpoint)}")
        totals = {"recorded": totals["recorded"] + tier.recorded, "started": totals["started"] + len(tier.started),
                  "waiting": totals["waiting"] + tier.waiting}
    results = Path(results_dir) if results_dir else default_results_dir()
    log(f"(checkpoints read from {checkpoint_root(results)}; set FGKF_CHECKPOINTS to read another queue's)")
    if totals["started"]:  # checkpoints here: a machine that keeps them between sittings can start long runs too
        log("(started runs have checkpoints here; if this machine keeps them between sittings, `make study-full "
            "HOURS=H PERSISTENT=1` goes on with them, then starts runs in plan order, all paused at the deadline)")
    return totals
