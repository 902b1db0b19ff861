"""Early-stopping evidence: how much of its patience each run actually needed.

A run's *longest wait* is the most evaluated steps it went between two successive dev gains (from step 0,
the trainer's rule). A patience P >= that wait would have stopped the run at the same best point; a smaller
one would have stopped it before its best. The paper gives no patience; the authors' code waits 2,000
target steps, which is most of a full run's cost. These tables are the evidence for keeping or cutting it.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

#: the columns of `patience_table`, in order
RUN_COLUMNS = ["task", "method", "profile", "seed", "patience", "best step", "longest wait", "wait / patience",
               "steps after best", "stop"]
SUMMARY_COLUMNS = ["profile", "method", "patience", "runs", "longest wait / patience", "runs needing > 1/2",
                   "runs needing > 3/4"]


def longest_wait(curve: Sequence[Sequence[float]]) -> int:
    """Most steps between two successive strict dev improvements of `curve` [(step, score), ...], counted
    from step 0 as the trainer counts patience; 0 for an empty curve."""
    best, last, wait = float("-inf"), 0, 0
    for step, score in curve:
        if score > best:
            wait, best, last = max(wait, int(step) - last), score, int(step)
    return wait


def patience_rows(records: Iterable[dict]) -> pd.DataFrame:
    """One row per run with a dev curve: its patience, best step, longest wait and how far past its best it ran."""
    rows = []
    for rec in records:
        curve = rec.get("dev_curve") or []
        if not curve:
            continue
        patience = int(rec["config"]["patience"])
        wait = longest_wait(curve)
        rows.append({"task": rec["task"], "method": rec["method"], "profile": rec["profile"], "seed": rec["seed"],
                     "patience": patience, "best step": int(rec["best_step"]), "longest wait": wait,
                     "wait / patience": round(wait / patience, 2),
                     "steps after best": int(curve[-1][0]) - int(rec["best_step"]),
                     "stop": rec.get("stop_reason") or "?"})
    return pd.DataFrame(rows, columns=RUN_COLUMNS).sort_values(["profile", "task", "method", "seed"], ignore_index=True)


def patience_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per profile and method: how many runs would have stopped before their best point had the patience
    been cut to a half or to three quarters (their longest wait exceeds that share)."""
    if rows.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    ratio = rows["longest wait"] / rows["patience"]
    table = rows.assign(ratio=ratio, half=ratio > 0.5, three=ratio > 0.75).groupby(
        ["profile", "method", "patience"], sort=True).agg(
        runs=("seed", "size"), top=("ratio", "max"), half=("half", "sum"), three=("three", "sum")).reset_index()
    table["longest wait / patience"] = table.pop("top").round(2)
    table["runs needing > 1/2"] = [f"{h} of {n}" for h, n in zip(table.pop("half"), table["runs"])]
    table["runs needing > 3/4"] = [f"{t} of {n}" for t, n in zip(table.pop("three"), table["runs"])]
    return table[SUMMARY_COLUMNS]


def patience_conclusion(rows: pd.DataFrame, share: float = 0.5) -> str:
    """One sentence per profile: how many runs a patience cut to `share` would have stopped before their best."""
    if rows.empty:
        return "no run with a dev curve yet"
    parts = []
    for profile, group in rows.groupby("profile", sort=True):
        cut = int((group["longest wait"] > share * group["patience"]).sum())
        worst = group.loc[(group["longest wait"] / group["patience"]).idxmax()]
        parts.append(f"{profile}: cutting the patience to {share:g} of its value would have stopped {cut} of "
                     f"{len(group)} runs before their best dev point (longest wait {worst['longest wait']} of "
                     f"{worst['patience']} steps, {worst['task']} {worst['method']} seed {worst['seed']})")
    return "; ".join(parts)
