"""The bfloat16 capsule check: a run whose capsule layer runs in bfloat16 (`routing_dtype`) against its
float32 twin (same task, method, seed and every other setting), read against the spread between float32 seeds.

bfloat16 capsule matmuls (AMX/AVX512-BF16 on CPU) make the FGKF steps faster (`bench`'s bf16 columns); `full`
adopts them only where this check reads "within seed noise" for dev and test. A single seed cannot separate a
numeric effect from the chaos of training, so the twin difference is compared with what two float32 seeds
differ by.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist, stdev
from typing import Iterable

import pandas as pd

from ..config import KEY_NEUTRAL

#: float32 seeds needed before the noise band is trusted (the study's n >= 3 rule)
MIN_SEEDS = 3
RULE = ("within seed noise when |bf16 − fp32| of the same seed is at most 1.96 · √2 · σ for dev and for test, "
        f"σ the standard deviation of the float32 runs over at least {MIN_SEEDS} seeds (the 95% band of the "
        "difference between two float32 seeds)")
COLUMNS = ["task", "method", "seed", "dev fp32 → bf16", "Δ dev", "dev band", "test fp32 → bf16", "Δ test",
           "test band", "fp32 seeds", "wall fp32 / bf16 (as run)", "verdict"]


@dataclass(frozen=True)
class DtypeCheck:
    """One bfloat16 run, its float32 twin and the float32 seed spread."""

    task: str
    method: str
    seed: int
    dev: tuple[float, float]  # (float32, bfloat16) best dev score
    test: tuple[float, float]  # (float32, bfloat16) test score
    wall: tuple[float, float]  # (float32, bfloat16) wall seconds
    fp32_seeds: int
    band_dev: float  # 1.96 * sqrt(2) * sigma_dev (NaN below MIN_SEEDS seeds)
    band_test: float
    verdict: str


def _dtype(rec: dict) -> str:
    return rec["config"].get("routing_dtype", KEY_NEUTRAL["routing_dtype"])  # records from before the switch


def _twin_key(rec: dict) -> str:
    """Everything twins share: task, method, formulation, profile and the configuration but its routing dtype."""
    cfg = sorted((k, repr(v)) for k, v in rec["config"].items() if k != "routing_dtype")
    return repr((rec["task"], rec["method"], rec.get("formulation", "paper"), rec["profile"], cfg))


def dtype_checks(records: Iterable[dict]) -> list[DtypeCheck]:
    """A `DtypeCheck` for every bfloat16 record among `records` that has a float32 twin of the same seed."""
    records = list(records)
    fp32: dict[str, dict[int, dict]] = {}
    for rec in records:
        if _dtype(rec) == "float32":
            fp32.setdefault(_twin_key(rec), {})[rec["seed"]] = rec
    z = NormalDist().inv_cdf(0.975) * math.sqrt(2)
    out = []
    for rec in records:
        twins = fp32.get(_twin_key(rec), {}) if _dtype(rec) == "bfloat16" else {}
        twin = twins.get(rec["seed"])
        if twin is None:
            continue
        n = len(twins)
        dev, test = (twin["best_dev"], rec["best_dev"]), (twin["test"]["score"], rec["test"]["score"])
        if n >= MIN_SEEDS:
            band_dev = z * stdev(r["best_dev"] for r in twins.values())
            band_test = z * stdev(r["test"]["score"] for r in twins.values())
            inside = abs(dev[1] - dev[0]) <= band_dev and abs(test[1] - test[0]) <= band_test
            verdict = "within seed noise: adopt bfloat16" if inside else "outside seed noise: keep float32"
        else:
            band_dev = band_test = math.nan
            verdict = f"waiting for float32 seeds ({n} of {MIN_SEEDS})"
        wall = (float(twin.get("wall_seconds") or math.nan), float(rec.get("wall_seconds") or math.nan))
        out.append(DtypeCheck(rec["task"], rec["method"], rec["seed"], dev, test, wall, n, band_dev, band_test,
                              verdict))
    return out


def dtype_table(checks: list[DtypeCheck]) -> pd.DataFrame:
    """One row per check: both twins' scores, the differences beside their noise bands, the speed-up, verdict."""
    def band(x: float) -> str:
        return "—" if math.isnan(x) else f"±{x:.2f}"

    rows = [{"task": c.task, "method": c.method, "seed": c.seed,
             "dev fp32 → bf16": f"{c.dev[0]:.2f} → {c.dev[1]:.2f}", "Δ dev": f"{c.dev[1] - c.dev[0]:+.2f}",
             "dev band": band(c.band_dev), "test fp32 → bf16": f"{c.test[0]:.2f} → {c.test[1]:.2f}",
             "Δ test": f"{c.test[1] - c.test[0]:+.2f}", "test band": band(c.band_test), "fp32 seeds": c.fp32_seeds,
             "wall fp32 / bf16 (as run)": "—" if math.isnan(c.wall[0] / c.wall[1]) else f"{c.wall[0] / c.wall[1]:.2f}x",
             "verdict": c.verdict}
            for c in checks]
    return pd.DataFrame(rows, columns=COLUMNS)
