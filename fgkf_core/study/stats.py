"""Statistics over seeds: mean, sample std and n per group, and the difference of two variants with its seed
noise. Kept apart from the verdicts so that the estimator can be replaced without touching the claims."""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd


def summary(frame: pd.DataFrame, by: Sequence[str] = ("task", "variant"), metrics: Sequence[str] = ("score", "roov")
            ) -> pd.DataFrame:
    """Mean, sample std and n over seeds, long over `metrics` (metrics that are all missing are left out)."""
    parts = []
    for metric in metrics:
        if metric not in frame or frame[metric].isna().all():
            continue
        g = frame.dropna(subset=[metric]).groupby(list(by), sort=False)
        part = g[metric].agg(mean="mean", std="std", n="count").reset_index()
        part["seeds"] = g["seed"].agg(lambda s: sorted(s.tolist())).values if "seed" in frame else None
        part.insert(len(by), "metric", metric)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*by, "metric", "mean", "std", "n", "seeds"])
    return pd.concat(parts, ignore_index=True)


def effect(summ: pd.DataFrame, task: str, a: str, b: str, metric: str = "score") -> dict[str, float]:
    """Mean difference a − b, its seed noise sqrt(std_a² + std_b²) and the smaller n, from a `summary`."""
    def row(v: str) -> pd.Series | None:
        m = summ[(summ["task"] == task) & (summ["variant"] == v) & (summ["metric"] == metric)]
        return None if m.empty else m.iloc[0]

    ra, rb = row(a), row(b)
    if ra is None or rb is None:
        return {"diff": float("nan"), "noise": float("nan"), "n": 0, "a": float("nan"), "b": float("nan")}
    return {"diff": ra["mean"] - rb["mean"], "noise": seed_noise(ra, rb), "n": int(min(ra["n"], rb["n"])),
            "a": ra["mean"], "b": rb["mean"]}


def difference_noise(std_a: float, std_b: float) -> float:
    """Noise of a difference of two independent estimates: sqrt(std_a² + std_b²)."""
    return math.sqrt(std_a ** 2 + std_b ** 2)


def seed_noise(a: pd.Series, b: pd.Series) -> float:
    """`difference_noise` of two `summary` rows; NaN unless both have at least two seeds (no std otherwise)."""
    return difference_noise(a["std"], b["std"]) if a["n"] > 1 and b["n"] > 1 else float("nan")
