"""Statistics over seeds for the tables: mean, sample std and n per (task, variant) cell, from the full profile
where the cell has full records and from the page's profile otherwise (the cell keeps its ``profile``); where a
task mixes the two, its full cells also keep their page-profile row, so that every cell has a like-for-like
neighbour.
Differences between methods and their verdicts are paired statistics over sentences (`verdicts`)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd


def summary(frame: pd.DataFrame, by: Sequence[str] = ("task", "variant"), metrics: Sequence[str] = ("score", "roov")
            ) -> pd.DataFrame:
    """Mean, sample std, n and seeds per `by` cell and profile, long over `metrics` (metrics that are all
    missing are left out); a cell with full-profile records keeps only those, unless (with ``task`` in `by`)
    another cell of its task and metric has none: then it keeps both rows, full first."""
    keys = [*by, "profile"]
    parts = []
    for metric in metrics:
        if metric not in frame or frame[metric].isna().all():
            continue
        g = frame.dropna(subset=[metric]).groupby(keys, sort=False)
        part = g[metric].agg(mean="mean", std="std", n="count").reset_index()
        part["seeds"] = g["seed"].agg(lambda s: sorted(s.tolist())).values
        part.insert(len(keys), "metric", metric)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*keys, "metric", "mean", "std", "n", "seeds"])
    out = pd.concat(parts, ignore_index=True)
    is_full = out["profile"] == "full"
    has_full = is_full.groupby([out[k] for k in [*by, "metric"]], sort=False).transform("any")
    keep = ~has_full | is_full
    if "task" in by:
        cell_full = has_full.groupby([out["task"], out["metric"]], sort=False).transform("all")
        keep |= ~cell_full
    cell = out.groupby([*by, "metric"], sort=False).ngroup()
    out = out.assign(_cell=cell, _reduced=~is_full)[keep].sort_values(["_cell", "_reduced"], kind="stable")
    return out.drop(columns=["_cell", "_reduced"]).reset_index(drop=True)
